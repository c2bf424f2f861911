-- Drift: mergeable embedding window summaries, their bottom-k samples, references and every score row.
-- Owner: drift/ (docs/drift.md). Marts are views in drift/sql/, re-created by every drift run.

-- One row per (model, segment, window): count and exact sums of the L2-normalised embeddings. Sums add, so
-- hourly rows merge into daily ones (stg.embedding_window_daily) or any reference period.
CREATE TABLE stg.embedding_window (
    model         VARCHAR NOT NULL,
    segment       VARCHAR NOT NULL DEFAULT '',   -- '' when the input has no segment column
    window_start  TIMESTAMP NOT NULL,            -- UTC, half-open [start, end)
    window_end    TIMESTAMP NOT NULL,
    dim           INTEGER NOT NULL,
    n             BIGINT NOT NULL,               -- rows summed (after dropping bad rows)
    s1            DOUBLE[] NOT NULL,             -- Σ u, u = embedding / ‖embedding‖ (dim values)
    s2            DOUBLE[],                      -- Σ u uᵀ row-major (dim² values), when drift.second_moment
    sample_rows   INTEGER NOT NULL,              -- rows kept in stg.embedding_sample (≤ drift.sample_rows)
    dropped_nan   BIGINT NOT NULL DEFAULT 0,     -- rows with NaN/inf/zero-norm embeddings, skipped
    dropped_dim   BIGINT NOT NULL DEFAULT 0,     -- rows whose dimension differs from the model's, skipped
    loaded_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (model, segment, window_start)
);

-- Bottom-k uniform sample of each window's unit rows (the k smallest random keys): it merges across
-- windows like the sums do, and feeds the distribution tests and permutation p-values.
CREATE TABLE stg.embedding_sample (
    model         VARCHAR NOT NULL,
    segment       VARCHAR NOT NULL DEFAULT '',
    window_start  TIMESTAMP NOT NULL,
    sample_key    DOUBLE NOT NULL,               -- uniform [0, 1) key of the bottom-k sample
    embedding     FLOAT[] NOT NULL               -- unit vector
);

-- Named baselines (`neocost drift baseline save`): a fixed period frozen under a name.
CREATE TABLE model.drift_reference (
    name          VARCHAR NOT NULL,
    model         VARCHAR NOT NULL,
    segment       VARCHAR NOT NULL DEFAULT '',
    ref_start     TIMESTAMP NOT NULL,
    ref_end       TIMESTAMP NOT NULL,
    n             BIGINT NOT NULL,
    s1            DOUBLE[] NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (name, model, segment)
);

-- Every score: one row per (model, segment, window, method), with everything needed to explain a decision.
CREATE TABLE model.drift_score (
    model            VARCHAR NOT NULL,
    segment          VARCHAR NOT NULL DEFAULT '',
    window_start     TIMESTAMP NOT NULL,
    window_end       TIMESTAMP NOT NULL,
    method           VARCHAR NOT NULL,           -- cosine_shift | cosine_ks | mmd_rff
    is_primary       BOOLEAN NOT NULL,           -- the method that drives the alert (drift.method)
    n                BIGINT NOT NULL,            -- rows in the window
    n_ref            BIGINT,                     -- rows in the reference period
    statistic        DOUBLE,                     -- the method's raw statistic
    p_value          DOUBLE,                     -- NULL when insufficient_data
    p_method         VARCHAR NOT NULL,           -- permutation | permutation+gamma_tail | ks_2samp | none
    effect           DOUBLE,                     -- effect size compared with the floor
    floor            DOUBLE,                     -- floor_quantile of reference-vs-reference effects at this size
    floor_quantile   DOUBLE NOT NULL,
    alpha            DOUBLE NOT NULL,
    alpha_corrected  DOUBLE NOT NULL,            -- alpha / tests (Bonferroni)
    tests            INTEGER NOT NULL,           -- model/segment pairs tested in the run
    signal           BOOLEAN NOT NULL,           -- p < alpha_corrected AND effect > floor
    state            VARCHAR NOT NULL,           -- insufficient_data | no_drift | pending | drift
    streak           INTEGER NOT NULL,           -- consecutive signalling windows up to this one
    persistence      INTEGER NOT NULL,           -- windows needed (k)
    onset            TIMESTAMP,                  -- start of the current drift (state = drift)
    reference        VARCHAR NOT NULL,           -- e.g. trailing:24h, fixed:2026-11-18T00..2026-11-19T00, baseline:NAME
    details          JSON,                       -- raw cosine distance, Wasserstein, bandwidth, ...
    run_id           VARCHAR,
    scored_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (model, segment, window_start, method)
);

-- Schemas and bookkeeping. Applied once; never edited after merge.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS stg;
CREATE SCHEMA IF NOT EXISTS model;
CREATE SCHEMA IF NOT EXISTS mart;

CREATE TABLE IF NOT EXISTS meta.schema_version (
    name        VARCHAR PRIMARY KEY,          -- migration file stem, e.g. 0001_core
    applied_at  TIMESTAMP NOT NULL            -- UTC
);

-- Per-source, per-stream high-water mark: everything before it has been collected completely.
CREATE TABLE IF NOT EXISTS meta.watermark (
    source      VARCHAR NOT NULL,             -- prometheus | kubernetes | s3 | drift | costmodel
    stream      VARCHAR NOT NULL DEFAULT '',  -- e.g. a query family, a bucket, a model
    watermark   TIMESTAMP NOT NULL,           -- exclusive end of the last complete window (UTC)
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (source, stream)
);

-- One row per collection / job run, for summaries and the collector-stale alert.
CREATE TABLE IF NOT EXISTS meta.run (
    run_id        VARCHAR PRIMARY KEY,
    job           VARCHAR NOT NULL,           -- collect:prometheus, collect:s3, cost, drift, ...
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    window_start  TIMESTAMP,
    window_end    TIMESTAMP,
    status        VARCHAR NOT NULL,           -- ok | partial | failed
    rows_written  BIGINT NOT NULL DEFAULT 0,
    detail        JSON                        -- per-table counts, skipped parts and why
);

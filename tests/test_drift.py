"""Drift: mergeable summaries, statistics from sums, the job end to end, bad input, S3 input, the CLI."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_limits

from drift import domain, job, scores
from drift.summaries import WindowSummary, merge_all
from drift.synthetic import EmbeddingSpace
from neocost import warehouse
from neocost.cli import cli
from neocost.settings import S3Settings, Settings

T0 = datetime(2026, 11, 18)
SPACE = EmbeddingSpace(seed=5)


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    # the test machine is shared; BLAS threads spinning against each other make GEMMs 10x slower
    with threadpool_limits(1):
        yield


def _table(model: str, segment: str, start: datetime, x: np.ndarray, dim: int | None = None) -> pa.Table:
    n = len(x)
    ts = np.datetime64(start, "us") + np.sort(np.random.default_rng(n).integers(0, 3600 * 10**6, n)).astype(
        "timedelta64[us]")
    return pa.table({"ts": pa.array(ts, pa.timestamp("us", tz="UTC")), "model": [model] * n, "segment": [segment] * n,
                     "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()),
                                                                    dim or x.shape[1])})


def write_day(root: Path, model: str, *, hours: int = 12, rows: int = 300, onset: int | None = None,
              segments: tuple[str, ...] = ("chat", "search")) -> Path:
    parts = []
    for h in range(hours):
        for si, seg in enumerate(segments):
            share = 0.3 if onset is not None and h >= onset else 0.0
            parts.append(_table(model, seg, T0 + timedelta(hours=h),
                                SPACE.sample(rows, seed=1000 * h + si + zlib.crc32(model.encode()) % 997, new_topic_share=share)))
    (root / model).mkdir(parents=True, exist_ok=True)
    path = root / model / "2026-11-18.parquet"
    pq.write_table(pa.concat_tables(parts), path)
    return path


def settings(embeddings: Path | str, **drift: object) -> Settings:
    return Settings(drift={"embeddings": str(embeddings), "permutations": 199, "null_trials": 100,
                           "reference_period": "4h", **drift})


# ---- summaries -----------------------------------------------------------------------------------------------

def test_hourly_summaries_merge_exactly_into_a_day() -> None:
    hours = [SPACE.sample(200 + 10 * h, seed=h) for h in range(6)]
    sums = []
    for h, x in enumerate(hours):
        s = WindowSummary("m", "", T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1), 384, 100)
        s.add(x[:50])
        s.add(x[50:])  # chunked adds are the same as one add
        sums.append(s)
    day = merge_all(sums)
    allrows = np.concatenate(hours)
    assert day.n == len(allrows) == 1350
    np.testing.assert_allclose(day.s1, allrows.sum(axis=0, dtype=np.float64), rtol=1e-12, atol=1e-9)
    # the merged bottom-k sample is exactly the 100 smallest keys of the union
    keys = np.concatenate([s.keys for s in sums])
    np.testing.assert_array_equal(day.keys, np.sort(keys)[:100])
    assert (day.window_start, day.window_end) == (T0, T0 + timedelta(hours=6))


def test_daily_view_adds_hourly_rows(tmp_path: Path) -> None:
    write_day(tmp_path, "bge", hours=5, rows=120, segments=("a",))
    con = warehouse.connect(":memory:")
    s = settings(tmp_path)
    job.run(con, s.drift, s.s3)
    hourly = con.execute("SELECT n, s1 FROM stg.embedding_window ORDER BY window_start").fetchall()
    assert [r[0] for r in hourly] == [120] * 5
    n, s1 = con.execute("SELECT n, s1 FROM stg.embedding_window_daily").fetchone()
    assert n == 600
    np.testing.assert_allclose(s1, np.sum([r[1] for r in hourly], axis=0), rtol=1e-13)
    raw = pq.read_table(tmp_path / "bge" / "2026-11-18.parquet")["embedding"].combine_chunks()
    x = np.asarray(raw.flatten(), dtype=np.float64).reshape(-1, 384)
    np.testing.assert_allclose(s1, (x / np.linalg.norm(x, axis=1, keepdims=True)).sum(axis=0),
                               rtol=1e-6, atol=1e-5)  # float32 unit rows


# ---- statistics ----------------------------------------------------------------------------------------------

def test_centroid_shift_from_sums_matches_rows_and_ignores_the_cone() -> None:
    ref, cur = SPACE.sample(3000, seed=1), SPACE.sample(2000, seed=2, new_topic_share=0.1)
    r = scores.centroid_shift(len(ref), ref.sum(0, dtype=np.float64), len(cur), cur.sum(0, dtype=np.float64))
    # unbiased ‖ū − v̄‖² from pairwise cosines equals the direct estimate minus the self-pair terms
    u, v = ref.astype(np.float64), cur.astype(np.float64)
    direct = np.sum((u.mean(0) - v.mean(0)) ** 2) - (1 - np.sum(u.mean(0) ** 2)) / (len(u) - 1) \
        - (1 - np.sum(v.mean(0) ** 2)) / (len(v) - 1)
    assert r.statistic == pytest.approx(direct, rel=1e-6)
    assert r.details["within_cos_ref"] == pytest.approx(0.47, abs=0.05)   # the narrow cone
    assert r.details["raw_cosine_distance"] < 0.005                        # raw cosine barely moves...
    assert r.effect > 0.03                                                 # ...the centred shift does


def _permuted(a: np.ndarray, b: np.ndarray, permutations: int, seed: int) -> tuple[float, np.ndarray]:
    """The observed and permuted ‖mean difference‖² recomputed the slow way, from the shared selection rows."""
    pooled = np.concatenate([a, b]).astype(np.float64)
    sel = scores.selection_matrix(len(a), len(b), permutations, seed).astype(bool)
    diff = [pooled[s].mean(0) - pooled[~s].mean(0) for s in sel]
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2)), np.square(diff).sum(1)


def test_permutation_p_value_is_k_plus_one_over_b_plus_one() -> None:
    a, b = SPACE.sample(300, seed=3), SPACE.sample(300, seed=4)
    r = scores.permutation_tests([(a, b)], 99, seed=1, h=10**9)[0]   # sequential stopping off
    obs, perm = _permuted(a, b, 99, 1)
    k = int(np.count_nonzero(perm >= obs))
    assert r.statistic == pytest.approx(obs, rel=1e-4)
    assert r.p_method == "permutation" and r.p_value == (k + 1) / 100 and r.p_value >= 0.01


def test_unit_relabelings_are_the_permutation_test_of_unit_means() -> None:
    """From 1,000 rows per side the test relabels sums of u rows (u = 4 here): the same statistic over the rows in
    whole units, and exactly the permutation distribution of the unit means (slow way, shared selection rows)."""
    a, b = SPACE.sample(1003, seed=3), SPACE.sample(1000, seed=4, new_topic_share=0.05)
    assert scores.unit_rows(1003, 1000) == 4 and scores.unit_rows(1003, 1000, None) == 1
    r = scores.permutation_tests([(a, b)], 99, seed=1, h=10**9)[0]
    means = lambda x: x[: len(x) // 4 * 4].reshape(-1, 4, x.shape[1]).mean(1)  # noqa: E731  (the last 3 rows sit out)
    obs, perm = _permuted(means(a), means(b), 99, 1)
    assert r.unit_rows == 4 and r.statistic == pytest.approx(obs, rel=1e-4)
    assert obs == pytest.approx(np.sum((a[:1000].mean(0) - b.mean(0)) ** 2), rel=1e-5)  # = the row-level statistic
    k = int(np.count_nonzero(perm >= obs))
    assert r.p_method == "permutation" and r.p_value == (k + 1) / 100
    # single rows on request: a different (row-level) reference distribution of the same statistic
    rows = scores.permutation_tests([(a, b)], 99, seed=1, h=10**9, min_units=None)[0]
    assert rows.unit_rows == 1 and rows.statistic == pytest.approx(
        np.sum((a.mean(0) - b.mean(0)) ** 2), rel=1e-4)


def test_sequential_p_value_stops_at_the_h_th_exceedance() -> None:
    """Besag–Clifford: a null window stops early with p = h/L, L = position of the h-th exceedance."""
    a, b = SPACE.sample(300, seed=3), SPACE.sample(300, seed=4)
    r = scores.permutation_tests([(a, b)], 999, seed=1, h=10)[0]
    obs, perm = _permuted(a, b, 999, 1)
    hits = np.flatnonzero(perm >= obs * (1 - 1e-6))
    assert r.p_method == "permutation_sequential" and r.permutations < 999
    assert r.permutations == hits[9] + 1 and r.p_value == pytest.approx(10 / (hits[9] + 1))
    # a window far in the tail stops after ≥ 99 relabelings and reads its p from the gamma tail
    c = SPACE.sample(300, seed=5, new_topic_share=0.5)
    far = scores.permutation_tests([(c, b)], 999, seed=1, alpha=0.05)[0]
    assert far.p_method == "permutation+gamma_tail" and far.permutations == 99 and far.p_value < 0.005
    # statistics that share the relabelings get the same answers as when tested alone
    f = scores.fourier_map(a.shape[1], 1.0, 64)
    both = scores.permutation_tests([(a, b), (f(a), f(b))], 999, seed=1, h=10)
    assert both[0] == r and both[1] == scores.permutation_tests([(f(a), f(b))], 999, seed=1, h=10)[0]


def test_window_scored_on_two_threads_equals_the_serial_tests() -> None:
    """score_window computes half the random features and the MMD's relabelings on a helper thread: the same
    numbers as the features and the shared relabelings computed one after the other."""
    from drift.calibrate import fit_reference
    from drift.decision import Rule, score_window

    ref_rows, cur = SPACE.sample(1000, seed=8), SPACE.sample(1000, seed=9, new_topic_share=0.08)
    ref = fit_reference(ref_rows, len(ref_rows), ref_rows.sum(0, dtype=np.float64), test_rows=500, trials=20)
    rule = Rule()
    got = {m: r for m, r, _, _ in score_window(ref, len(cur), cur.sum(0, dtype=np.float64), cur, rule, seed=3)}
    side = ref.side(("cosine_shift", "mmd_rff"))
    fc = ref.fmap(cur)
    want = scores.permutation_tests_pooled([cur, fc], side, rule.permutations, seed=3, alpha=rule.alpha, h=10,
                                           min_tail=24)
    assert got["cosine_shift"].p_value == want[0].p_value and got["mmd_rff"].p_value == want[1].p_value
    assert got["cosine_shift"].details["permutations"] == want[0].permutations
    assert got["cosine_shift"].details["unit_rows"] == 4
    assert got["mmd_rff"].statistic == pytest.approx(
        scores.mmd2_unbiased_features(fc, ref.test_features), rel=1e-6)


def test_exact_mmd_refuses_quadratic_memory() -> None:
    a, b = SPACE.sample(3000, seed=5), SPACE.sample(3000, seed=6, new_topic_share=0.3)
    res = scores.mmd_exact(a, b, permutations=49, max_rows=400)
    assert res.details["rows_per_side"] == 400 and res.p_value == pytest.approx(1 / 50)


def test_ks_and_wasserstein_from_sorted_samples_equal_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    for n, m in [(200, 1000), (1000, 1000), (4096, 4096)]:
        a, b = rng.normal(size=n), rng.normal(0.05, 1.0, size=m)
        d, w1 = scores.ks_wasserstein(np.sort(a), np.sort(b))
        assert d == pytest.approx(stats.ks_2samp(b, a).statistic, abs=1e-12)
        assert w1 == pytest.approx(stats.wasserstein_distance(b, a), rel=1e-9)
        # Kolmogorov's limit is conservative: never below scipy's finite-n asymptotic p, within 3 % of the exact p
        p = scores.ks_pvalue(d, n, m)
        assert p >= stats.ks_2samp(b, a, method="asymp").pvalue
        assert p == pytest.approx(stats.ks_2samp(b, a, method="exact").pvalue, rel=0.03)


def test_domain_auc_agrees_with_a_logistic_regression() -> None:
    """The cross-fitted LDA AUC reads 0.5 under the null and matches a 2-fold scikit-learn logistic regression."""
    sk = pytest.importorskip("sklearn.linear_model")
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    ref = SPACE.sample(2000, seed=30)
    precision = domain.lda_precision(ref)
    nulls = [domain.domain_auc(SPACE.sample(1000, seed=40 + i), SPACE.sample(1000, seed=50 + i), precision, seed=i)
             for i in range(5)]
    assert abs(float(np.mean(nulls)) - 0.5) < 0.02 and max(abs(a - 0.5) for a in nulls) < 0.05
    cur, other = SPACE.sample(1000, seed=60, new_topic_share=0.3), SPACE.sample(1000, seed=61)
    auc = domain.domain_auc(cur, other, precision)
    x, y = np.concatenate([cur, other]), np.r_[np.ones(1000), np.zeros(1000)]
    lr = cross_val_predict(sk.LogisticRegression(max_iter=500), x, y, cv=2, method="predict_proba")[:, 1]
    assert auc > 0.6 and auc == pytest.approx(roc_auc_score(y, lr), abs=0.03)


# ---- the job -------------------------------------------------------------------------------------------------

def test_job_detects_the_injected_onset_and_not_the_stable_model(tmp_path: Path) -> None:
    write_day(tmp_path, "llama", onset=8)
    write_day(tmp_path, "bge")
    con = warehouse.connect(":memory:")
    s = settings(tmp_path)
    result = job.run(con, s.drift, s.s3)
    # 2 models × (2 segments + the pooled __all__ series): S = 6
    assert result.issues == [] and result.series == 6 and result.windows == 48
    status = {(r["model"], r["segment"]): r for r in job.status(con)}
    assert len(status) == 6
    for seg in ("chat", "search", "__all__"):
        assert status[("llama", seg)]["state"] == "drift"
        assert status[("llama", seg)]["onset"] == T0 + timedelta(hours=8)
        assert status[("bge", seg)]["state"] == "no_drift" and status[("bge", seg)]["onset"] is None
    rows = con.execute("SELECT p_value, effect, floor, alpha_corrected, state, tests FROM model.drift_score "
                       "WHERE model = 'llama' AND segment = 'chat' AND is_primary ORDER BY window_start").fetchall()
    assert len(rows) == 8 and all(r[3] == pytest.approx(0.05 / 6) and r[5] == 6 for r in rows)
    assert [r[4] for r in rows][3:6] == ["no_drift", "pending", "drift"]
    mart = con.execute("SELECT count(*), sum(drifted) FROM mart.embedding_drift").fetchone()
    assert mart == (48, 3 * 3)  # windows 9, 10, 11 of both llama segments and of llama's pooled series
    # the pooled series' windows hold every segment's rows (sums add exactly)
    pooled = con.execute("SELECT sum(n) FROM model.drift_score WHERE model = 'llama' AND segment = '__all__' "
                         "AND is_primary").fetchone()[0]
    parts = con.execute("SELECT sum(n) FROM model.drift_score WHERE model = 'llama' AND segment <> '__all__' "
                        "AND is_primary").fetchone()[0]
    assert pooled == parts > 0
    again = job.run(con, s.drift, s.s3)  # idempotent: same rows, same decisions
    assert again.windows == 48
    assert con.execute("SELECT count(*) FROM model.drift_score").fetchone()[0] == 48 * 3


def test_domain_auc_is_stored_when_enabled(tmp_path: Path) -> None:
    write_day(tmp_path, "llama", hours=8, onset=6, segments=("chat",))
    con = warehouse.connect(":memory:")
    s = settings(tmp_path, domain_auc=True)
    job.run(con, s.drift, s.s3)
    aucs = con.execute("SELECT window_start, domain_auc FROM mart.embedding_drift WHERE segment = 'chat' "
                       "ORDER BY window_start").fetchall()
    assert len(aucs) == 4 and all(a is not None for _, a in aucs)
    assert max(a for _, a in aucs[:2]) < 0.6 < min(a for _, a in aucs[2:])  # 30 % new topic from hour 6


def test_bad_input_is_reported_and_skipped(tmp_path: Path) -> None:
    write_day(tmp_path, "good", hours=6, segments=("a",))
    bad = [_table("bad", "a", T0 + timedelta(hours=h), SPACE.sample(300, seed=h)) for h in range(6)]
    nan = SPACE.sample(300, seed=99)
    nan[:7] = np.nan
    bad.append(_table("bad", "a", T0 + timedelta(hours=6), nan))
    bad.append(_table("bad", "a", T0 + timedelta(hours=7), SPACE.sample(20, seed=98)))  # tiny window
    (tmp_path / "bad").mkdir()
    pq.write_table(pa.concat_tables(bad), tmp_path / "bad" / "2026-11-18.parquet")
    wrong = np.random.default_rng(0).standard_normal((50, 768)).astype(np.float32)
    pq.write_table(_table("bad", "a", T0 + timedelta(hours=8), wrong), tmp_path / "bad" / "2026-11-19.parquet")
    (tmp_path / "bad" / "broken.parquet").write_bytes(b"not parquet")
    con = warehouse.connect(":memory:")
    s = settings(tmp_path)
    result = job.run(con, s.drift, s.s3)
    text = "\n".join(result.issues)
    assert "7 rows with NaN/inf" in text
    assert "768-dim embeddings but the model's are 384-dim" in text
    assert "broken.parquet: skipped" in text and "not a readable Parquet file" in text
    assert "20 rows < drift.min_rows = 50: insufficient data" in text
    states = dict(con.execute("SELECT window_start, state FROM mart.embedding_drift WHERE model = 'bad'").fetchall())
    assert states[T0 + timedelta(hours=6)] == "no_drift"            # NaN rows dropped, the rest scored
    assert states[T0 + timedelta(hours=7)] == "insufficient_data"   # never "no drift"
    n6 = con.execute("SELECT n, dropped_nan FROM stg.embedding_window WHERE model = 'bad' AND window_start = ?",
                     [T0 + timedelta(hours=6)]).fetchone()
    assert n6 == (293, 7)
    assert {r["model"] for r in job.status(con)} == {"bad", "good"}


def test_simulator_embeddings_drift_in_the_drifting_model_only(tmp_path: Path) -> None:
    emb = pytest.importorskip("neocost.simulate.embeddings")
    end = datetime(2026, 11, 20)
    truth = emb.write_embeddings(tmp_path, end=end, seed=1, hours=24, rows_per_hour=600)
    s = settings(tmp_path, methods=["cosine_shift"], reference_period="6h")
    con = warehouse.connect(":memory:")
    result = job.run_drift(s, con)
    assert result.issues == []
    drifting = {m.name for m in emb.MODELS if m.drifts}
    by_model: dict[str, list[dict]] = {}
    for r in result.status_json():
        by_model.setdefault(r["model"], []).append(r)
    for model, rows in by_model.items():
        states = {r["state"] for r in rows}
        if model in drifting:
            onset = datetime.fromisoformat(truth["models"][model]["onset"].rstrip("Z"))
            assert states == {"drift"}
            for r in rows:  # detected onset within one window of the truth
                assert abs(datetime.fromisoformat(r["onset"].rstrip("Z")) - onset) <= timedelta(hours=1)
        else:
            assert "drift" not in states


@pytest.mark.integration
def test_reads_parquet_from_s3(tmp_path: Path, s3_server: object) -> None:
    path = write_day(tmp_path, "llama", hours=6, segments=("a",))
    client = s3_server.client()  # type: ignore[attr-defined]
    client.create_bucket(Bucket="embeddings-test")
    client.upload_file(str(path), "embeddings-test", "emb/llama/2026-11-18.parquet")
    s = settings("s3://embeddings-test/emb/")
    s3 = S3Settings(endpoint_url=s3_server.endpoint_url)  # type: ignore[attr-defined]
    con = warehouse.connect(":memory:")
    result = job.run(con, s.drift, s3, client=client)
    assert result.issues == [] and result.rows == 6 * 300 and result.windows == 6
    assert con.execute("SELECT sum(n) FROM stg.embedding_window").fetchone()[0] == 1800


def test_cli_run_and_status(tmp_path: Path) -> None:
    write_day(tmp_path / "emb", "llama", onset=8, segments=("a",))
    wh = tmp_path / "wh.duckdb"
    env = {"NEOCOST_DRIFT__PERMUTATIONS": "199", "NEOCOST_DRIFT__REFERENCE_PERIOD": "4h"}
    runner = CliRunner()
    res = runner.invoke(cli, ["--warehouse", str(wh), "drift", "run", "--embeddings", str(tmp_path / "emb")], env=env)
    assert res.exit_code == 0, res.output
    assert "12 windows summarised" in res.output
    res = runner.invoke(cli, ["--warehouse", str(wh), "drift", "status", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    (row,) = orjson.loads(res.output)
    assert row["state"] == "drift" and row["onset"].startswith("2026-11-18T08:00") and row["p_value"] < 0.05
    res = runner.invoke(cli, ["--warehouse", str(wh), "drift", "status"], env=env)
    assert "drift" in res.output and "llama" in res.output

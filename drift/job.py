"""The drift job: ingest → fit references from stored summaries → score windows → ``model.drift_score`` → marts.

References are rebuilt from ``stg.embedding_window`` sums and ``stg.embedding_sample`` bottom-k samples alone
(never from raw embeddings):

- ``fixed``: ``drift.reference_start``..``reference_end``, else the first ``reference_period`` of each series;
- ``trailing``: the ``reference_period`` before the start of the period bucket holding the window (refit once
  per bucket, not per window);
- ``baseline``: a period saved under a name with :func:`save_baseline`.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import orjson

from drift.calibrate import Reference, fit_reference
from drift.decision import Rule, Score, apply_persistence, make_scores, score_window
from drift.ingest import POOLED, RunResult, ingest, load_sample, rule_from
from drift.summaries import window_seed
from neocost import warehouse
from neocost.errors import DriftInputError
from neocost.settings import DriftSettings, S3Settings, Settings, parse_duration
from neocost.timeutil import floor_time, rfc3339, utcnow


def ensure_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the drift views and marts (mart.embedding_drift, mart.drift_status)."""
    warehouse.apply_sql_dir(con, "drift")


def run(con: duckdb.DuckDBPyConnection, drift: DriftSettings, s3: S3Settings, *, model: str | None = None,
        start: datetime | None = None, end: datetime | None = None, client: Any = None) -> RunResult:
    """Ingest (when ``drift.embeddings`` is set), then score every series; returns counts and issues."""
    result = RunResult(run_id=uuid.uuid4().hex)
    started = utcnow()
    if drift.embeddings:
        ingest(con, drift, s3, model=model, start=start, end=end, client=client, result=result)
    score(con, drift, model=model, start=start, end=end, result=result)
    ensure_views(con)
    con.execute("INSERT INTO meta.run (run_id, job, started_at, finished_at, window_start, window_end, status, "
                "rows_written, detail) VALUES (?, 'drift', ?, ?, ?, ?, ?, ?, ?)",
                [result.run_id, started, utcnow(), start, end, "partial" if result.issues else "ok",
                 result.windows + result.scores, orjson.dumps({"issues": result.issues}).decode()])
    return result


def run_drift(settings: Settings, con: duckdb.DuckDBPyConnection) -> RunResult:
    """Run the drift job with full settings (what ``neocost demo`` calls); ``result.status`` is filled."""
    result = run(con, settings.drift, settings.s3)
    result.status = status(con)
    return result


def _series(con: duckdb.DuckDBPyConnection, model: str | None) -> list[tuple[str, str]]:
    """Every (model, segment), plus (model, ``__all__``) for a model with several segments: the pooled series is
    what the headline status needs, and it sees all of a model's rows per window (onsets found sooner)."""
    sql = "SELECT DISTINCT model, segment FROM stg.embedding_window"
    rows = con.execute(sql + (" WHERE model = ?" if model else "") + " ORDER BY 1, 2",
                       [model] if model else []).fetchall()
    out: list[tuple[str, str]] = []
    for i, (m, seg) in enumerate(rows):
        out.append((m, seg))
        last = i + 1 == len(rows) or rows[i + 1][0] != m
        if last and sum(r[0] == m for r in rows) > 1:
            out.append((m, POOLED))
    return out


def _windows(con: duckdb.DuckDBPyConnection, model: str, segment: str) -> list[tuple[Any, Any, int, np.ndarray]]:
    """(window_start, window_end, n, s1) in time order; the pooled series adds the segments' sums per window."""
    if segment != POOLED:
        rows = con.execute("SELECT window_start, window_end, n, s1 FROM stg.embedding_window WHERE model = ? AND "
                           "segment = ? ORDER BY window_start", [model, segment]).fetchall()
        return [(ws, we, int(n), np.asarray(s1)) for ws, we, n, s1 in rows]
    merged: dict[Any, tuple[Any, Any, int, np.ndarray]] = {}
    for ws, we, n, s1 in con.execute("SELECT window_start, window_end, n, s1 FROM stg.embedding_window "
                                     "WHERE model = ? ORDER BY window_start, segment", [model]).fetchall():
        prev = merged.get(ws)
        v = np.asarray(s1)
        merged[ws] = (ws, we, int(n), v) if prev is None else (ws, max(we, prev[1]), prev[2] + int(n), prev[3] + v)
    return list(merged.values())


def _period_sums(con: duckdb.DuckDBPyConnection, model: str, segment: str, start: datetime, end: datetime
                 ) -> tuple[int, np.ndarray | None]:
    pooled = segment == POOLED
    rows = con.execute("SELECT n, s1 FROM stg.embedding_window WHERE model = ? " + ("" if pooled else "AND segment = ? ")
                       + "AND window_start >= ? AND window_start < ?",
                       [model, start, end] if pooled else [model, segment, start, end]).fetchall()
    if not rows:
        return 0, None
    return int(sum(r[0] for r in rows)), np.sum([np.asarray(r[1]) for r in rows], axis=0)


def reference_period(con: duckdb.DuckDBPyConnection, drift: DriftSettings, model: str, segment: str,
                     window_start: datetime, first: datetime) -> tuple[datetime, datetime, str]:
    """[start, end) and a label of the reference used for a window."""
    period = timedelta(seconds=parse_duration(drift.reference_period))
    if drift.reference == "fixed":
        if drift.reference_start and drift.reference_end:
            s, e = drift.reference_start, drift.reference_end
        else:
            s, e = first, first + period
        return s, e, f"fixed:{rfc3339(s)}..{rfc3339(e)}"
    if drift.reference == "trailing":
        bucket = floor_time(window_start, int(period.total_seconds()))
        return bucket - period, bucket, f"trailing:{drift.reference_period}@{rfc3339(bucket)}"
    if not drift.baseline:
        raise DriftInputError("drift.reference = 'baseline' needs drift.baseline = NAME (saved with "
                              "`neocost drift baseline save NAME --start T --end T`)")
    row = con.execute("SELECT ref_start, ref_end FROM model.drift_reference WHERE name = ? AND model = ? "
                      "AND segment = ?", [drift.baseline, model, segment]).fetchone()
    if row is None:
        raise DriftInputError(f"baseline {drift.baseline!r} has no entry for model {model!r} segment {segment!r}; "
                              "save it with `neocost drift baseline save`")
    return row[0], row[1], f"baseline:{drift.baseline}"


def build_reference(con: duckdb.DuckDBPyConnection, drift: DriftSettings, model: str, segment: str,
                    start: datetime, end: datetime, label: str) -> Reference:
    n, s1 = _period_sums(con, model, segment, start, end)
    if n < drift.min_rows or s1 is None:
        raise DriftInputError(f"model {model!r} segment {segment!r}: reference {label} holds {n} rows, fewer than "
                              f"drift.min_rows = {drift.min_rows}; its windows are 'insufficient_data' (choose "
                              "another reference period)")
    sample, _ = load_sample(con, model, segment, start, end, limit=2 * drift.sample_rows)
    return fit_reference(sample, n, s1, test_rows=drift.sample_rows, trials=drift.null_trials,
                         seed=window_seed(model, segment, start), label=label)


def score(con: duckdb.DuckDBPyConnection, drift: DriftSettings, *, model: str | None = None,
          start: datetime | None = None, end: datetime | None = None, result: RunResult | None = None
          ) -> RunResult:
    """Score every window after its reference, for every (model, segment) and pooled (model, ``__all__``);
    S (Bonferroni) = the series with a window scored, pooled ones included."""
    result = result or RunResult(run_id=uuid.uuid4().hex)
    rule = rule_from(drift)
    pending: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    refs: dict[tuple[str, str, datetime, datetime], Reference | str] = {}
    for m, seg in _series(con, model):
        windows = _windows(con, m, seg)
        first = windows[0][0]
        for ws, we, n, s1 in windows:
            if (start and ws < start) or (end and ws >= end):
                continue
            try:
                rs, re_, label = reference_period(con, drift, m, seg, ws, first)
            except DriftInputError as exc:
                result.issues.append(str(exc))
                break
            if ws < re_:  # inside or before its own reference: not scored
                continue
            key = (m, seg, rs, re_)
            if key not in refs:
                try:
                    refs[key] = build_reference(con, drift, m, seg, rs, re_, label)
                except DriftInputError as exc:
                    refs[key] = label
                    result.issues.append(str(exc))
            pending.setdefault((m, seg), []).append((ws, we, n, np.asarray(s1), refs[key]))
    tests = len(pending)
    result.series = tests
    for (m, seg), items in pending.items():
        rows: list[Score] = []
        for ws, we, n, s1, ref in items:
            if isinstance(ref, str):  # reference unusable: every window is insufficient data
                res = [(meth, None, None, n) for meth in rule.methods]
                rows += make_scores(m, seg, ws, we, n, 0, ref, res, rule, tests)
                continue
            sample, _ = load_sample(con, m, seg, ws, we, limit=drift.sample_rows)
            if n < rule.min_rows:
                result.issues.append(f"model {m!r} segment {seg!r} window {rfc3339(ws)}: {n} rows < drift.min_rows "
                                     f"= {rule.min_rows}: insufficient data, not scored")
            if sample.shape[1:] and sample.shape[1] != ref.dim:
                result.issues.append(f"model {m!r} window {rfc3339(ws)}: dimension {sample.shape[1]} differs from "
                                     f"the reference's {ref.dim}; skipped")
                continue
            # relabelings drawn per reference, not per window: each window's p-value stays valid (they do not
            # depend on its data), and the reference half of the permuted sums is computed once per reference
            res = score_window(ref, n, s1, sample, rule, tests, seed=ref.seed)
            rows += make_scores(m, seg, ws, we, n, ref.n, ref.label, res, rule, tests)
        result.scores += _write_scores(con, drift, rule, m, seg, rows, result.run_id)
    return result


def _write_scores(con: duckdb.DuckDBPyConnection, drift: DriftSettings, rule: Rule, model: str, segment: str,
                  rows: list[Score], run_id: str) -> int:
    if not rows:
        return 0
    first = min(r.window_start for r in rows)
    out: list[dict[str, Any]] = []
    for method in rule.methods:
        prev = con.execute("SELECT streak, onset FROM model.drift_score WHERE model = ? AND segment = ? AND method = ?"
                           " AND window_start < ? ORDER BY window_start DESC LIMIT 1",
                           [model, segment, method, first]).fetchone()
        streak, onset = (prev[0], prev[1]) if prev else (0, None)
        for r in apply_persistence([r for r in rows if r.method == method], rule.persistence, streak, onset):
            d = asdict(r)
            d.update(is_primary=method == drift.method, floor_quantile=rule.floor_quantile,
                     tests=int(round(rule.alpha / r.alpha_corrected)), persistence=rule.persistence,
                     details=orjson.dumps(r.details).decode(), run_id=run_id, scored_at=utcnow())
            out.append(d)
    import pyarrow as pa

    table = pa.Table.from_pylist(out)
    last = max(r.window_start for r in rows)
    with warehouse.transaction(con):
        warehouse.replace_window(con, "model.drift_score", table, ts_column="window_start", start=first,
                                 end=last + timedelta(microseconds=1), where="model = ? AND segment = ?",
                                 params=[model, segment])
    return len(out)


def status(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Latest score per (model, segment) with p-value, decision and the onset of the current drift."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'mart' "
                         "AND table_name = 'drift_status'").fetchone()
    if not exists or not exists[0]:
        return []
    cur = con.execute("SELECT * FROM mart.drift_status ORDER BY model, segment")
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def save_baseline(con: duckdb.DuckDBPyConnection, name: str, start: datetime, end: datetime,
                  model: str | None = None) -> int:
    """Freeze [start, end) as the named baseline for every (model, segment) with data in it."""
    saved = 0
    with warehouse.transaction(con):
        for m, seg in _series(con, model):
            n, s1 = _period_sums(con, m, seg, start, end)
            if not n or s1 is None:
                continue
            con.execute("DELETE FROM model.drift_reference WHERE name = ? AND model = ? AND segment = ?", [name, m, seg])
            con.execute("INSERT INTO model.drift_reference VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [name, m, seg, start, end, n, s1.tolist(), utcnow()])
            saved += 1
    if not saved:
        raise DriftInputError(f"no embedding windows between {rfc3339(start)} and {rfc3339(end)}"
                              + (f" for model {model!r}" if model else "") + "; run `neocost drift run` first")
    return saved

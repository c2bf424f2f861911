"""Ingest: stream embedding Parquet into mergeable window summaries in DuckDB, and read them back.

Windows are flushed to ``stg.embedding_window`` / ``stg.embedding_sample`` when the file ends or too many are
open; a window met again later in the same run (late rows) is merged with what was written, so a re-run
replaces each window exactly once. Bad input for one model (wrong dimension, NaN rows, an unreadable file) is
reported in ``RunResult.issues`` and skipped; the other models go on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from drift import io
from drift.decision import Rule
from drift.summaries import WindowSummary
from neocost import warehouse
from neocost.errors import DriftInputError, NeocostError
from neocost.settings import DriftSettings, S3Settings, parse_duration
from neocost.timeutil import utcnow

MAX_OPEN_WINDOWS = 32


@dataclass
class RunResult:
    run_id: str
    windows: int = 0
    rows: int = 0
    scores: int = 0
    series: int = 0
    issues: list[str] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)

    def status_json(self) -> list[dict[str, Any]]:
        """The latest status per model/segment with times as RFC 3339 strings (for reports)."""
        return [{k: (v.isoformat() + "Z" if isinstance(v, datetime) else v) for k, v in r.items()}
                for r in self.status]


def rule_from(drift: DriftSettings) -> Rule:
    methods = tuple(dict.fromkeys([drift.method, *drift.methods]))
    return Rule(alpha=drift.alpha, persistence=drift.persistence, floor_quantile=drift.floor_quantile,
                min_rows=drift.min_rows, permutations=drift.permutations, methods=methods,
                domain_auc=drift.domain_auc)


# ---- ingest ---------------------------------------------------------------------------------------------------

class _Ingest:
    def __init__(self, con: duckdb.DuckDBPyConnection, drift: DriftSettings, result: RunResult) -> None:
        self.con, self.drift, self.result = con, drift, result
        self.window = parse_duration(drift.window)
        self.open: dict[tuple[str, str, datetime], WindowSummary] = {}
        self.touched: set[tuple[str, str, datetime]] = set()
        self.dims: dict[str, int] = {}
        self.reported: set[str] = set()

    def issue(self, text: str) -> None:
        if text not in self.reported:
            self.reported.add(text)
            self.result.issues.append(text)

    def add(self, b: io.Batch) -> None:
        keys = np.char.add(np.char.add(b.model.astype(str), "\x1f"), b.segment.astype(str))
        for key in np.unique(keys):
            model, segment = str(key).split("\x1f", 1)
            sel = keys == key
            try:
                rows = self._rows(b, sel, model)
            except DriftInputError as exc:
                self.issue(str(exc))
                continue
            if rows is None:
                continue
            emb, ts, dropped = rows
            self._accumulate(model, segment, emb, ts, dropped)

    def _rows(self, b: io.Batch, sel: np.ndarray, model: str
              ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None:
        """Unit rows, their times, and the times of dropped rows by reason (counted in their own windows)."""
        empty = np.empty(0, dtype=b.ts.dtype)
        dropped = {"nan": empty, "dim": empty}
        ts = b.ts[sel]
        if b.embedding is None:  # ragged lists: keep the model's dimension, drop the rest
            lengths = b.lengths[sel]  # type: ignore[index]
            want = self.dims.get(model) or int(np.bincount(lengths).argmax())
            ok = lengths == want
            dropped["dim"] = ts[~ok]
            rows = [r for r, keep in zip(np.asarray(b.ragged, dtype=object)[sel], ok, strict=True) if keep]
            emb = np.asarray(rows, dtype=np.float32).reshape(-1, want)
            ts = ts[ok]
            if len(dropped["dim"]):
                self.issue(f"model {model!r} ({b.source}): {len(dropped['dim'])} rows whose embedding length differs "
                           f"from {want} were skipped")
        else:
            emb = b.embedding[sel]
        want = self.dims.setdefault(model, emb.shape[1])
        if emb.shape[1] != want:
            raise DriftInputError(f"model {model!r}: {b.source} has {emb.shape[1]}-dim embeddings but the model's "
                                  f"are {want}-dim; those rows were skipped (write one embedding size per model, "
                                  "or give the new one its own model name)")
        norms = np.linalg.norm(emb, axis=1)
        good = np.isfinite(norms) & (norms > 0)
        if not good.all():
            dropped["nan"] = ts[~good]
            self.issue(f"model {model!r} ({b.source}): {int((~good).sum())} rows with NaN/inf or all-zero embeddings "
                       "were skipped")
            emb, ts, norms = emb[good], ts[good], norms[good]
        return (emb / norms[:, None]).astype(np.float32, copy=False), ts, dropped

    def _starts(self, ts: np.ndarray) -> np.ndarray:
        return ts.astype("datetime64[s]").astype(np.int64) // self.window * self.window

    def _accumulate(self, model: str, segment: str, emb: np.ndarray, ts: np.ndarray,
                    dropped: dict[str, np.ndarray]) -> None:
        starts = self._starts(ts)
        bad = {k: self._starts(v) for k, v in dropped.items()}
        for w in np.unique(np.concatenate([starts, *bad.values()])):
            start = datetime(1970, 1, 1) + timedelta(seconds=int(w))
            key = (model, segment, start)
            summary = self.open.get(key)
            if summary is None:
                summary = self.open[key] = WindowSummary(model, segment, start, start + timedelta(seconds=self.window),
                                                         emb.shape[1], self.drift.sample_rows)
            summary.add(emb[starts == w], second_moment=self.drift.second_moment)
            for k, v in bad.items():
                summary.dropped[k] = summary.dropped.get(k, 0) + int(np.count_nonzero(v == w))
        if len(self.open) > MAX_OPEN_WINDOWS:
            oldest = sorted(self.open, key=lambda k: k[2])[: MAX_OPEN_WINDOWS // 2]
            self.flush(oldest)

    def flush(self, keys: list[tuple[str, str, datetime]] | None = None) -> None:
        keys = list(self.open) if keys is None else keys
        with warehouse.transaction(self.con):
            for key in keys:
                summary = self.open.pop(key)
                if key in self.touched:  # seen earlier in this run (late rows): merge with what was written
                    summary = load_window(self.con, *key).merge(summary)
                write_window(self.con, summary)
                self.touched.add(key)


def ingest(con: duckdb.DuckDBPyConnection, drift: DriftSettings, s3: S3Settings, *, model: str | None = None,
           start: datetime | None = None, end: datetime | None = None, client: Any = None,
           result: RunResult | None = None) -> RunResult:
    """Stream every Parquet file of ``drift.embeddings`` into window summaries (idempotent per window)."""
    result = result or RunResult(run_id=uuid.uuid4().hex)
    if not drift.embeddings:
        raise DriftInputError("drift.embeddings is not set; point it at a directory, a glob or s3://bucket/prefix "
                              "of embedding Parquet files (NEOCOST_DRIFT__EMBEDDINGS)")
    if drift.embeddings.startswith("s3://") and client is None:
        client = io.s3_client(s3)
    state = _Ingest(con, drift, result)
    for source in io.list_sources(drift.embeddings, s3, client):
        try:
            for batch in io.read_batches(source, client=client, model=model, start=start, end=end):
                result.rows += len(batch.ts)
                state.add(batch)
        except NeocostError as exc:
            state.issue(f"{source.uri}: skipped ({exc})")
    state.flush()
    result.windows = len(state.touched)
    return result


def write_window(con: duckdb.DuckDBPyConnection, s: WindowSummary) -> None:
    key = [s.model, s.segment, s.window_start]
    con.execute("DELETE FROM stg.embedding_window WHERE model = ? AND segment = ? AND window_start = ?", key)
    con.execute("DELETE FROM stg.embedding_sample WHERE model = ? AND segment = ? AND window_start = ?", key)
    con.execute("INSERT INTO stg.embedding_window (model, segment, window_start, window_end, dim, n, s1, s2, "
                "sample_rows, dropped_nan, dropped_dim, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, s.window_end, s.dim, s.n, s.s1.tolist(), None if s.s2 is None else s.s2.ravel().tolist(),
                 len(s.sample), s.dropped.get("nan", 0), s.dropped.get("dim", 0), utcnow()])
    if len(s.sample):
        k = len(s.sample)
        table = pa.table({
            "model": pa.array([s.model] * k), "segment": pa.array([s.segment] * k),
            "window_start": pa.array([s.window_start] * k, pa.timestamp("us")),
            "sample_key": pa.array(s.keys),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(s.sample.ravel()), s.dim).cast(
                pa.list_(pa.float32()))})
        warehouse.replace_window(con, "stg.embedding_sample", table)


def load_window(con: duckdb.DuckDBPyConnection, model: str, segment: str, start: datetime) -> WindowSummary:
    row = con.execute("SELECT window_end, dim, n, s1, s2, sample_rows FROM stg.embedding_window "
                      "WHERE model = ? AND segment = ? AND window_start = ?", [model, segment, start]).fetchone()
    if row is None:
        raise DriftInputError(f"no stored window {model}/{segment}/{start}")
    end, dim, n, s1, s2, k = row
    sample, keys = load_sample(con, model, segment, start, end, limit=None)
    return WindowSummary(model, segment, start, end, dim, max(k, 1), n, np.asarray(s1),
                         None if s2 is None else np.asarray(s2).reshape(dim, dim), sample, keys)


# The model-level series: every segment of a model pooled (sums add, bottom-k samples merge).
POOLED = "__all__"


def load_sample(con: duckdb.DuckDBPyConnection, model: str, segment: str, start: datetime, end: datetime,
                limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The bottom-``limit`` rows (smallest keys) of the samples of the windows in ``[start, end)``: a uniform
    sample of the whole period, because each window kept its own smallest keys."""
    pooled = segment == POOLED  # all segments: the k smallest keys of the union are a uniform pooled sample
    sql = ("SELECT sample_key, embedding FROM stg.embedding_sample WHERE model = ? "
           + ("" if pooled else "AND segment = ? ") + "AND window_start >= ? AND window_start < ? ORDER BY sample_key")
    args: list[Any] = [model, start, end] if pooled else [model, segment, start, end]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    t = con.sql(sql, params=args).to_arrow_table()
    if t.num_rows == 0:
        return np.empty((0, 0), np.float32), np.empty(0)
    emb = t["embedding"].combine_chunks()
    flat = np.asarray(emb.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    return flat.reshape(t.num_rows, -1), t["sample_key"].to_numpy()

"""A columnar decoder for Prometheus ``query_range`` matrix bodies: no Python object per sample.

orjson turns every point ``[1795046115.999, "0.5"]`` into a list, a float and a str (three objects), and the
normaliser then walks them again; at millions of points per query that is most of the client's CPU. Prometheus
(and Thanos, Mimir) write a matrix as

    {"status":"success","data":{"resultType":"matrix","result":[{"metric":{...},"values":[[t,"v"],...]},...]}...

so per series only the small ``metric`` object is handed to orjson; the ``values`` arrays of all series are cut
out as bytes, turned into one ``t,"v"`` CSV line per point and parsed by polars' multi-threaded CSV reader (it
reads ``NaN``, ``+Inf`` and ``-Inf`` as Prometheus writes them). The cursor walks the body strictly from one
series to the next: anything else (another key order, whitespace, native histograms, an error body) returns
``None`` and the caller falls back to orjson, so the result is always the same as the orjson path's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import polars as pl

_PREFIX = b'{"status":"success","data":{"resultType":"matrix","result":['
_METRIC = b'{"metric":'
# A raw '"' only ever delimits a JSON string, so this cannot occur inside a label name or value.
_VALUES = b'},"values":[['


@dataclass
class Matrix:
    """The decoded result: per series its labels and point count; per point (series order) ``t`` and ``v``."""

    metrics: list[dict[str, str]]
    lens: np.ndarray   # int64, points per series
    t_ms: np.ndarray   # int64, evaluation time in ms
    v: np.ndarray      # float64

    @classmethod
    def from_result(cls, result: Sequence[dict[str, Any]]) -> Matrix:
        """The same columns from an orjson-decoded ``result`` list (the fallback path)."""
        metrics = [r["metric"] for r in result]
        lens = np.fromiter((len(r["values"]) for r in result), dtype=np.int64, count=len(result))
        pts = [p for r in result for p in r["values"]]
        t = np.fromiter((p[0] for p in pts), dtype=np.float64, count=len(pts))
        v = pa.array([p[1] for p in pts], type=pa.string()).cast(pa.float64()).to_numpy(zero_copy_only=False)
        return cls(metrics, lens, np.round(t * 1000).astype(np.int64), v)


def parse(body: bytes) -> Matrix | None:
    """Decode a matrix body, or ``None`` when it is not in the exact layout above (use orjson then)."""
    if not body.startswith(_PREFIX):
        return None
    pos = len(_PREFIX)
    if body.startswith(b"]}", pos):
        return Matrix([], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    metrics: list[dict[str, str]] = []
    segments: list[bytes] = []
    lens: list[int] = []
    loads, find = orjson.loads, body.find
    try:
        while True:
            if not body.startswith(_METRIC, pos):
                return None
            mid = find(_VALUES, pos)
            if mid < 0:
                return None
            metric = loads(body[pos + len(_METRIC):mid + 1])
            start = mid + len(_VALUES)           # just after the first point's "["
            end = find(b"]]}", start)
            if end < 0 or not isinstance(metric, dict):
                return None
            seg = body[start:end]                # t,"v"],[t,"v"],...,[t,"v"
            metrics.append(metric)
            segments.append(seg)
            lens.append(seg.count(b"],[") + 1)
            pos = end + 3
            if body.startswith(b",", pos):
                pos += 1
            elif body.startswith(b"]}", pos):
                break
            else:
                return None
    except orjson.JSONDecodeError:
        return None
    # one `t,"v"` CSV line per point (the only brackets left in the values are the points' own)
    text = b"\n".join(segments).replace(b"],[", b"\n")
    del segments
    try:
        table = pl.read_csv(text, has_header=False, new_columns=["t", "v"], null_values=[], quote_char='"',
                            schema_overrides={"t": pl.Float64, "v": pl.Float64})
    except pl.exceptions.PolarsError:
        return None
    if table.height != int(sum(lens)) or table.width != 2:
        return None
    t = table["t"].to_numpy()
    return Matrix(metrics, np.asarray(lens, dtype=np.int64), np.round(t * 1000).astype(np.int64),
                  table["v"].to_numpy())

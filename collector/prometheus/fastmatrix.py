"""A columnar decoder for Prometheus ``query_range`` matrix bodies: no Python object per sample or per series.

orjson turns every point ``[1795046115.999, "0.5"]`` into a list, a float and a str (three objects), and the
normaliser then walks them again; at millions of points per query that is most of the client's CPU, and all of
it holds the GIL, which serialises the fetch workers. Prometheus (and Thanos, Mimir) write a matrix as

    {"status":"success","data":{"resultType":"matrix","result":[{"metric":{...},"values":[[t,"v"],...]},...]}...

so one ``bytes.replace`` puts every series on its own line, and polars does the rest natively and in parallel:
each line splits at ``,"values":[[`` into the ``metric`` object (decoded with ``str.json_decode`` into one
column per label, or ``read_ndjson`` when the labels are not known in advance) and the points, which split at
``],[`` and are cast to floats (``NaN``, ``+Inf``, ``-Inf`` as Prometheus writes them). The delimiters contain
a raw ``"``, which inside a JSON string is always escaped, so label values cannot fake them. Anything else
(another key order, whitespace, native histograms, an error body) returns ``None`` and the caller falls back
to orjson, so the result is always the same as the orjson path's (tested with hypothesis).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

_PREFIX = b'{"status":"success","data":{"resultType":"matrix","result":['
_METRIC = b'{"metric":'
_NEXT = b']]},{"metric":'          # one series' end and the next one's start
_LAST = b']]}]'                     # the last series' end and the result array's
_UNUSED = "\x1f"                    # a raw control character never occurs in JSON: one field per line


@dataclass
class Matrix:
    """The decoded result: per series its labels (one String column per label, null when absent) and point
    count; per point (series order) ``t`` and ``v``."""

    labels: pl.DataFrame
    lens: np.ndarray   # int64, points per series
    t_ms: np.ndarray   # int64, evaluation time in ms
    v: np.ndarray      # float64
    texts: pl.Series | None = None  # per series its ``metric`` object as sent (``parse(decode=False)``)

    @classmethod
    def empty(cls, fields: Sequence[str] = ()) -> Matrix:
        return cls(pl.DataFrame(schema={f: pl.String for f in fields}), np.empty(0, np.int64),
                   np.empty(0, np.int64), np.empty(0, np.float64))

    @classmethod
    def from_result(cls, result: Sequence[dict[str, Any]]) -> Matrix:
        """The same columns from an orjson-decoded ``result`` list (the fallback path)."""
        metrics = [r["metric"] for r in result]
        keys = sorted({k for m in metrics for k in m})
        labels = pl.DataFrame([pl.Series(k, [None if (v := m.get(k)) is None else str(v) for m in metrics],
                                         dtype=pl.String) for k in keys])
        lens = np.fromiter((len(r["values"]) for r in result), dtype=np.int64, count=len(result))
        pts = [p for r in result for p in r["values"]]
        t = np.fromiter((p[0] for p in pts), dtype=np.float64, count=len(pts))
        v = pl.Series([p[1] for p in pts], dtype=pl.String).cast(pl.Float64).to_numpy()
        return cls(labels, lens, np.round(t * 1000).astype(np.int64), v)

    @property
    def metrics(self) -> list[dict[str, str]]:
        """Per series its labels as a dict, absent ones left out (the orjson shape; for tests and small results)."""
        if not self.labels.width:
            return [{} for _ in range(len(self.lens))]
        return [{k: v for k, v in row.items() if v is not None} for row in self.labels.iter_rows(named=True)]


def parse(body: bytes, fields: Sequence[str] | None = None, *, decode: bool = True) -> Matrix | None:
    """Decode a matrix body, or ``None`` when it is not in the exact layout above (use orjson then).

    ``fields``: the label names to keep (one column each, null where a series lacks it); ``None`` keeps every
    label any series has. ``decode=False``: no label columns; ``texts`` holds each series' ``metric`` object
    for the caller to decode (:func:`decode_labels`), e.g. only the ones it has not seen before."""
    if not body.startswith(_PREFIX):
        return None
    start = len(_PREFIX)
    if body.startswith(b"]}", start):
        return Matrix.empty(fields or ())
    end = body.rfind(_LAST)
    if end < start or not body.startswith(_METRIC, start) or not body.startswith(b"]}", end + len(_LAST) - 1):
        return None
    # the whole body, not a slice of it: no third copy of it while decoding (the first line keeps the prefix
    # before its {"metric":, the last line the end of the body after its ]]})
    lines = body.replace(_NEXT, b']]}\n{"metric":')
    last = pl.int_range(pl.len()) == pl.len() - 1
    try:
        rows = (pl.read_csv(lines, has_header=False, separator=_UNUSED, quote_char=None, schema={"s": pl.String})
                .lazy()
                .select(pl.col("s").str.split_exact(',"values":[[', 1).struct.rename_fields(["m", "p"]))
                .unnest("s")
                .select(pl.col("m").str.slice(len(_METRIC)).str.slice(pl.when(pl.int_range(pl.len()) == 0)
                                                                      .then(start).otherwise(0)),
                        pl.when(last).then(pl.col("p").str.strip_suffix(body[end:].decode()))
                        .otherwise(pl.col("p").str.strip_suffix("]]}")).str.split("],["))
                .collect())
        del lines
        # every line starts with {"metric": (the first is checked above, the others by construction)
        if rows["p"].null_count():
            return None
        labels = decode_labels(rows["m"], fields) if decode else pl.DataFrame()
        lens = rows["p"].list.len().cast(pl.Int64).to_numpy()
        points = (rows.lazy().select(pl.col("p").explode().str.split_exact(',"', 1).struct.rename_fields(["t", "v"]))
                  .unnest("p")
                  .select(pl.col("t").cast(pl.Float64), pl.col("v").str.strip_suffix('"').cast(pl.Float64))
                  .collect())
    except pl.exceptions.PolarsError:
        return None
    if labels.height not in (0, len(lens)) or points.height != int(lens.sum()) or points["v"].null_count():
        return None
    t = points["t"].to_numpy()
    return Matrix(labels, lens, np.round(t * 1000).astype(np.int64), points["v"].to_numpy(),
                  None if decode else rows["m"])


def decode_labels(texts: pl.Series, fields: Sequence[str] | None = None) -> pl.DataFrame:
    """One String column per label of the ``metric`` objects ``texts`` (see :func:`parse` for ``fields``)."""
    if fields is None:
        labels = pl.read_ndjson(io.BytesIO(texts.str.join("\n").item().encode()), infer_schema_length=None)
        return labels.select(pl.all().cast(pl.String)) if labels.width else labels
    schema = pl.Struct([pl.Field(f, pl.String) for f in dict.fromkeys(fields)])
    return texts.to_frame("m").select(pl.col("m").str.json_decode(schema)).unnest("m")

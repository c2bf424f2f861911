"""Series-level rows: a query's rows as labels once per series plus narrow ``(sid, ts, v)`` points, and the
(key, interval) grid the table builders aggregate and join them on.

Why: the builders group every query's rows per (interval, key labels) and join queries on those keys. With the
label columns repeated on every point, polars row-encodes and hashes several strings per point, and that was
most of the collector's CPU. Here a query's labels stay one row per *series* (a 4 h batch has ~24 points per
series), the key labels are reduced once per series to a dense integer ``kid``, and every point lands in a
**cell** ``(kid, interval)`` of a :class:`Grid` by integer arithmetic. Aggregating is a scatter into arrays of
cells (``numpy.bincount``, ``maximum.at``), and joining queries is aligning those arrays: no hashing per point.
Label strings are gathered only for the output rows.

A key's cells span only the intervals between its first and last point, so the grid's size follows the data
(pods that live a few minutes do not cost a whole batch of cells each).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

Agg = Literal["sum", "mean", "max"]


@dataclass
class Part:
    """One query's rows: ``labels`` one row per series (String label columns, '' when absent); ``points``
    ``sid`` (UInt32, row of ``labels``), ``ts`` (Int64, interval start in ms), ``v`` (Float64)."""

    labels: pl.DataFrame
    points: pl.DataFrame

    @classmethod
    def empty(cls, labels: Sequence[str] = ()) -> Part:
        return cls(pl.DataFrame(schema={lab: pl.String for lab in labels}), _points_schema())

    @property
    def series(self) -> int:
        """Number of series (``labels`` may have no columns at all when the query keeps no label)."""
        if self.labels.width:
            return self.labels.height
        return int(self.points["sid"].max()) + 1 if self.points.height else 0  # type: ignore[operator]

    @classmethod
    def concat(cls, parts: Sequence[Part]) -> Part:
        """Several parts as one (one query's shards, or queries tagged apart): their series stay distinct."""
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0] + [p.series for p in parts[:-1]])
        labels = pl.concat([p.labels for p in parts], how="diagonal_relaxed").with_columns(pl.all().fill_null(""))
        points = pl.concat([p.points.with_columns(pl.col("sid") + int(o)) for p, o in zip(parts, offsets)])
        return cls(labels, points)

    @classmethod
    def from_rows(cls, rows: pl.DataFrame) -> Part:
        """A part from per-row frames (label columns, ``ts``, ``v``): one series per distinct label set."""
        cols = [c for c in rows.columns if c not in ("ts", "v", "t", "sid")]
        rows = rows.with_columns(pl.col(cols).cast(pl.String).fill_null(""))
        labels = rows.select(cols).unique(maintain_order=True)
        sid = (rows.select(cols).join(labels.with_row_index("sid"), on=cols, how="left", maintain_order="left")
               ["sid"] if cols else pl.Series("sid", [0] * rows.height))
        return cls(labels, pl.DataFrame([sid.cast(pl.UInt32).alias("sid"), rows["ts"].cast(pl.Int64),
                                         rows["v"].cast(pl.Float64)]))

    def rows(self) -> pl.DataFrame:
        """Per point: the label columns, ``ts`` and ``v`` (for small parts and tests)."""
        return pl.DataFrame([*self.labels[self.points["sid"]].get_columns(), self.points["ts"], self.points["v"]]) \
            if self.labels.width else self.points.select("ts", "v")

    def with_labels(self, *exprs: pl.Expr, **named: pl.Expr) -> Part:
        """Derive label columns per series (cheap: one row per series, not per point)."""
        return Part(self.labels.with_columns(*exprs, **named), self.points)


def _points_schema() -> pl.DataFrame:
    return pl.DataFrame(schema={"sid": pl.UInt32, "ts": pl.Int64, "v": pl.Float64})


def part_of(parts: Mapping[str, Part], name: str) -> Part:
    """The part of query ``name``, or an empty one (a query with no series this batch)."""
    return parts.get(name) or Part.empty()


def as_timestamps(df: pl.DataFrame) -> pl.DataFrame:
    """``ts`` from ms since the epoch to the raw tables' timestamp."""
    return df.with_columns(pl.from_epoch(pl.col("ts"), time_unit="ms").cast(pl.Datetime("us")))


def label_columns(labels: pl.DataFrame, cols: Sequence[str], height: int) -> pl.DataFrame:
    """``labels`` with every column of ``cols`` ('' for those it lacks: a query without series has none)."""
    missing = [c for c in cols if c not in labels.columns]
    if missing:
        labels = labels.with_columns(pl.lit("", dtype=pl.String).alias(c) for c in missing) if labels.width \
            else pl.DataFrame({c: pl.Series(c, [""] * height, dtype=pl.String) for c in missing})
    return labels.select(cols)


class Grid:
    """The cells ``(key, interval)`` of some named parts.

    ``key``: the label columns of a cell; ``keep``: which series count (an expression on the key labels, e.g.
    ``pod != ''``; a series whose key is not kept has no cell). Parts named in ``on`` carry only a subset of
    the key (``running`` per container against requests per container and resource): each of their series
    feeds every existing key with the same values in that subset, and they add no keys of their own. Every
    ``ts`` must lie on ``step_ms`` (the resolution).
    """

    def __init__(self, parts: Mapping[str, Part], key: Sequence[str], step_ms: int, *,
                 keep: pl.Expr | None = None, on: Mapping[str, Sequence[str]] | None = None) -> None:
        self.parts = dict(parts)
        self.key = list(key)
        self.step = step_ms
        on = dict(on or {})
        full = [n for n in self.parts if n not in on]
        labels = {n: label_columns(self.parts[n].labels, self.key, self.parts[n].series) for n in full}
        allk = pl.concat([labels[n] if keep is None else labels[n].filter(keep) for n in full]) if full \
            else pl.DataFrame(schema={k: pl.String for k in self.key})
        self.keys = allk.unique(maintain_order=True)
        indexed = self.keys.with_row_index("_kid")
        nk = self.keys.height
        # per part: (kid, ts, point index) of every point that counts
        spots: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for n in full:
            kid_of_sid = (labels[n].join(indexed, on=self.key, how="left", maintain_order="left")["_kid"]
                          .fill_null(-1).cast(pl.Int64).to_numpy())
            points = self.parts[n].points
            kid = kid_of_sid[points["sid"].to_numpy()]
            idx = np.flatnonzero(kid >= 0)
            spots[n] = (kid[idx], points["ts"].to_numpy()[idx], idx)
        for n, sub in on.items():
            spots[n] = self._spot_sub(n, list(sub), indexed)
        self.t0 = min((int(ts.min()) for _, ts, _ in spots.values() if len(ts)), default=0)
        for n, (kid, ts, idx) in spots.items():
            rel = ts - self.t0
            if len(rel) and (rel % step_ms).any():
                raise ValueError(f"{n}: timestamps off the {step_ms} ms grid")
            spots[n] = (kid, rel // step_ms, idx)
        # each key's cells span its first..last interval over all parts
        lo = np.full(nk, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(nk, -1, dtype=np.int64)
        for kid, ti, _ in spots.values():
            np.minimum.at(lo, kid, ti)
            np.maximum.at(hi, kid, ti)
        span = np.where(hi >= 0, hi - np.minimum(lo, hi) + 1, 0)
        first = np.cumsum(span) - span
        self.size = int(span.sum())
        self.kid = np.repeat(np.arange(nk, dtype=np.int64), span)
        self.ti = np.arange(self.size, dtype=np.int64) - np.repeat(first - np.where(hi >= 0, lo, 0), span)
        # per part: the cell of each counted point, and which point it is
        self.cells = {n: (first[kid] + ti - lo[kid], idx) for n, (kid, ti, idx) in spots.items()}

    def _spot_sub(self, name: str, sub: list[str], indexed: pl.DataFrame
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kid, ts, point index) of a part keyed on ``sub`` only: each point repeated for every key it matches."""
        part = self.parts[name]
        lab = label_columns(part.labels, sub, part.series).with_row_index("_sid")
        pairs = (lab.join(indexed.select("_kid", *sub), on=sub, how="inner").sort("_sid", "_kid")
                 .select(pl.col("_sid").cast(pl.Int64), pl.col("_kid").cast(pl.Int64)))
        p_sid, p_kid = pairs["_sid"].to_numpy(), pairs["_kid"].to_numpy()
        count = np.bincount(p_sid, minlength=part.series) if len(p_sid) else np.zeros(part.series, np.int64)
        start = np.cumsum(count) - count
        sid = part.points["sid"].to_numpy().astype(np.int64)
        rep = count[sid]
        idx = np.repeat(np.arange(len(sid), dtype=np.int64), rep)
        nth = np.arange(len(idx), dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep)
        return p_kid[start[sid[idx]] + nth], part.points["ts"].to_numpy()[idx], idx

    # --- per-cell columns --------------------------------------------------------------------------------------

    def present(self, name: str) -> np.ndarray:
        """Cells where ``name`` has at least one point."""
        return np.bincount(self.cells[name][0], minlength=self.size) > 0

    def values(self, name: str, agg: Agg) -> pl.Series:
        """Per cell the points of ``name`` aggregated (null where it has none)."""
        cell, idx = self.cells[name]
        v = self.parts[name].points["v"].to_numpy()[idx]
        count = np.bincount(cell, minlength=self.size)
        if agg == "max":
            out = np.full(self.size, -np.inf)
            np.maximum.at(out, cell, v)
        else:
            out = np.bincount(cell, weights=v, minlength=self.size)
            if agg == "mean":
                out = out / np.maximum(count, 1)
        return pl.Series(out).set(pl.Series(count == 0), None) if (count == 0).any() else pl.Series(out)

    def pick(self, name: str, label: str) -> np.ndarray:
        """Per cell the series of ``name`` with the greatest ``label`` (ties: any one of them), -1 where none."""
        cell, idx = self.cells[name]
        part = self.parts[name]
        col = label_columns(part.labels, [label], part.series)[label]
        rank = col.rank("ordinal").cast(pl.Int64).to_numpy()  # 1..n, distinct
        best = np.zeros(self.size, dtype=np.int64)
        np.maximum.at(best, cell, rank[part.points["sid"].to_numpy()[idx]])
        sid_of_rank = np.concatenate([[-1], np.argsort(rank)])
        return sid_of_rank[best]

    def label(self, name: str, sid: np.ndarray, label: str) -> pl.Series:
        """Per cell ``label`` of the series ``sid`` (from :meth:`pick`) of part ``name``; null where -1."""
        part = self.parts[name]
        col = label_columns(part.labels, [label], part.series)[label]
        return col.gather(pl.Series(np.where(sid >= 0, sid, 0), dtype=pl.UInt32).set(pl.Series(sid < 0), None))

    def frame(self, rows: np.ndarray, columns: Mapping[str, pl.Series | np.ndarray]) -> pl.DataFrame:
        """The cells ``rows`` (a boolean mask over cells) as a frame: ``ts`` (ms), the key columns, ``columns``."""
        at = np.flatnonzero(rows)
        kid = pl.Series(self.kid[at], dtype=pl.UInt32)
        out = [pl.Series("ts", self.t0 + self.ti[at] * self.step, dtype=pl.Int64),
               *self.keys.select(pl.all().gather(kid)).get_columns()]
        for name, col in columns.items():
            s = col if isinstance(col, pl.Series) else pl.Series(col)
            out.append(s.gather(pl.Series(at, dtype=pl.UInt32)).alias(name))
        return pl.DataFrame(out)

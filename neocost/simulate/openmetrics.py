"""Vectorised OpenMetrics writer for ``promtool tsdb create-blocks-from openmetrics``.

Timing contract (docs/simulator.md): samples at ``a + 15 s + k·scrape`` inside each 5-minute interval ``[a, a+5m)``;
gauges hold the interval's value; a counter's interval increment is spread over the interval's samples and fully
applied by the last one, so ``last(a+5m) − last(a)`` is exactly the interval's increment (a series starts at 0).
Lines are built per family with polars string columns (no Python loop per sample).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import polars as pl

from neocost.simulate.model import STEP

OFFSET = 15  # seconds after the interval start of the first scrape


@dataclass
class Series:
    name: str  # sample name (with _total / _bucket / _sum / _count)
    labels: dict[str, str]
    start: int  # first interval
    values: np.ndarray  # gauge value or counter increment per interval, from `start`
    counter: bool = False
    integer: bool = False  # integer counter: partial values floored inside the interval
    reset_at: int | None = None  # relative interval where the counter restarts from 0


@dataclass
class Family:
    name: str
    type: str  # gauge | counter | histogram
    help: str
    series: list[Series] = field(default_factory=list)

    def add(self, name: str, labels: dict[str, str], start: int, values, **kw) -> None:
        self.series.append(Series(name, labels, start, np.asarray(values, dtype=np.float64), **kw))


def fmt_labels(labels: dict[str, str]) -> str:
    """``{a="x",b="y"}`` with empty values dropped (Prometheus treats them as absent)."""
    parts = []
    for k, v in labels.items():
        if v == "" or v is None:
            continue
        v = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{k}="{v}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def sample_values(s: Series, k: int) -> np.ndarray:
    """(intervals × k) sample values for one series."""
    v = s.values
    if not s.counter:
        return np.repeat(v[:, None], k, axis=1)
    segs = [v] if s.reset_at is None else [v[: s.reset_at], v[s.reset_at:]]
    rows = []
    frac = (np.arange(1, k + 1) / k)[None, :]
    for seg in segs:
        if seg.size == 0:
            continue
        cum = np.cumsum(seg)
        prev = np.concatenate([[0.0], cum[:-1]])
        part = seg[:, None] * frac
        if s.integer:
            part = np.floor(part)
        vals = prev[:, None] + part
        vals[:, -1] = cum  # the last scrape carries the full increment exactly
        rows.append(vals)
    return np.concatenate(rows, axis=0)


class OpenMetricsWriter:
    """Writes families to a binary file; counts series and samples."""

    def __init__(self, fh: BinaryIO, t0: int, scrape_interval: int) -> None:
        if STEP % scrape_interval or OFFSET + STEP - scrape_interval >= STEP:
            raise ValueError(f"scrape interval {scrape_interval}s must divide 300 and be at least 30 s")
        self.fh, self.t0, self.scrape = fh, t0, scrape_interval
        self.k = STEP // scrape_interval
        self.series = 0
        self.samples = 0

    def write(self, fam: Family, chunk: int = 2_000_000, intervals: tuple[int, int] | None = None) -> None:
        """Write a family; ``intervals = (lo, hi)`` keeps only the samples of intervals ``[lo, hi)`` (the
        counters' values stay cumulative from each series' start, so per-chunk files add up to the whole)."""
        if not fam.series:
            return
        header = f"# HELP {fam.name} {fam.help}\n# TYPE {fam.name} {fam.type}\n".encode()
        if intervals is None:
            self.fh.write(header)
            header = b""
        batch: list[tuple[str, np.ndarray, np.ndarray]] = []
        rows = 0
        for s in fam.series:
            if s.values.size == 0:
                continue
            a, b = 0, s.values.size
            if intervals is not None:
                a, b = max(0, intervals[0] - s.start), min(s.values.size, intervals[1] - s.start)
                if a >= b:
                    continue
                if header:
                    self.fh.write(header)
                    header = b""
            vals = sample_values(s, self.k)[a:b].ravel()
            ts = (self.t0 + STEP * (s.start + np.arange(a, b))[:, None] + OFFSET
                  + self.scrape * np.arange(self.k)[None, :]).ravel()
            batch.append((s.name + fmt_labels(s.labels), vals, ts))
            rows += vals.size
            self.series += 1
            if rows >= chunk:
                self._flush(batch)
                batch, rows = [], 0
        self._flush(batch)

    def _flush(self, batch: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        if not batch:
            return
        prefixes = pl.Series("p", [b[0] for b in batch], dtype=pl.Utf8)
        idx = np.concatenate([np.full(b[1].size, i, dtype=np.uint32) for i, b in enumerate(batch)])
        df = pl.DataFrame({"i": idx, "v": np.concatenate([b[1] for b in batch]),
                           "t": np.concatenate([b[2] for b in batch]).astype(np.int64)})
        line = df.select(pl.concat_str([prefixes.gather(pl.Series(idx)), pl.col("v").cast(pl.Utf8),
                                        pl.col("t").cast(pl.Utf8)], separator=" ").alias("l"))
        line.write_csv(self.fh, include_header=False, quote_style="never")
        self.samples += df.height

    def close(self) -> None:
        self.fh.write(b"# EOF\n")

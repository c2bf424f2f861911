"""Mergeable window summaries: count, sum of unit vectors, optional second moment, and a bottom-k sample.

- ``n`` and ``S1 = Σ u`` (float64) add exactly across windows, so hourly summaries roll up into daily ones (or a
  reference period) without rereading raw embeddings.
- ``S2 = Σ u uᵀ`` (d × d, optional) gives the covariance for whitening or an analytic null.
- The sample is a *bottom-k* sample: every row gets a uniform random key and the k rows with the smallest keys
  are kept. It is a uniform sample of the window and it merges too (the k smallest keys of the union), so
  chunks, files and hours combine without bias. Distribution tests and permutation p-values run on it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from neocost.errors import DriftInputError


def window_seed(model: str, segment: str, window_start: datetime) -> int:
    """Deterministic per-window seed so a re-run keeps the same sample."""
    return zlib.crc32(f"{model}\x00{segment}\x00{window_start.isoformat()}".encode())


@dataclass
class WindowSummary:
    """Summary of the L2-normalised embeddings of one (model, segment, window)."""

    model: str
    segment: str
    window_start: datetime
    window_end: datetime
    dim: int
    sample_rows: int
    n: int = 0
    s1: np.ndarray = field(default=None)  # type: ignore[assignment]
    s2: np.ndarray | None = None
    sample: np.ndarray = field(default=None)  # type: ignore[assignment]  # k × d float32
    keys: np.ndarray = field(default=None)  # type: ignore[assignment]  # k float64 in [0, 1)
    dropped: dict[str, int] = field(default_factory=dict)
    _rng: np.random.Generator | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.s1 is None:
            self.s1 = np.zeros(self.dim, dtype=np.float64)
        if self.sample is None:
            self.sample = np.empty((0, self.dim), dtype=np.float32)
            self.keys = np.empty(0, dtype=np.float64)

    @property
    def key(self) -> tuple[str, str, datetime]:
        return self.model, self.segment, self.window_start

    def add(self, unit: np.ndarray, *, second_moment: bool = False) -> None:
        """Add already-normalised rows (float32, n × dim)."""
        if unit.shape[1] != self.dim:
            raise DriftInputError(f"model {self.model!r}: embedding dimension {unit.shape[1]} does not match the "
                                  f"window's {self.dim}; one model must use one embedding size")
        if len(unit) == 0:
            return
        self.n += len(unit)
        self.s1 += unit.sum(axis=0, dtype=np.float64)
        if second_moment:
            u64 = unit.astype(np.float64)
            s2 = u64.T @ u64
            self.s2 = s2 if self.s2 is None else self.s2 + s2
        if self._rng is None:
            self._rng = np.random.default_rng(window_seed(self.model, self.segment, self.window_start))
        self._keep(np.concatenate([self.sample, unit]), np.concatenate([self.keys, self._rng.random(len(unit))]))

    def _keep(self, rows: np.ndarray, keys: np.ndarray) -> None:
        if len(keys) > self.sample_rows:
            idx = np.argpartition(keys, self.sample_rows - 1)[: self.sample_rows]
            rows, keys = rows[idx], keys[idx]
        order = np.argsort(keys, kind="stable")
        self.sample, self.keys = np.ascontiguousarray(rows[order]), keys[order]

    def merge(self, other: WindowSummary) -> WindowSummary:
        """Summary of the union (e.g. hours into a day): sums add, samples keep the smallest keys."""
        if other.dim != self.dim:
            raise DriftInputError(f"cannot merge windows of dimension {self.dim} and {other.dim}")
        out = WindowSummary(self.model, self.segment, min(self.window_start, other.window_start),
                            max(self.window_end, other.window_end), self.dim,
                            max(self.sample_rows, other.sample_rows), self.n + other.n, self.s1 + other.s1)
        if self.s2 is not None and other.s2 is not None:
            out.s2 = self.s2 + other.s2
        out._keep(np.concatenate([self.sample, other.sample]), np.concatenate([self.keys, other.keys]))
        out.dropped = {k: self.dropped.get(k, 0) + other.dropped.get(k, 0)
                       for k in set(self.dropped) | set(other.dropped)}
        return out

    def centroid(self) -> np.ndarray:
        return self.s1 / max(self.n, 1)


def merge_all(summaries: list[WindowSummary]) -> WindowSummary:
    if not summaries:
        raise DriftInputError("no window summaries to merge (empty reference period?)")
    out = summaries[0]
    for s in summaries[1:]:
        out = out.merge(s)
    return out

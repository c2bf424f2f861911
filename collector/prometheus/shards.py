"""Windows and time shards on the step grid.

A raw row with ``ts`` describes ``[ts, ts + R)`` (R = resolution). A PromQL range selector ``x[R]`` evaluated at
``t`` sees the samples in ``(t - R, t]``, so we evaluate at ``t = ts + R - 1 ms``: it sees exactly the samples
with timestamps in ``[ts, ts + R)`` (Prometheus timestamps are whole milliseconds) and a sample at ``ts + R``
belongs to the next interval, never to both.

- Gauges: one evaluation per interval, ``t_i = W0 + (i + 1)·R - 1 ms`` for intervals ``i`` of the window.
- Counters: one more evaluation before the first interval (``W0 - 1 ms``, the baseline), so that each
  interval's increase is ``value(t_i) - value(t_{i-1})`` computed client-side.

Shards split the intervals ``[i0, i1)`` so that together they return exactly the samples of one query over the
window (docs components.md §4: an even split of ``[start, end]`` drops or duplicates the edge points); each
counter shard carries its own baseline point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from neocost.timeutil import to_unix

EPS_MS = 1


@dataclass(frozen=True)
class Shard:
    """Intervals ``[i0, i1)`` of a window starting at ``w0_ms`` with step ``step_ms``."""

    w0_ms: int
    step_ms: int
    i0: int
    i1: int

    @property
    def points(self) -> int:
        return self.i1 - self.i0

    def eval_range(self, counter: bool) -> tuple[int, int]:
        """(first, last) evaluation time in ms, inclusive."""
        first = self.w0_ms + (self.i0 if counter else self.i0 + 1) * self.step_ms - EPS_MS
        last = self.w0_ms + self.i1 * self.step_ms - EPS_MS
        return first, last

    def interval_start_ms(self, eval_ms: int) -> int:
        """The ``ts`` (ms) of the interval an evaluation at ``eval_ms`` closes."""
        return eval_ms + EPS_MS - self.step_ms

    def halves(self) -> tuple[Shard, Shard]:
        mid = (self.i0 + self.i1) // 2
        return Shard(self.w0_ms, self.step_ms, self.i0, mid), Shard(self.w0_ms, self.step_ms, mid, self.i1)


def ms(t: datetime) -> int:
    return int(round(to_unix(t) * 1000))


def split_window(start: datetime, end: datetime, step_s: int, *, max_points: int, parts: int = 1
                 ) -> list[Shard]:
    """Shards covering the intervals of ``[start, end)``: at least ``parts`` (when there are that many
    intervals) and each at most ``max_points - 1`` intervals (a counter shard fetches one point more)."""
    n = intervals(start, end, step_s)
    if n == 0:
        return []
    per = max(1, min(max_points - 1, math.ceil(n / max(1, parts))))
    w0, step = ms(start), step_s * 1000
    return [Shard(w0, step, i, min(n, i + per)) for i in range(0, n, per)]


def intervals(start: datetime, end: datetime, step_s: int) -> int:
    """Number of intervals in ``[start, end)``; both must lie on the grid."""
    span = (end - start).total_seconds()
    if span < 0 or span % step_s:
        raise ValueError(f"window {start}..{end} is not a whole number of {step_s}s intervals")
    return int(span // step_s)


def windows(start: datetime, end: datetime, size_s: int) -> list[tuple[datetime, datetime]]:
    """Consecutive commit windows of ``size_s`` seconds covering ``[start, end)`` (the last may be shorter)."""
    out = []
    cur = start
    while cur < end:
        nxt = min(end, cur + timedelta(seconds=size_s))
        out.append((cur, nxt))
        cur = nxt
    return out

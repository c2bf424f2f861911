"""Savings hints, each with the dollars at stake over the window (and per 30 days).

- right-size: a model/pod using < ``util_threshold`` of its whole GPUs could move to a MIG slice (or a
  smaller GPU); at stake = GPU cost x (1 - slices needed / 7).
- spot: on-demand GPU workloads that are training runs (restartable Jobs) could run on spot; at stake = GPU
  cost x (1 - spot price / on-demand price) for the same GPU product, from the resolved node prices.
- lifecycle: stale checkpoint bytes and noncurrent versions could expire with a lifecycle rule; at stake =
  their monthly storage cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import duckdb

MIG_SLICES = 7
DEFAULT_SPOT_RATIO = 1.25 / 2.95  # Nebius H100 preemptible / on-demand (cost-allocation.md §10)


@dataclass(frozen=True)
class Hint:
    kind: str            # right-size | spot | lifecycle-stale | lifecycle-noncurrent
    target: str          # model, pod or bucket
    detail: str
    dollars: float       # at stake over the window
    dollars_per_30d: float


def hints(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, *, util_threshold: float = 0.30
          ) -> list[Hint]:
    hours = max((end - start).total_seconds() / 3600, 1e-9)
    scale = 720 / hours
    out: list[Hint] = []
    for model, gh, used, cost in con.execute("""
            SELECT model, sum(gpu_hours), sum(gpu_used_hours), sum(gpu_cost) FROM mart.cost_hourly
            WHERE hour >= ? AND hour < ? AND kind = 'container' AND gpu_hours > 0 AND model <> '__unallocated__'
            GROUP BY 1""", [start, end]).fetchall():
        util = used / gh if gh else 0.0
        if 0 < util < util_threshold:
            slices = max(1, math.ceil(util * MIG_SLICES))
            save = cost * (1 - slices / MIG_SLICES)
            out.append(Hint("right-size", model, f"uses {util:.0%} of its GPUs ({gh:,.1f} GPU-h); a "
                            f"{slices}g MIG slice or a smaller GPU would do", save, save * scale))
    ratios = dict(con.execute("""
        SELECT o.gpu_product, min(s.gpu_hourly) / max(o.gpu_hourly) FROM model.node_price o
        JOIN model.node_price s ON s.gpu_product = o.gpu_product AND s.capacity_type = 'spot'
        WHERE o.capacity_type = 'on-demand' AND o.gpu_hourly > 0 GROUP BY 1""").fetchall())
    for job, product, cost in con.execute("""
            SELECT c.job, p.gpu_product, sum(c.gpu_cost) FROM mart.cost_hourly c JOIN model.node_price p USING (node)
            WHERE c.hour >= ? AND c.hour < ? AND c.kind = 'container' AND c.job <> ''
              AND c.capacity_type = 'on-demand' AND c.gpu_cost > 0 GROUP BY 1, 2""", [start, end]).fetchall():
        ratio = ratios.get(product, DEFAULT_SPOT_RATIO)
        save = cost * (1 - ratio)
        out.append(Hint("spot", job, f"training run on on-demand {product}; spot costs {ratio:.0%} of it", save,
                        save * scale))
    for bucket, stale_cost, nonc_cost in con.execute("""
            SELECT bucket, sum(stale_bytes / 1073741824.0 * gib_month),
                   sum(CASE WHEN NOT is_latest THEN monthly_cost ELSE 0 END)
            FROM mart.storage_snapshot GROUP BY 1""").fetchall():
        if stale_cost and stale_cost > 0:
            out.append(Hint("lifecycle-stale", bucket, "expire stale checkpoints with a lifecycle rule",
                            stale_cost * hours / 730, stale_cost * 720 / 730))
        if nonc_cost and nonc_cost > 0:
            out.append(Hint("lifecycle-noncurrent", bucket, "expire noncurrent versions (NoncurrentVersionExpiration)",
                            nonc_cost * hours / 730, nonc_cost * 720 / 730))
    return sorted(out, key=lambda h: -h.dollars)

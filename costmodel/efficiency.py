"""GPU utilisation vs allocation, idle-GPU dollars and CPU/RAM over-request, by pod, model, team or node pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

GROUPS = {"pod": "namespace || '/' || pod", "model": "model", "team": "team", "node_pool": "node_pool",
          "namespace": "namespace"}


def efficiency(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, by: str = "model"
               ) -> list[dict[str, Any]]:
    """Rows sorted by idle-GPU dollars: GPU-hours allocated and used (DCGM), utilisation, the GPU dollars not
    used, and CPU/RAM requested above usage (core-hours, GiB-hours and their dollars)."""
    if by not in GROUPS:
        raise ValueError(f"efficiency by {by!r}: use one of {sorted(GROUPS)}")
    cur = con.execute(f"""
        SELECT {GROUPS[by]} AS key, sum(gpu_hours) AS gpu_hours, sum(gpu_used_hours) AS gpu_used_hours,
               sum(gpu_used_hours) / nullif(sum(gpu_hours), 0) AS gpu_utilisation,
               sum(gpu_cost) AS gpu_cost,
               sum(gpu_cost * (1 - gpu_used_hours / nullif(gpu_hours, 0))) AS idle_gpu_dollars,
               sum(greatest(cpu_request_core_hours - cpu_usage_core_hours, 0)) AS cpu_over_request_core_hours,
               sum(greatest(cpu_request_core_hours - cpu_usage_core_hours, 0)
                   * cpu_cost / nullif(cpu_core_hours, 0)) AS cpu_over_request_dollars,
               sum(greatest(ram_request_gib_hours - ram_usage_gib_hours, 0)) AS ram_over_request_gib_hours,
               sum(greatest(ram_request_gib_hours - ram_usage_gib_hours, 0)
                   * ram_cost / nullif(ram_gib_hours, 0)) AS ram_over_request_dollars,
               sum(cpu_usage_core_hours) / nullif(sum(cpu_request_core_hours), 0) AS cpu_efficiency,
               sum(ram_usage_gib_hours) / nullif(sum(ram_request_gib_hours), 0) AS ram_efficiency
        FROM mart.cost_hourly
        WHERE hour >= ? AND hour < ? AND kind = 'container'
        GROUP BY 1 ORDER BY idle_gpu_dollars DESC NULLS LAST, 1""", [start, end])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def idle_gpu_dollars_by_node_pool(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime
                                  ) -> dict[str, float]:
    """Unallocated GPU capacity in dollars (node idle), per node pool."""
    return dict(con.execute("""SELECT node_pool, sum(idle_gpu_cost) FROM model.node_hourly
                               WHERE hour >= ? AND hour < ? GROUP BY 1 ORDER BY 2 DESC""", [start, end]).fetchall())

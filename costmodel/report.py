"""Reports from the marts: the truth-shaped JSON document (docs/truth.md), and cost-by-tag tables / CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import duckdb

from costmodel import unit_economics
from neocost import __version__
from neocost.timeutil import rfc3339

DIMENSIONS = ("team", "project", "model", "env", "cost_center", "namespace", "node_pool")
TRUTH_DIMENSIONS = ("team", "project", "model", "env", "namespace", "node_pool")
IDLE, SHARED, UNALLOCATED = "__idle__", "__shared__", "__unallocated__"


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _value_expr(dim: str) -> str:
    if dim not in DIMENSIONS:
        raise ValueError(f"cannot group by {dim!r}; use one of {', '.join(DIMENSIONS)}")
    return f"CASE WHEN kind = 'idle' THEN '{IDLE}' WHEN is_shared THEN '{SHARED}' ELSE {dim} END"


def cost_by_dim(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, dim: str, basis: str
                ) -> dict[str, float]:
    if basis == "usage":
        rows = con.execute(f"SELECT {_value_expr(dim)} AS v, sum(usage_cost) FROM mart.cost_hourly "
                           "WHERE hour >= ? AND hour < ? GROUP BY 1 ORDER BY 1", [start, end]).fetchall()
        return {v: float(c) for v, c in rows}
    _value_expr(dim)  # validates dim
    # allocation: shared-namespace rows keep their own key (0 once spread); what was not spread is __shared__
    rows = con.execute(f"""
        SELECT CASE WHEN kind = 'idle' THEN '{IDLE}' ELSE {dim} END AS v,
               sum(CASE WHEN is_shared THEN 0 ELSE allocation_cost END)
        FROM mart.cost_hourly WHERE hour >= ? AND hour < ? GROUP BY 1
        UNION ALL
        SELECT '{SHARED}', sum(allocation_cost) FROM mart.cost_hourly
        WHERE hour >= ? AND hour < ? AND is_shared""", [start, end, start, end]).fetchall()
    out: dict[str, float] = {}
    for v, c in rows:
        out[v] = out.get(v, 0.0) + float(c or 0.0)
    return {k: v for k, v in sorted(out.items()) if k not in (IDLE, SHARED) or abs(v) > 1e-9}


def cost_table(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, by: list[str], basis: str
               ) -> list[dict[str, Any]]:
    """Rows grouped by several tags, with cost per resource and the chosen basis' total."""
    exprs = [f"{_value_expr(d)} AS {d}" for d in by]
    col = {"usage": "usage_cost", "allocation": "allocation_cost"}[basis]
    cur = con.execute(f"""
        SELECT {', '.join(exprs)}, sum(gpu_hours) AS gpu_hours, sum(gpu_cost) AS gpu, sum(cpu_cost) AS cpu,
               sum(ram_cost) AS ram, sum(egress_cost) AS egress, sum(storage_cost) AS storage,
               sum(volume_cost) AS volume,
               sum(CASE WHEN kind = 'idle' THEN usage_cost ELSE idle_gpu_cost + idle_cpu_cost + idle_ram_cost END)
                   AS idle, sum(shared_cost) AS shared, sum({col}) AS cost
        FROM mart.cost_hourly WHERE hour >= ? AND hour < ?
        GROUP BY ALL ORDER BY cost DESC""", [start, end])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    if basis == "allocation":
        rows = [r for r in rows if abs(r["cost"]) > 1e-9 or not any(r[d] in (IDLE, SHARED) for d in by)]
    return rows


def truth_report(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, *,
                 output_input_weight: float = 4.0, currency: str = "USD") -> dict[str, Any]:
    """The same shape as the simulator's truth.json, from the marts, for ``[start, end)``."""
    w = [start, end]
    nr = con.execute("""SELECT sum(gpu_cost), sum(cpu_cost), sum(ram_cost), sum(alloc_gpu_cost),
                               sum(alloc_cpu_cost), sum(alloc_ram_cost), sum(idle_gpu_cost), sum(idle_cpu_cost),
                               sum(idle_ram_cost), sum(gpu_hours_capacity)
                        FROM model.node_hourly WHERE hour >= ? AND hour < ?""", w).fetchone() or ()
    gpu, cpu, ram, agpu, acpu, aram, igpu, icpu, iram, cap_gh = (float(x or 0) for x in nr)
    tot = con.execute("""SELECT sum(gpu_cost + cpu_cost + ram_cost) FILTER (WHERE kind = 'container'),
                                sum(gpu_cost + cpu_cost + ram_cost) FILTER (WHERE kind = 'container' AND is_shared),
                                sum(egress_cost), sum(storage_cost), sum(tx_bytes), sum(gpu_hours),
                                sum(volume_cost)
                         FROM mart.cost_hourly WHERE hour >= ? AND hour < ?""", w).fetchone() or ()
    allocated, shared, egress, storage, tx, alloc_gh, volume = (float(x or 0) for x in tot)
    node_cost = gpu + cpu + ram
    cost = {b: {d: {k: _r(v) for k, v in cost_by_dim(con, start, end, d, b).items()} for d in TRUTH_DIMENSIONS}
            for b in ("usage", "allocation")}
    return {
        "schema": "neocost.truth/1",
        "generator": {"name": "neocost.costmodel", "version": __version__},
        "window": {"start": rfc3339(start), "end": rfc3339(end), "hours": (end - start).total_seconds() / 3600},
        "currency": currency,
        "totals": {"node_cost": _r(node_cost), "allocated_cost": _r(allocated), "idle_cost": _r(igpu + icpu + iram),
                   "shared_cost": _r(shared), "egress_cost": _r(egress), "storage_cost": _r(storage),
                   "volume_cost": _r(volume), "total_cost": _r(node_cost + egress + storage + volume)},
        "by_resource": {"gpu": {"node": _r(gpu), "allocated": _r(agpu), "idle": _r(igpu)},
                        "cpu": {"node": _r(cpu), "allocated": _r(acpu), "idle": _r(icpu)},
                        "ram": {"node": _r(ram), "allocated": _r(aram), "idle": _r(iram)}},
        "node_pools": _node_pools(con, w),
        "gpu_hours": {"capacity": _r(cap_gh), "allocated": _r(alloc_gh),
                      "by_team": _gpu_hours_by(con, w, "team"), "by_model": _gpu_hours_by(con, w, "model")},
        "cost": cost,
        "models": _models(con, start, end, output_input_weight),
        "training_runs": training_runs(con, start, end),
        "storage": _storage(con, w),
        "egress": {"tx_bytes": int(round(tx)), "cost": _r(egress)},
        "volumes": _volumes(con, w),
        "drift": None,
    }


def _node_pools(con: duckdb.DuckDBPyConnection, w: list[datetime]) -> dict[str, Any]:
    rows = con.execute("""
        SELECT coalesce(node_pool, '__unallocated__'), sum(gpu_cost + cpu_cost + ram_cost),
               sum(idle_gpu_cost + idle_cpu_cost + idle_ram_cost), sum(gpu_hours_capacity),
               sum(gpu_hours_allocated), CASE WHEN count(DISTINCT capacity_type) > 1 THEN 'mixed'
                                              ELSE any_value(capacity_type) END
        FROM model.node_hourly WHERE hour >= ? AND hour < ? GROUP BY 1 ORDER BY 1""", w).fetchall()
    return {p: {"node_cost": _r(nc), "idle_cost": _r(ic), "gpu_hours_capacity": _r(gc),
                "gpu_hours_allocated": _r(ga), "capacity_type": ct} for p, nc, ic, gc, ga, ct in rows}


def _gpu_hours_by(con: duckdb.DuckDBPyConnection, w: list[datetime], dim: str) -> dict[str, float | None]:
    rows = con.execute(f"""SELECT {dim}, sum(gpu_hours) FROM mart.cost_hourly
                           WHERE hour >= ? AND hour < ? AND kind = 'container' AND gpu_hours > 0
                           GROUP BY 1 ORDER BY 1""", w).fetchall()
    return {k: _r(v) for k, v in rows}


def _models(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, weight: float) -> dict[str, Any]:
    rows = unit_economics.model_rows(con, start, end, "model", weight)
    gpus = dict(con.execute("""
        SELECT c.model, string_agg(DISTINCT p.gpu_product, ', ')
        FROM mart.cost_hourly c JOIN model.node_price p USING (node)
        WHERE c.hour >= ? AND c.hour < ? AND c.kind = 'container' AND c.gpu_hours > 0 GROUP BY 1""",
                            [start, end]).fetchall())
    out = {}
    for model, r in sorted(rows.items()):
        out[model] = {"server": r["server"], "served_name": r["served_name"], "team": r["team"],
                      "gpu": gpus.get(model), "requests": r["requests"], "errors": r["errors"],
                      "input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
                      "cached_tokens": r["cached_tokens"], "gpu_hours": _r(r["gpu_hours"]),
                      "cost": {b: _r(v) for b, v in r["cost"].items()}}
        for metric in ("cost_per_inference", "cost_per_1k_tokens", "cost_per_1k_input_tokens",
                       "cost_per_1k_output_tokens", "cost_per_1k_cached_input_tokens"):
            out[model][metric] = {b: _r(v) for b, v in r[metric].items()}
    return out


def training_runs(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> dict[str, Any]:
    """Per training Job (owner, or job-name label) whose pods request GPUs: pods, restarts (failed pods),
    GPU-hours and cost on both bases."""
    rows = con.execute("""
        WITH gpu_pods AS (
            SELECT namespace, pod FROM mart.cost_hourly
            WHERE hour >= ? AND hour < ? AND job <> '' AND kind = 'container'
            GROUP BY 1, 2 HAVING sum(gpu_hours) > 0),
        life AS (
            SELECT namespace, pod, min(valid_from) AS born, max(coalesce(valid_to, 'infinity'::TIMESTAMP)) AS gone,
                   arg_max(phase, valid_from) AS phase
            FROM raw.k8s_pod GROUP BY 1, 2),
        c AS (
            SELECT c.job, c.namespace, c.pod, arg_min(c.team, c.hour) AS team, sum(c.gpu_hours) AS gh,
                   sum(c.usage_cost) AS usage, sum(c.allocation_cost) AS allocation
            FROM mart.cost_hourly c JOIN gpu_pods USING (namespace, pod)
            WHERE c.hour >= ? AND c.hour < ? AND c.job <> '' GROUP BY 1, 2, 3),
        -- a restart: a pod that failed, or that stopped early and was replaced by a later pod of the same
        -- run (kube-state-metrics loses a spot-interrupted pod before it reports Failed)
        j AS (SELECT c.*, l.born, l.gone, l.phase FROM c LEFT JOIN life l USING (namespace, pod)),
        r AS (
            SELECT j.job, j.pod, bool_or(j2.pod IS NOT NULL) AS replaced FROM j
            LEFT JOIN j j2 ON j2.job = j.job AND j2.pod <> j.pod AND j2.born >= j.gone - INTERVAL 30 MINUTE
                          AND j2.born > j.born
            GROUP BY 1, 2)
        SELECT job, arg_min(team, born), count(*),
               count(*) FILTER (WHERE phase = 'Failed' OR (coalesce(phase, '') <> 'Succeeded' AND replaced)),
               sum(gh), sum(usage), sum(allocation)
        FROM j JOIN r USING (job, pod) GROUP BY 1 ORDER BY 1""",
                       [start, end, start, end]).fetchall()
    return {job: {"team": team, "pods": pods, "restarts": restarts, "gpu_hours": _r(gh),
                  "cost": {"usage": _r(u), "allocation": _r(a)}}
            for job, team, pods, restarts, gh, u, a in rows}


def _storage(con: duckdb.DuckDBPyConnection, w: list[datetime]) -> dict[str, Any]:
    b, nonc, stale = con.execute("""SELECT sum(bytes), sum(bytes) FILTER (WHERE NOT is_latest), sum(stale_bytes)
                                    FROM mart.storage_snapshot""").fetchone() or (0, 0, 0)
    rows = con.execute("""
        SELECT s.bucket, s.bytes, coalesce(c.cost, 0), s.team FROM
            (SELECT bucket, sum(bytes) AS bytes, any_value(team) AS team FROM mart.storage_snapshot GROUP BY 1) s
        LEFT JOIN (SELECT bucket, sum(storage_cost) AS cost FROM mart.cost_hourly
                   WHERE hour >= ? AND hour < ? AND kind = 'storage' GROUP BY 1) c USING (bucket)
        ORDER BY 1""", w).fetchall()
    return {"bytes": int(b or 0), "noncurrent_bytes": int(nonc or 0), "stale_checkpoint_bytes": int(stale or 0),
            "by_bucket": {k: {"bytes": int(by), "cost": _r(c), "team": None if t == UNALLOCATED else t}
                          for k, by, c, t in rows}}


def _volumes(con: duckdb.DuckDBPyConnection, w: list[datetime]) -> dict[str, Any]:
    """Persistent volume claims: cost per claim (StorageClass and the largest request in the window from
    raw.pvc) and the part nobody mounted."""
    rows = con.execute("""
        SELECT c.pvc, coalesce(p.storageclass, ''), p.request_bytes, c.cost FROM
            (SELECT pvc, sum(volume_cost) AS cost FROM mart.cost_hourly
             WHERE hour >= ? AND hour < ? AND kind = 'volume' GROUP BY 1) c
        LEFT JOIN (SELECT namespace || '/' || persistentvolumeclaim AS pvc, max(storageclass) AS storageclass,
                          max(request_bytes) AS request_bytes
                   FROM raw.pvc WHERE ts >= ? AND ts < ? GROUP BY 1) p USING (pvc)
        ORDER BY 1""", w + w).fetchall()
    unmounted = con.execute("""SELECT sum(volume_cost) FROM mart.cost_hourly
                               WHERE hour >= ? AND hour < ? AND kind = 'volume' AND pod = ''""", w).fetchone()
    return {"cost": _r(sum(float(c) for *_, c in rows)), "unmounted_cost": _r(float((unmounted or [0])[0] or 0)),
            "by_claim": {k: {"storageclass": sc, "request_bytes": None if rb is None else int(rb), "cost": _r(c)}
                         for k, sc, rb, c in rows}}


# -- renderers ---------------------------------------------------------------------------------------------

def render_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        wr = csv.DictWriter(buf, fieldnames=list(rows[0]))
        wr.writeheader()
        for r in rows:
            wr.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def render_table(rows: list[dict[str, Any]], by: list[str], title: str, currency: str = "USD") -> Any:
    """A rich Table of cost rows (money columns right-aligned, a total row)."""
    from rich.table import Table

    table = Table(title=title, show_footer=True)
    money = ["gpu", "cpu", "ram", "egress", "storage", "volume", "idle", "shared", "cost"]
    totals = {m: sum(r[m] or 0 for r in rows) for m in money}
    for i, d in enumerate(by):
        table.add_column(d, footer="total" if i == 0 else "")
    table.add_column("GPU-h", justify="right", footer=f"{sum(r['gpu_hours'] or 0 for r in rows):,.1f}")
    for m in money:
        table.add_column(f"{m} ({currency})" if m == "cost" else m, justify="right", footer=f"{totals[m]:,.2f}")
    for r in rows:
        table.add_row(*[str(r[d]) for d in by], f"{r['gpu_hours'] or 0:,.1f}",
                      *[f"{r[m] or 0:,.2f}" for m in money])
    return table

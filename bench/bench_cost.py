"""Cost model: full rebuild, one-hour incremental update and peak memory vs a straightforward pandas allocation.

Raw tables are synthesised in DuckDB with vectorised SQL (``range()``): ``pods`` single-container pods spread
over ``pods / 20`` nodes, every pod running the whole window, one request row per resource (cpu, memory, and
nvidia_com_gpu for 1 pod in 10), usage, network and label history. Each case runs in a fresh subprocess so its
peak RSS is its own. The pandas baseline implements the same per-interval allocation (requests pivot, max
(request, usage), node idle, cluster-wide weighted idle spread, shared-namespace spread, hourly roll-up); it is
timed on a slice of the hours and scaled linearly when the whole window would take too long (the table says so).

Environment: ``NEOCOST_BENCH_COST_CASES`` = comma list of ``pods:days:step_seconds`` (default a reduced set
that fits the shared 2-core CI box; the issue's targets are ``2800:30:300`` (large, 30 days, ~2 M pod-hours)
and ``5000:365:3600`` (a year for 5,000 pods)).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "cost.json"
DEFAULT_CASES = "300:7:300,500:90:3600"
T0 = datetime(2026, 1, 1)

SYNTH = """
CREATE TEMP TABLE b_nodes AS SELECT 'node-' || i AS node, i FROM range(?) t(i);
INSERT INTO raw.k8s_node (source, node, instance_type, capacity_type, node_pool, gpu_product, gpu_count,
    gpu_replicas, cpu_cores, memory_bytes, labels, valid_from)
SELECT 'api', node, 'gpu-h100-sxm.8gpu-128vcpu-1600gb', CASE WHEN i % 3 = 0 THEN 'spot' ELSE 'on-demand' END,
       'pool-' || (i % 3), 'NVIDIA-H100-80GB-HBM3', 8, 1, 128, 1600 * 2^30, MAP {}, $t0 FROM b_nodes;
CREATE TEMP TABLE b_ts AS SELECT $t0 + to_seconds(i * $step) AS ts FROM range($n) t(i);
INSERT INTO raw.node_capacity SELECT ts, node, r, v, v FROM b_ts, b_nodes,
    (VALUES ('cpu', 128.0), ('memory', 1600.0 * 2^30), ('nvidia_com_gpu', 8.0)) x(r, v);
CREATE TEMP TABLE b_pods AS SELECT CASE WHEN i % 25 = 0 THEN 'monitoring' ELSE 'ns-' || (i % 40) END AS namespace,
    'pod-' || i AS pod, 'node-' || (i % $nodes) AS node, i FROM range($pods) t(i);
INSERT INTO raw.k8s_pod (source, namespace, pod, node, owner_kind, owner_name, phase, labels, valid_from)
SELECT 'api', namespace, pod, node, 'ReplicaSet', 'rs', 'Running',
       MAP {'team': 'team-' || (i % 7), 'model': 'model-' || (i % 11)}, $t0 FROM b_pods;
INSERT INTO raw.container_requests SELECT ts, namespace, pod, 'main', node, r.res,
    CASE r.res WHEN 'cpu' THEN 1 + i % 4 WHEN 'memory' THEN (2 + i % 8) * 2^30 ELSE 1 END, NULL, 1.0
FROM b_ts, b_pods, (VALUES ('cpu'), ('memory'), ('nvidia_com_gpu')) r(res)
WHERE r.res <> 'nvidia_com_gpu' OR i % 10 = 0;
INSERT INTO raw.container_usage SELECT ts, namespace, pod, 'main', (i % 5) * 0.7, (i % 9) * 2^30
FROM b_ts, b_pods;
INSERT INTO raw.pod_network SELECT ts, namespace, pod, 1e6 * (i % 13), 0 FROM b_ts, b_pods;
"""


def synth(con, pods: int, hours: int, step: int) -> None:  # type: ignore[no-untyped-def]
    n = hours * 3600 // step
    nodes = max(1, pods // 20)
    import re

    for stmt in (s for s in SYNTH.split(";\n") if s.strip()):
        used = set(re.findall(r"\$([a-z0-9]+)", stmt))
        params = {k: v for k, v in {"t0": T0, "step": step, "n": n, "nodes": nodes, "pods": pods}.items()
                  if k in used}
        if stmt.strip().startswith("CREATE TEMP TABLE b_nodes"):
            con.execute(stmt, [nodes])
        else:
            con.execute(stmt, params)


def pandas_allocate(con, start: datetime, end: datetime, step: int) -> float:  # type: ignore[no-untyped-def]
    """The same allocation in plain pandas; returns the allocation-basis total (for a sanity check)."""
    import pandas as pd

    from costmodel import allocate, pricebook

    dt = step / 3600
    book = pricebook.load("neocloud")
    prices = allocate.resolve_node_prices(con, book, start, end)[0].to_pandas()
    req = con.execute("SELECT * FROM raw.container_requests WHERE ts >= ? AND ts < ?", [start, end]).df()
    use = con.execute("SELECT * FROM raw.container_usage WHERE ts >= ? AND ts < ?", [start, end]).df()
    cap = con.execute("SELECT * FROM raw.node_capacity WHERE ts >= ? AND ts < ?", [start, end]).df()
    pods = con.execute("SELECT namespace, pod, labels FROM raw.k8s_pod").df()
    keys = ["ts", "namespace", "pod", "container"]
    wide = req.pivot_table(index=keys + ["node"], columns="resource", values="request", aggfunc="sum").reset_index()
    wide = wide.merge(use, on=keys, how="left").merge(prices, on="node", how="inner")
    wide["running"] = 1.0
    wide["gpu_cost"] = wide.get("nvidia_com_gpu", 0).fillna(0) / wide["gpu_replicas"] * wide["gpu_hourly"] * dt
    wide["cpu_cost"] = wide[["cpu", "cpu_cores"]].fillna(0).max(axis=1) * wide["cpu_core_hourly"] * dt
    wide["ram_cost"] = (wide[["memory", "memory_bytes"]].fillna(0).max(axis=1) / 2**30 * wide["ram_gib_hourly"] * dt)
    capw = cap.pivot_table(index=["ts", "node"], columns="resource", values="capacity").reset_index()
    capw = capw.merge(prices, on="node")
    capw["n_gpu"] = capw["gpus"] * capw["gpu_hourly"] * dt
    capw["n_cpu"] = capw["cpu"] * capw["cpu_core_hourly"] * dt
    capw["n_ram"] = capw["memory"] / 2**30 * capw["ram_gib_hourly"] * dt
    alloc = wide.groupby(["ts", "node"])[["gpu_cost", "cpu_cost", "ram_cost"]].sum().reset_index()
    na = capw.merge(alloc, on=["ts", "node"], how="left").fillna(0)
    for r in ("gpu", "cpu", "ram"):
        na[f"i_{r}"] = (na[f"n_{r}"] - na[f"{r}_cost"]).clip(lower=0)
    idle = na.groupby("ts")[["i_gpu", "i_cpu", "i_ram"]].sum()
    tot = wide.groupby("ts")[["gpu_cost", "cpu_cost", "ram_cost"]].sum().add_prefix("a_")
    wide = wide.merge(idle, on="ts", how="left").merge(tot, on="ts", how="left")
    for r in ("gpu", "cpu", "ram"):
        share = (wide[f"{r}_cost"] / wide[f"a_{r}_cost"]).where(wide[f"a_{r}_cost"] > 0, 0)
        wide[f"r_{r}"] = wide[f"i_{r}"] * share
    wide["own"] = wide[["gpu_cost", "cpu_cost", "ram_cost", "r_gpu", "r_cpu", "r_ram"]].sum(axis=1)
    wide["shared"] = wide["namespace"].isin(["monitoring", "kube-system"])
    s = wide[wide["shared"]].groupby("ts")["own"].sum().rename("S")
    w = wide[~wide["shared"]].groupby("ts")["own"].sum().rename("W")
    wide = wide.merge(s, on="ts", how="left").merge(w, on="ts", how="left").fillna({"S": 0, "W": 0})
    wide["allocation"] = (wide["own"] + wide["S"] * wide["own"] / wide["W"]).where(~wide["shared"], 0)
    pods["team"] = pods["labels"].map(lambda m: dict(m).get("team", "__unallocated__"))
    wide = wide.merge(pods[["namespace", "pod", "team"]], on=["namespace", "pod"], how="left")
    wide["hour"] = wide["ts"].dt.floor("h")
    out = wide.groupby(["hour", "namespace", "pod", "container", "node", "team"])[["own", "allocation"]].sum()
    return float(out["allocation"].sum())


def _case(pods: int, days: int, step: int, workdir: Path) -> dict:
    from costmodel import allocate
    from neocost import warehouse

    hours = days * 24
    path = workdir / f"bench-{pods}-{days}-{step}.duckdb"
    if path.exists():
        path.unlink()
    con = warehouse.connect(path)
    t = time.perf_counter()
    synth(con, pods, hours, step)
    synth_s = time.perf_counter() - t
    start, end = T0, T0 + timedelta(hours=hours)
    full = []
    for _ in range(3 if hours <= 24 * 31 else 1):
        t = time.perf_counter()
        allocate.build(con, start=start, end=end, step_seconds=step)
        full.append(time.perf_counter() - t)
    inc = []
    for k in range(3):
        h = end - timedelta(hours=k + 1)
        t = time.perf_counter()
        allocate.build(con, start=h, end=h + timedelta(hours=1), step_seconds=step)
        inc.append(time.perf_counter() - t)
    total = con.execute("SELECT sum(allocation_cost) FROM mart.cost_hourly WHERE kind <> 'storage'").fetchone()[0]
    # pandas on a slice of hours, scaled linearly (its cost is linear in rows)
    slice_h = min(hours, max(1, int(2_000_000 / (pods * 3600 / step))))
    t = time.perf_counter()
    pd_total = pandas_allocate(con, start, start + timedelta(hours=slice_h), step)
    pd_slice = time.perf_counter() - t
    ours_slice = con.execute("SELECT sum(allocation_cost) FROM mart.cost_hourly WHERE kind IN ('container', 'idle') "
                             "AND hour < ?", [start + timedelta(hours=slice_h)]).fetchone()[0]
    con.close()
    path.unlink()
    return {"pods": pods, "days": days, "step_seconds": step, "pod_hours": pods * hours,
            "container_intervals": pods * hours * 3600 // step, "synth_seconds": synth_s,
            "full_rebuild_seconds": statistics.median(full), "full_runs": len(full),
            "incremental_hour_seconds": statistics.median(inc),
            "pandas_seconds_scaled": pd_slice * hours / slice_h, "pandas_hours_timed": slice_h,
            "pandas_scaled": slice_h < hours, "speedup_vs_pandas": pd_slice * hours / slice_h / statistics.median(full),
            "pandas_slice_total": pd_total, "duckdb_slice_total": ours_slice, "allocation_total": total,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    cases = os.environ.get("NEOCOST_BENCH_COST_CASES", DEFAULT_CASES)
    results = []
    for spec in cases.split(","):
        pods, days, step = (int(x) for x in spec.split(":"))
        proc = subprocess.run([sys.executable, __file__, "--case", str(pods), str(days), str(step)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"case {spec} failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    table = Table(title="cost model (DuckDB SQL) vs pandas, same allocation")
    for col in ("case", "pod-hours", "full rebuild s", "1-h increment s", "peak RSS MiB", "pandas s", "speed-up"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(f"{r['pods']} pods x {r['days']} d @ {r['step_seconds']} s", f"{r['pod_hours']:,}",
                      f"{r['full_rebuild_seconds']:.2f}", f"{r['incremental_hour_seconds']:.2f}",
                      f"{r['peak_rss_mib']:.0f}",
                      f"{r['pandas_seconds_scaled']:.1f}{' (scaled)' if r['pandas_scaled'] else ''}",
                      f"{r['speedup_vs_pandas']:.1f}x")
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cases": results, "cpus": os.cpu_count()}, indent=2, default=str))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        import tempfile

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(_case(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(d)), default=str))
    else:
        main()

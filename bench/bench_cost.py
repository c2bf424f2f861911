"""Cost model: full rebuild, one-hour incremental update and peak memory vs a straightforward pandas allocation.

Raw tables are synthesised in DuckDB with vectorised SQL (``range()``): ``pods`` single-container pods spread
over ``pods / 20`` nodes, every pod running the whole window, one request row per resource (cpu, memory, and
nvidia_com_gpu for 1 pod in 10), usage, network and label history. The synthetic warehouse is cached under
``.bench/cost/`` (its raw tables have no primary-key indexes: those cost the collectors' inserts, not the cost
model). Synthesis, our build and the pandas baseline each run in their own subprocess, so peak RSS is each
one's own. Times are wall-clock medians plus the process CPU time (user + system, all threads): the machine
is shared, and CPU time is what a load spike does not inflate.

The pandas baseline implements the same per-interval allocation the way an analyst would (requests pivot,
merge usage and prices, max(request, usage), node idle, cluster-wide weighted idle spread, shared-namespace
spread including shared egress, tags merge, hourly roll-up). When the whole window would not fit in memory it
is timed on the first hours and scaled linearly (its cost is linear in rows); the table says so. Our build
includes writing and checkpointing the marts; the pandas baseline only computes its result in memory.

Environment: ``NEOCOST_BENCH_COST_CASES`` = comma list of ``pods:days:step_seconds`` (default a reduced set
that fits the shared 2-core CI box; the issue's targets are ``2800:30:300`` (large, 30 days, ~2 M pod-hours)
and ``5000:365:3600`` (a year for 5,000 pods)); ``NEOCOST_BENCH_COST_REPEAT`` = full rebuilds per case
(default 3, 1 above 10 M container-intervals).
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
"""
# per time chunk, so the rows are clustered by ts as a collector writes them (window by window)
SYNTH_CHUNK = """
CREATE OR REPLACE TEMP TABLE b_tc AS SELECT ts FROM b_ts WHERE ts >= $a AND ts < $b;
INSERT INTO raw.container_requests SELECT ts, namespace, pod, 'main', node, r.res,
    CASE r.res WHEN 'cpu' THEN 1 + i % 4 WHEN 'memory' THEN (2 + i % 8) * 2^30 ELSE 1 END, NULL, 1.0
FROM b_tc, b_pods, (VALUES ('cpu'), ('memory'), ('nvidia_com_gpu')) r(res)
WHERE r.res <> 'nvidia_com_gpu' OR i % 10 = 0;
INSERT INTO raw.container_usage SELECT ts, namespace, pod, 'main', (i % 5) * 0.7, (i % 9) * 2^30
FROM b_tc, b_pods;
INSERT INTO raw.pod_network SELECT ts, namespace, pod, 1e6 * (i % 13), 0 FROM b_tc, b_pods;
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
    per = max(1, 2_000_000 // pods)  # intervals per chunk
    for k in range(0, n, per):
        a, b = T0 + timedelta(seconds=k * step), T0 + timedelta(seconds=(k + per) * step)
        for stmt in (s for s in SYNTH_CHUNK.split(";\n") if s.strip()):
            con.execute(stmt, {x: v for x, v in {"a": a, "b": b}.items() if f"${x}" in stmt})


def pandas_allocate(con, start: datetime, end: datetime, step: int) -> float:  # type: ignore[no-untyped-def]
    """The same allocation in plain pandas; returns the allocation-basis total (for a sanity check)."""
    import pandas as pd

    from costmodel import allocate, pricebook
    from neocost.settings import CostModelSettings

    dt = step / 3600
    book = pricebook.load("neocloud")
    cm = CostModelSettings()
    egress_gib = sum(share * book.egress_price(k) for k, share in cm.egress_fallback_split.items())
    shared = list(cm.shared_namespaces)
    allocate.prepare_versions(con)
    prices = pd.DataFrame(allocate.resolve_node_prices(con, book, start, end)[0].data)
    req = con.execute("SELECT * FROM raw.container_requests WHERE ts >= ? AND ts < ?", [start, end]).df()
    use = con.execute("SELECT * FROM raw.container_usage WHERE ts >= ? AND ts < ?", [start, end]).df()
    cap = con.execute("SELECT * FROM raw.node_capacity WHERE ts >= ? AND ts < ?", [start, end]).df()
    pods = con.execute("SELECT namespace, pod, labels FROM raw.k8s_pod").df()
    keys = ["ts", "namespace", "pod", "container"]
    net = con.execute("SELECT * FROM raw.pod_network WHERE ts >= ? AND ts < ?", [start, end]).df()
    run = req.groupby(keys)["running"].max().fillna(1.0).rename("running").reset_index()
    wide = req.pivot_table(index=keys + ["node"], columns="resource", values="request", aggfunc="sum").reset_index()
    wide = wide.merge(run, on=keys).merge(use, on=keys, how="left").merge(prices, on="node", how="inner")
    wide = wide[wide["running"] > 0]
    h = wide["running"] * dt
    wide["gpu_cost"] = wide.get("nvidia_com_gpu", 0).fillna(0) / wide["gpu_replicas"] * wide["gpu_hourly"] * h
    wide["cpu_cost"] = wide[["cpu", "cpu_cores"]].fillna(0).max(axis=1) * wide["cpu_core_hourly"] * h
    wide["ram_cost"] = wide[["memory", "memory_bytes"]].fillna(0).max(axis=1) / 2**30 * wide["ram_gib_hourly"] * h
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
    wide["shared"] = wide["namespace"].isin(shared)
    net["egress"] = net["tx_bytes"].fillna(0) / 2**30 * egress_gib
    net["shared"] = net["namespace"].isin(shared)
    se = net[net["shared"]].groupby("ts")["egress"].sum()
    s = wide[wide["shared"]].groupby("ts")["own"].sum().add(se, fill_value=0).rename("S")
    w = wide[~wide["shared"]].groupby("ts")["own"].sum().rename("W")
    wide = wide.merge(s, on="ts", how="left").merge(w, on="ts", how="left").fillna({"S": 0, "W": 0})
    wide["allocation"] = (wide["own"] + wide["S"] * wide["own"] / wide["W"]).where(~wide["shared"], 0)
    pods["team"] = pods["labels"].map(lambda m: dict(m).get("team", "__unallocated__"))
    wide = wide.merge(pods[["namespace", "pod", "team"]], on=["namespace", "pod"], how="left")
    wide["hour"] = wide["ts"].dt.floor("h")
    out = wide.groupby(["hour", "namespace", "pod", "container", "node", "team"])[["own", "allocation"]].sum()
    net["hour"] = net["ts"].dt.floor("h")
    eg = net[~net["shared"]].groupby(["hour", "namespace", "pod"])["egress"].sum()
    return float(out["allocation"].sum() + eg.sum())


WORK = Path(__file__).resolve().parents[1] / ".bench" / "cost"
PANDAS_MAX_INTERVALS = 3_000_000  # container-intervals the pandas baseline is timed on (then scaled)
NO_PK = {
    "raw.node_capacity": "ts TIMESTAMP, node VARCHAR, resource VARCHAR, capacity DOUBLE, allocatable DOUBLE",
    "raw.container_requests": "ts TIMESTAMP, namespace VARCHAR, pod VARCHAR, container VARCHAR, node VARCHAR, "
                              "resource VARCHAR, request DOUBLE, \"limit\" DOUBLE, running DOUBLE",
    "raw.container_usage": "ts TIMESTAMP, namespace VARCHAR, pod VARCHAR, container VARCHAR, cpu_cores DOUBLE, "
                           "memory_bytes DOUBLE",
    "raw.pod_network": "ts TIMESTAMP, namespace VARCHAR, pod VARCHAR, tx_bytes DOUBLE, rx_bytes DOUBLE",
}


def _usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def _db(pods: int, days: int, step: int) -> Path:
    return WORK / f"cost-{pods}-{days}-{step}.duckdb"


def _synth_case(pods: int, days: int, step: int) -> dict:
    from neocost import warehouse

    path = _db(pods, days, step)
    if path.exists():
        return {"cached": True}
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = warehouse.connect(tmp)
    for table, cols in NO_PK.items():
        con.execute(f"DROP TABLE {table}")
        con.execute(f"CREATE TABLE {table} ({cols})")
    t = time.perf_counter()
    synth(con, pods, days * 24, step)
    con.execute("CHECKPOINT")
    con.close()
    tmp.rename(path)
    return {"cached": False, "synth_seconds": time.perf_counter() - t}


def _build_case(pods: int, days: int, step: int) -> dict:
    from costmodel import allocate
    from neocost import warehouse
    from neocost.settings import WarehouseSettings

    con = warehouse.open_writer(WarehouseSettings(path=_db(pods, days, step)))  # as `neocost cost` opens it
    hours = days * 24
    start, end = T0, T0 + timedelta(hours=hours)
    intervals = pods * hours * 3600 // step
    repeat = int(os.environ.get("NEOCOST_BENCH_COST_REPEAT", 3 if intervals <= 10_000_000 else 1))
    full, full_cpu = [], []
    for _ in range(repeat):
        c0, t0 = _usage()[0], time.perf_counter()
        allocate.build(con, start=start, end=end, step_seconds=step)
        con.execute("CHECKPOINT")  # persisting the marts is part of the rebuild (else the next write pays it)
        full.append(time.perf_counter() - t0)
        full_cpu.append(_usage()[0] - c0)
    inc, inc_cpu = [], []
    for k in range(5):
        h = end - timedelta(hours=k + 1)
        c0, t0 = _usage()[0], time.perf_counter()
        allocate.build(con, start=h, end=h + timedelta(hours=1), step_seconds=step)
        inc.append(time.perf_counter() - t0)
        inc_cpu.append(_usage()[0] - c0)
    total = con.execute("SELECT sum(allocation_cost) FROM mart.cost_hourly WHERE kind <> 'storage'").fetchall()[0][0]
    slice_h = _pandas_hours(pods, hours, step)
    slice_total = con.execute("SELECT sum(allocation_cost) FROM mart.cost_hourly WHERE kind <> 'storage' "
                              "AND hour < ?", [start + timedelta(hours=slice_h)]).fetchall()[0][0]
    con.close()
    return {"full_runs": full, "full_cpu": full_cpu, "incremental_runs": inc, "incremental_cpu": inc_cpu,
            "allocation_total": total, "duckdb_slice_total": slice_total, "peak_rss_mib": _usage()[1]}


def _pandas_hours(pods: int, hours: int, step: int) -> int:
    return min(hours, max(1, PANDAS_MAX_INTERVALS // (pods * 3600 // step)))


def _pandas_case(pods: int, days: int, step: int) -> dict:
    import duckdb

    hours = days * 24
    slice_h = _pandas_hours(pods, hours, step)
    con = duckdb.connect(str(_db(pods, days, step)), read_only=True)
    c0, t0 = _usage()[0], time.perf_counter()
    total = pandas_allocate(con, T0, T0 + timedelta(hours=slice_h), step)
    wall, cpu = time.perf_counter() - t0, _usage()[0] - c0
    con.close()
    return {"pandas_hours_timed": slice_h, "pandas_scaled": slice_h < hours, "pandas_slice_seconds": wall,
            "pandas_slice_cpu": cpu, "pandas_seconds": wall * hours / slice_h, "pandas_cpu": cpu * hours / slice_h,
            "pandas_slice_total": total, "pandas_peak_rss_mib": _usage()[1]}


def _sub(mode: str, pods: int, days: int, step: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, mode, str(pods), str(days), str(step)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {pods}:{days}:{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    cases = os.environ.get("NEOCOST_BENCH_COST_CASES", DEFAULT_CASES)
    load0 = os.getloadavg()
    results = []
    for spec in cases.split(","):
        pods, days, step = (int(x) for x in spec.split(":"))
        r = {"pods": pods, "days": days, "step_seconds": step, "pod_hours": pods * days * 24,
             "container_intervals": pods * days * 24 * 3600 // step, "load_before": os.getloadavg()[0]}
        r.update(_sub("--synth", pods, days, step))
        r.update(_sub("--build", pods, days, step))
        r.update(_sub("--pandas", pods, days, step))
        r["load_after"] = os.getloadavg()[0]
        r["full_rebuild_seconds"] = statistics.median(r["full_runs"])
        r["full_rebuild_cpu_seconds"] = statistics.median(r["full_cpu"])
        r["incremental_hour_seconds"] = statistics.median(r["incremental_runs"])
        r["incremental_hour_cpu_seconds"] = statistics.median(r["incremental_cpu"])
        r["speedup_vs_pandas"] = r["pandas_seconds"] / r["full_rebuild_seconds"]
        r["speedup_vs_pandas_cpu"] = r["pandas_cpu"] / r["full_rebuild_cpu_seconds"]
        results.append(r)
    table = Table(title=f"cost model (DuckDB SQL) vs pandas, same allocation — {os.cpu_count()} CPUs, "
                        f"load average {load0[0]:.1f} at start")
    for col in ("case", "pod-hours", "full s (cpu s)", "1-h incr. s (cpu s)", "peak RSS MiB", "pandas s (cpu s)",
                "pandas RSS MiB", "speed-up wall / cpu"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(f"{r['pods']} pods x {r['days']} d @ {r['step_seconds']} s", f"{r['pod_hours']:,}",
                      f"{r['full_rebuild_seconds']:.2f} ({r['full_rebuild_cpu_seconds']:.2f})",
                      f"{r['incremental_hour_seconds']:.2f} ({r['incremental_hour_cpu_seconds']:.2f})",
                      f"{r['peak_rss_mib']:.0f}",
                      f"{r['pandas_seconds']:.1f} ({r['pandas_cpu']:.1f})"
                      + (f" scaled from {r['pandas_hours_timed']} h" if r["pandas_scaled"] else ""),
                      f"{r['pandas_peak_rss_mib']:.0f}",
                      f"{r['speedup_vs_pandas']:.1f}x / {r['speedup_vs_pandas_cpu']:.1f}x")
    Console(width=160).print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cases": results, "cpus": os.cpu_count(), "load_start": load0,
                                   "load_end": os.getloadavg()}, indent=2, default=str))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--synth", "--build", "--pandas"):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        fn = {"--synth": _synth_case, "--build": _build_case, "--pandas": _pandas_case}[sys.argv[1]]
        print(json.dumps(fn(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])), default=str))
    else:
        main()

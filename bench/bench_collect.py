"""Benchmark: `neocost collect` (Prometheus) against the ceiling and the usual pick, in one run.

On the simulator's ``large`` scale (default 7 days; ``NEOCOST_BENCH_DAYS``), backfilled into a throwaway
Prometheus (cached under ``.bench/``: simulated one day at a time, each day's OpenMetrics backfilled by its own
promtool run and deleted before the next day is written), the
last ``NEOCOST_BENCH_SPAN`` days (default all) are collected three ways:

- (a) ceiling: the same queries, batches and shards, plain HTTP (identity) + orjson decode with GC paused,
  discarded;
- (b) usual pick: prometheus-api-client ``custom_query_range`` per query and time chunk + ``MetricRangeDataFrame``
  (pandas) -> DuckDB;
- (c) ``collect_prometheus`` end to end into a fresh DuckDB file (default settings).

Each path runs in its own subprocess (peak RSS and process CPU seconds, all threads, from
``resource.getrusage``; stopped above ``NEOCOST_BENCH_RSS_LIMIT_MIB``); the Prometheus server's CPU seconds
during each run come from ``/proc``; medians of ``REPEATS`` (``NEOCOST_BENCH_REPEATS``, default 3) interleaved
runs; the 1-minute load average is recorded before and after each run (the machine is shared: compare CPU
seconds when wall times are noisy). Goals: (c) >= 0.8 x (a) samples/s, (c) >= 3 x
faster than (b), (c) peak RSS < 1 GiB. Writes ``bench/results/collect.json``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".bench"
RESULTS = REPO / "bench" / "results" / "collect.json"
# large/7d is the goal's setting (~143 M samples, 44 GB of OpenMetrics written and deleted a day at a time; per-day
# chunks keep promtool at ~1 GB anonymous + the mapped 6.3 GB chunk). Smaller runs: NEOCOST_BENCH_DAYS=2
# NEOCOST_BENCH_SPAN=1.
SCALE = os.environ.get("NEOCOST_BENCH_SCALE", "large")
DAYS = int(os.environ.get("NEOCOST_BENCH_DAYS", "7"))
# days collected (the last SPAN days of the simulation): a shorter span reuses a longer simulation's TSDB
SPAN = int(os.environ.get("NEOCOST_BENCH_SPAN", str(DAYS)))
SEED = 1
END = datetime(2026, 11, 20)
REPEATS = int(os.environ.get("NEOCOST_BENCH_REPEATS", "3"))
OPENMETRICS_GB_PER_DAY = {"large": 6.3}  # the simulation's text, one day on disk at a time


def prepare() -> Path:
    """The backfilled TSDB, cached. The simulation is written one day at a time; each day's OpenMetrics chunk
    is backfilled by its own promtool run (24 h blocks) and deleted before the next day is written. promtool's
    memory is bounded by one day (it maps and re-parses its whole input per output block: large/7d as one
    file passed 12.9 GB RSS), and the disk holds one day of text (large: 6.3 GB) instead of the whole run."""
    from neocost import services
    from neocost.simulate import simulate
    sim = CACHE / f"sim-{SCALE}-{DAYS}d"
    tsdb = CACHE / f"tsdb-{SCALE}-{DAYS}d"
    if (sim / "truth.json").exists() and len(list(tsdb.glob(".done-*"))) >= DAYS:
        return tsdb
    need = OPENMETRICS_GB_PER_DAY.get(SCALE, 0.0) * 1e9 * 1.2  # one day on disk, plus a fifth for the TSDB
    free = shutil.disk_usage(CACHE.parent).free
    if need > free:
        raise RuntimeError(f"bench_collect: simulating {SCALE} writes ~{need / 1e9:.0f} GB of OpenMetrics a day "
                           f"(backfilled and deleted day by day), and {free / 1e9:.0f} GB are free; free disk space "
                           "or use a smaller scale (NEOCOST_BENCH_SCALE=medium)")
    tsdb.mkdir(parents=True, exist_ok=True)

    def backfill(chunk: Path) -> None:
        done = tsdb / f".done-{chunk.stem}"
        if not done.exists():  # a day an interrupted run already backfilled is not backfilled twice
            t = time.time()
            services.backfill(chunk, tsdb, max_block_duration="24h")
            done.write_text("ok")
            print(f"backfilled {chunk.name} ({chunk.stat().st_size / 1e9:.1f} GB) in {time.time() - t:.0f}s",
                  file=sys.stderr)
        chunk.unlink()

    t = time.time()
    s = simulate(sim, days=DAYS, seed=SEED, scale=SCALE, end=END, metrics_chunk_days=1, on_chunk=backfill)
    (sim / "summary.json").write_text(json.dumps({"series": s.series, "samples": s.samples, "nodes": s.nodes,
                                                  "pods": s.pods, "gpus": s.gpus}))
    print(f"simulated and backfilled {SCALE} {DAYS}d in {time.time() - t:.0f}s: {s.series:,} series, "
          f"{s.samples:,} samples", file=sys.stderr)
    return tsdb


def _settings(url: str):  # type: ignore[no-untyped-def]
    from neocost.settings import load_settings
    return load_settings(None, {"prometheus": {"url": url}}, environ={})  # defaults: 1 d windows, 2 workers


def _tasks(url: str):  # type: ignore[no-untyped-def]
    """Exactly the (query, shard) list ``neocost collect`` runs for the span: per commit window, every catalog
    query split into the same time shards."""
    from collector.prometheus.collect import Collector
    from collector.prometheus.shards import split_window, windows
    from neocost.settings import parse_duration
    s = _settings(url)
    p = s.prometheus
    col = Collector(s, None, client=object())  # type: ignore[arg-type]
    tasks = []
    for w in windows(END - timedelta(days=SPAN), END, parse_duration(p.window)):
        for bs, be in col.batches(*w):
            shards = split_window(bs, be, 300, max_points=p.max_points_per_series, parts=p.shards_per_query)
            tasks += [(q, sh) for q in col.queries for sh in shards]
    return s, tasks


def path_ceiling(url: str) -> dict:
    """Fetch (identity) + orjson decode with GC paused, count the samples, discard."""
    from collector.prometheus.client import PromClient, decode_matrix, gc_paused
    s, tasks = _tasks(url)
    client = PromClient(s.prometheus)

    def one(task):  # type: ignore[no-untyped-def]
        q, sh = task
        first, last = sh.eval_range(q.counter)
        body = client.fetch_range(q.promql(s.prometheus.resolution), first / 1000, last / 1000, 300, name=q.name)
        with gc_paused():
            res = decode_matrix(body)
            return sum(len(r["values"]) for r in res)

    t = time.perf_counter()
    with ThreadPoolExecutor(s.prometheus.workers) as pool:
        samples = sum(pool.map(one, tasks))
    return {"seconds": time.perf_counter() - t, "samples": samples, "requests": len(tasks)}


def path_usual(url: str) -> dict:
    """prometheus-api-client as a typical user would: ``custom_query_range`` per query and time chunk (the same
    1-day windows and shards as neocost, which keeps every request under 11,000 points and bounds memory),
    ``MetricRangeDataFrame`` (pandas), then ``CREATE TABLE ... AS SELECT * FROM df`` in DuckDB. Same worker
    count; each worker converts and writes its own chunk (a cursor per thread), so nothing piles up."""
    import threading
    import duckdb
    from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect
    s, tasks = _tasks(url)
    pc = PrometheusConnect(url=url)
    con = duckdb.connect(tempfile.mktemp(suffix=".duckdb"))
    local = threading.local()

    def one(item):  # type: ignore[no-untyped-def]
        i, (q, sh) = item
        first, last = sh.eval_range(q.counter)
        # the library rounds start/end to whole seconds: evaluate on the plain grid (same number of points)
        data = pc.custom_query_range(q.promql(s.prometheus.resolution),
                                     datetime.fromtimestamp((first + 1) / 1000, timezone.utc),
                                     datetime.fromtimestamp((last + 1) / 1000, timezone.utc), "300")
        if not data:
            return 0
        df = MetricRangeDataFrame(data).reset_index()
        del data
        df.columns = [str(c) for c in df.columns]
        if not hasattr(local, "cur"):
            local.cur = con.cursor()
        local.cur.register("df", df)
        local.cur.execute(f"CREATE TABLE t{i} AS SELECT * FROM df")
        local.cur.unregister("df")
        return len(df)

    t = time.perf_counter()
    with ThreadPoolExecutor(s.prometheus.workers) as pool:
        samples = sum(pool.map(one, enumerate(tasks)))
    return {"seconds": time.perf_counter() - t, "samples": samples, "requests": len(tasks)}


def path_neocost(url: str) -> dict:
    from collector.prometheus.collect import collect_prometheus
    from neocost import warehouse
    s = _settings(url)
    # opened as `neocost collect` opens it, on a throwaway file
    con = warehouse.open_writer(s.warehouse.model_copy(update={"path": Path(tempfile.mktemp(suffix=".duckdb"))}))
    t = time.perf_counter()
    res = collect_prometheus(s, con, start=END - timedelta(days=SPAN), end=END)
    assert res.status == "ok", res.skipped
    return {"seconds": time.perf_counter() - t, "samples": res.samples, "rows": sum(res.tables.values())}


PATHS = {"ceiling": path_ceiling, "usual": path_usual, "neocost": path_neocost}


def _child(name: str, url: str) -> None:
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    out = PATHS[name](url)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_mib"] = ru.ru_maxrss / 1024
    # process CPU (all threads: decode, polars, DuckDB) of the measured part, imports excluded
    out["cpu_seconds"] = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    print(json.dumps(out))


RSS_LIMIT_MIB = int(os.environ.get("NEOCOST_BENCH_RSS_LIMIT_MIB", "8000"))  # shared machine: stop a runaway path


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(name: str, url: str, server_pid: int) -> dict:
    """One path in its own process (peak RSS is its own), killed above ``RSS_LIMIT_MIB``; load average and the
    Prometheus server's CPU seconds during the run noted."""
    load = os.getloadavg()[0]
    server_cpu = _cpu_of(server_pid)
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_collect", "--child", name, url], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        if _rss_mib(proc.pid) > RSS_LIMIT_MIB:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"bench path {name} passed {RSS_LIMIT_MIB} MiB RSS and was stopped")
        time.sleep(0.5)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"bench path {name} failed:\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    res["server_cpu_seconds"] = _cpu_of(server_pid) - server_cpu
    return res


def _tsdb_stats(tsdb: Path) -> dict:
    """Series and samples stored in the blocks overlapping the collected span (from the blocks' meta.json)."""
    lo = (END - timedelta(days=SPAN)).replace(tzinfo=timezone.utc).timestamp() * 1000
    hi = END.replace(tzinfo=timezone.utc).timestamp() * 1000
    metas = [json.loads(m.read_text()) for m in tsdb.glob("*/meta.json")]
    inside = [m for m in metas if m["minTime"] < hi and m["maxTime"] > lo]
    return {"blocks": len(inside), "samples": sum(m["stats"]["numSamples"] for m in inside),
            "max_series_per_block": max((m["stats"]["numSeries"] for m in inside), default=0)}


def main() -> dict:
    from neocost import services
    tsdb = prepare()
    runs: dict[str, list[dict]] = {k: [] for k in PATHS}
    with services.PrometheusServer(tsdb) as prom:
        pid = prom.proc.pid
        _run("ceiling", prom.url, pid)  # warm the page cache
        for _ in range(REPEATS):
            for name in PATHS:  # interleaved so drift on the shared machine hits every path alike
                runs[name].append(_run(name, prom.url, pid))
    summary = {}
    for name, rs in runs.items():
        sec = statistics.median(r["seconds"] for r in rs)
        samples = rs[0]["samples"]
        assert all(r["samples"] == samples for r in rs), f"{name}: sample counts differ between runs"
        summary[name] = {"seconds_median": round(sec, 3), "samples": samples,
                         "samples_per_s": round(samples / sec), "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs)),
                         "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in rs), 1),
                         "server_cpu_seconds_median": round(statistics.median(r["server_cpu_seconds"] for r in rs), 1),
                         "runs": [round(r["seconds"], 3) for r in rs],
                         "cpu_seconds_runs": [round(r["cpu_seconds"], 1) for r in rs]}
    c, a, b = summary["neocost"], summary["ceiling"], summary["usual"]
    ratios = {"neocost_vs_ceiling_samples_per_s": round(c["samples_per_s"] / a["samples_per_s"], 3),
              "neocost_speedup_vs_usual": round(b["seconds_median"] / c["seconds_median"], 2)}
    goals = {"vs_ceiling>=0.8": ratios["neocost_vs_ceiling_samples_per_s"] >= 0.8,
             "speedup_vs_usual>=3": ratios["neocost_speedup_vs_usual"] >= 3,
             "peak_rss<1GiB": c["peak_rss_mib"] < 1024}
    sim = CACHE / f"sim-{SCALE}-{DAYS}d" / "summary.json"
    result = {"scale": SCALE, "simulated_days": DAYS, "collected_days": SPAN, "repeats": REPEATS,
              "simulation": json.loads(sim.read_text()) if sim.exists() else None, "tsdb": _tsdb_stats(tsdb),
              "load_avg_1m": [r["load_avg_1m"] for rs in runs.values() for r in rs],
              "paths": summary, "ratios": ratios, "goals": goals}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'path':10s} {'median s':>9s} {'samples':>11s} {'samples/s':>11s} {'peak MiB':>9s} {'CPU s':>7s} "
          f"{'server CPU s':>12s}")
    for name, v in summary.items():
        print(f"{name:10s} {v['seconds_median']:9.2f} {v['samples']:11,d} {v['samples_per_s']:11,d} "
              f"{v['peak_rss_mib']:9d} {v['cpu_seconds_median']:7.1f} {v['server_cpu_seconds_median']:12.1f}")
    print(json.dumps(ratios), json.dumps(goals))
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        prepare()
    elif len(sys.argv) > 1:
        print(__doc__)
        raise SystemExit(0 if sys.argv[1] in ("-h", "--help") else 2)
    else:
        main()

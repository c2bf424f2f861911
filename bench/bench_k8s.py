"""Benchmark: the Kubernetes collector listing 10,000 pods (pages of 500) — raw JSON + orjson vs typed models.

Both paths go through the official client against the list-API stub over HTTP
(``K8sListServer.from_objects(pods=synthetic_pod_list(10000)["items"])``). Medians of 5 runs:

- ``raw_json``: ``_preload_content=False`` + ``orjson.loads`` (the collector's default);
- ``typed_models``: the client's pydantic models only (``list_pod_for_all_namespaces`` as usually called);
- ``typed_to_dicts``: models converted back to API dicts, which is what ``fast=False`` does;
- ``normalize``: turning the 10,000 dicts into raw.k8s_pod rows (shared by both paths);
- ``collect``: the whole ``collect_kubernetes`` (list + normalise + SCD-2 merge into DuckDB), fast path.

Peak Python heap (tracemalloc, a separate pass) per listing path. Writes ``bench/results/k8s.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


def _peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)

    from kubernetes.client import CoreV1Api

    from collector.kubernetes import collect_kubernetes, normalize
    from collector.kubernetes.client import build_api_client
    from collector.kubernetes.listing import list_all
    from neocost import warehouse
    from neocost.settings import Settings
    from neocost.simulate.k8s_api import K8sListServer
    from neocost.simulate.k8s_objects import synthetic_pod_list

    items = synthetic_pod_list(args.pods)["items"]
    with K8sListServer.from_objects(pods=items) as server, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = server.write_kubeconfig(Path(tmp) / "config")
        settings = Settings(kubernetes={"kubeconfig": str(kubeconfig), "page_size": args.page_size})
        client = build_api_client(settings.kubernetes)
        core = CoreV1Api(client)

        def raw() -> list[dict]:
            return list_all(client, "pods", page_size=args.page_size, fast=True).items

        def typed_models() -> int:
            n, token = 0, None
            while True:
                lst = core.list_pod_for_all_namespaces(
                    limit=args.page_size, **({"_continue": token} if token else {})
                )
                n += len(lst.items)
                token = lst.metadata.var_continue
                if not token:
                    return n

        def typed_dicts() -> list[dict]:
            return list_all(client, "pods", page_size=args.page_size, fast=False).items

        raw()  # warm up connections and imports
        results: dict[str, Any] = {}
        for name, fn in (("raw_json", raw), ("typed_models", typed_models), ("typed_to_dicts", typed_dicts)):
            med, times, out = _time(fn, args.runs)
            count = out if isinstance(out, int) else len(out)
            assert count == args.pods, f"{name} listed {count} pods, expected {args.pods}"
            results[name] = {
                "median_seconds": med,
                "runs_seconds": [round(t, 3) for t in times],
                "peak_python_heap_mib": round(_peak_mib(fn), 1),
            }
        dicts = raw()
        med, times, _ = _time(lambda: [normalize.pod_row(p) for p in dicts], args.runs)
        results["normalize"] = {"median_seconds": med, "runs_seconds": [round(t, 3) for t in times]}

        def collect() -> None:
            con = warehouse.connect(":memory:")
            collect_kubernetes(settings, con, api_client=client, now=datetime(2026, 11, 20))
            con.close()

        med, times, _ = _time(collect, args.runs)
        results["collect"] = {"median_seconds": med, "runs_seconds": [round(t, 3) for t in times]}
        body = sum(len(json.dumps(p)) for p in items)
        client.close()

    base = results["raw_json"]["median_seconds"]
    out = {
        "benchmark": "k8s",
        "pods": args.pods,
        "page_size": args.page_size,
        "runs": args.runs,
        "json_mib": round(body / 2**20, 1),
        "results": results,
        "typed_models_vs_raw_json": round(results["typed_models"]["median_seconds"] / base, 2),
        "typed_to_dicts_vs_raw_json": round(results["typed_to_dicts"]["median_seconds"] / base, 2),
        "python": sys.version.split()[0],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "k8s.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"Kubernetes list, {args.pods:,} pods ({out['json_mib']} MiB JSON), pages of {args.page_size}, "
        f"median of {args.runs}"
    )
    print(f"{'path':<16}{'seconds':>10}{'vs raw':>9}{'peak heap MiB':>15}")
    for name, r in results.items():
        heap = r.get("peak_python_heap_mib")
        print(
            f"{name:<16}{r['median_seconds']:>10.3f}{r['median_seconds'] / base:>8.1f}x"
            f"{heap if heap is not None else '':>15}"
        )
    return out


if __name__ == "__main__":
    main()

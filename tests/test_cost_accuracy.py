"""Cost model vs the simulator's truth.json (two seeds): simulate -> backfill -> collect (Prometheus with
kube-state-metrics metadata, S3 inventory on moto; seed 1 also the Kubernetes list API, so nodes and pods gone
before collection time have only kube-state-metrics rows) -> build with the simulator's price book -> compare
every number key by key within the issue's tolerances."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from costmodel import allocate, compare, report
from neocost import services, warehouse
from neocost.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SIM_END = datetime(2026, 11, 20)

# (key prefix, relative tolerance): the accuracy targets
TOLERANCES = [
    ("totals.total_cost", 0.005), ("totals.", 0.005), ("gpu_hours.", 0.005),
    ("cost.usage.team.", 0.01), ("cost.allocation.team.", 0.01),
    ("models.", 0.02), ("volumes.", 0.005),
]


def _tolerance(key: str) -> float | None:
    for prefix, tol in TOLERANCES:
        if key.startswith(prefix):
            return tol
    return None


@pytest.fixture(scope="module", params=[1, 2], ids=lambda s: f"seed{s}")
def run(request: pytest.FixtureRequest, sim_run_factory: Callable[..., Any],
        prometheus_for: Callable[[Any], Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sim = sim_run_factory(seed=request.param, days=2, scale="small", end=SIM_END)
    prom = prometheus_for(sim)
    from collector.prometheus.collect import collect_prometheus

    con = warehouse.connect(tmp_path_factory.mktemp("acc") / "w.duckdb")
    settings = Settings(prometheus={"url": prom.url})
    k8s = None
    if request.param == 1:  # the k8s_api fixture serves sim_small = seed 1, 2 days, ending SIM_END
        k8s = request.getfixturevalue("k8s_api")
        settings = Settings(prometheus={"url": prom.url},
                            kubernetes={"enabled": True, "kubeconfig": str(k8s.kubeconfig)})
    collect_prometheus(settings, con, start=sim.start, end=sim.end)
    if k8s is not None:
        from collector.kubernetes import collect_kubernetes

        res = collect_kubernetes(settings, con, now=sim.end)
        assert res.status == "ok", res
        sources = dict(con.execute("SELECT source, count(*) FROM raw.k8s_node GROUP BY 1").fetchall())
        assert sources.get("api", 0) > 0 and sources.get("ksm", 0) > 0, sources
    if (sim.dir / "s3" / "buckets.json").exists():
        from collector.s3 import collect_s3

        with services.MotoS3Server() as s3:
            client = s3.client()
            services.upload_tree(client, sim.dir / "s3")
            collect_s3(Settings(s3={"endpoint_url": s3.endpoint_url,
                                    "inventory": ["s3://neocost-inventory/inventory"]}),
                       con, client=client, now=sim.end)
    book = allocate.load_book(Settings().costmodel, [Path(sim.dir) / "pricebook.toml"])
    res = allocate.build(con, book=book, start=sim.start, end=sim.end)
    rep = report.truth_report(con, res.start, res.end)
    yield {"truth": sim.truth, "report": rep, "diffs": compare.compare(sim.truth, rep), "build": res}
    con.close()


def test_no_missing_keys(run: dict[str, Any]) -> None:
    missing = [str(d) for d in run["diffs"] if d.rel_error is None and d.abs_error is None]
    assert not missing, "\n".join(missing)


def test_every_number_within_tolerance(run: dict[str, Any]) -> None:
    bad = []
    for d in run["diffs"]:
        tol = _tolerance(d.key)
        if tol is None or d.abs_error is None:
            continue
        if d.abs_error > 1e-6 and (d.rel_error is None or d.rel_error > tol):
            bad.append(f"{d} > {tol:.1%}")
    assert not bad, "\n".join(bad)


def test_headline_numbers(run: dict[str, Any]) -> None:
    t, r = run["truth"], run["report"]
    assert r["totals"]["total_cost"] == pytest.approx(t["totals"]["total_cost"], rel=0.005)
    assert r["gpu_hours"]["allocated"] == pytest.approx(t["gpu_hours"]["allocated"], rel=0.005)
    assert t["totals"]["volume_cost"] > 0
    assert r["totals"]["volume_cost"] == pytest.approx(t["totals"]["volume_cost"], rel=0.005)
    assert r["cost"]["usage"]["team"]["__unmounted__"] == pytest.approx(t["volumes"]["unmounted_cost"], rel=0.005)
    assert set(r["cost"]["allocation"]["team"]) == set(t["cost"]["allocation"]["team"])
    for model, m in t["models"].items():
        for metric in ("cost_per_1k_tokens", "cost_per_inference"):
            for basis in ("usage", "allocation"):
                if m[metric][basis] is not None:
                    assert r["models"][model][metric][basis] == pytest.approx(m[metric][basis], rel=0.02), \
                        (model, metric, basis)
    assert not run["build"].defaulted_nodes

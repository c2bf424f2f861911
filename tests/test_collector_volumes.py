"""Persistent volume rows (raw.pvc, raw.pod_pvc): the normaliser on literal frames, and a real Prometheus holding
sim_small compared claim by claim with the simulator's own claims."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import pytest

from collector.prometheus import catalog, normalize, volumes
from collector.prometheus.fastmatrix import Matrix
from collector.prometheus.parts import Part
from collector.prometheus.collect import Collector
from collector.prometheus.shards import Shard, ms
from neocost import services, warehouse
from neocost.settings import load_settings
from neocost.timeutil import to_unix

W0 = datetime(2026, 11, 19)


def _rows(name: str, rows: list[tuple[dict[str, str], float]]) -> Part:
    s = Shard(ms(W0), 300_000, 0, 1)
    q = next(q for q in catalog.catalog() if q.name == name)
    t = s.eval_range(q.counter)[0]
    res = [{"metric": m, "values": [[t / 1000, str(v)]]} for m, v in rows]
    return normalize.rows_from_matrix(q, Matrix.from_result(res), s)


def test_pvc_rows_join_request_info_and_used() -> None:
    a = {"namespace": "db", "persistentvolumeclaim": "data-0"}
    b = {"namespace": "db", "persistentvolumeclaim": "orphan"}
    frames = {
        "pvc_request": _rows("pvc_request", [(a, 2.0**31), (b, 2.0**30)]),
        "pvc_info": _rows("pvc_info", [(a | {"storageclass": "network-ssd", "volumename": "pvc-1"}, 1)]),
        # two kubelets briefly report the same claim (pod moved): the mean
        "pvc_used": _rows("pvc_used", [(a | {"node": "n1"}, 100.0), (a | {"node": "n2"}, 300.0)]),
        # ServiceMonitor without honorLabels: the claim's namespace is exported_namespace
        "pod_pvc": _rows("pod_pvc", [({"namespace": "monitoring", "exported_namespace": "db", "pod": "db-0",
                                       "persistentvolumeclaim": "data-0"}, 1)]),
    }
    pvc = volumes.pvc(frames, 300).sort("persistentvolumeclaim").to_dicts()
    assert [(r["persistentvolumeclaim"], r["storageclass"], r["volume"], r["request_bytes"], r["used_bytes"])
            for r in pvc] == [("data-0", "network-ssd", "pvc-1", 2.0**31, 200.0), ("orphan", "", "", 2.0**30, None)]
    assert pvc[0]["ts"] == W0
    assert volumes.pod_pvc(frames, 300).rows() == [(W0, "db", "db-0", "data-0")]
    assert volumes.pvc({}, 300).height == 0 and volumes.pod_pvc({}, 300).height == 0


@pytest.mark.integration
def test_volume_rows_match_the_simulator(prometheus: services.PrometheusServer, sim_small: Any,
                                         tmp_path: Any) -> None:
    from neocost.simulate.volumes import mounts
    from neocost.simulate.workloads import build_cluster

    con = warehouse.connect(tmp_path / "w.duckdb")
    settings = load_settings(None, {"prometheus": {"url": prometheus.url}}, environ={})
    col = Collector(settings, con)
    col.queries = catalog.VOLUME  # only the volume queries: the other tables are written empty
    try:
        res = col.run(sim_small.start, sim_small.end)
    finally:
        col.client.close()
    assert res.status == "ok", res.skipped

    n = int((sim_small.end - sim_small.start).total_seconds() // 300)
    cl = build_cluster("small", 1, int(to_unix(sim_small.start)), n)
    got = {(ns, c): (rows, sc, vol, req, used) for ns, c, rows, sc, vol, req, used in con.execute(
        "SELECT namespace, persistentvolumeclaim, count(*), any_value(storageclass), any_value(volume), "
        "max(request_bytes), max(used_bytes) FROM raw.pvc GROUP BY ALL").fetchall()}
    want = {(c.namespace, c.name): (c.end - c.start, c.storageclass, c.volume, float(c.request_bytes),
                                    float(int(c.request_bytes * c.used_fraction)) if len(c.pods) == 1 else None)
            for c in cl.claims}
    assert got == want
    assert len(want) == 6
    mounted = dict(((ns, pod, c), k) for ns, pod, c, k in con.execute(
        "SELECT namespace, pod, persistentvolumeclaim, count(*) FROM raw.pod_pvc GROUP BY ALL").fetchall())
    expect = {(c.namespace, cl.pods[k].name, c.name): b - a for c in cl.claims for k, a, b in mounts(cl, c)}
    assert mounted == expect
    # the Job-shared cache: each data-prep pod 36 intervals (1 h running + 2 h kept), one per day
    assert sorted(v for (ns, _, c), v in mounted.items() if c == "feature-cache") == [36, 36]
    con.close()

"""Kubernetes collector against the list-API stub serving the simulator's objects, through the official client
(kubeconfig): row counts and values, typed path = raw JSON path, idempotence, relisting after 410 Gone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.kubernetes import collect_kubernetes
from collector.kubernetes.client import build_api_client
from collector.kubernetes.listing import list_all
from neocost import warehouse
from neocost.errors import CollectError
from neocost.settings import Settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 6, 0)
TABLES = ("raw.k8s_namespace", "raw.k8s_node", "raw.k8s_pod")


def _settings(k8s_api: Any, page_size: int = 7) -> Settings:
    return Settings(
        kubernetes={"enabled": True, "kubeconfig": str(k8s_api.kubeconfig), "page_size": page_size}
    )


def _dump(con) -> dict[str, list[tuple]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def _items(sim_small: Any, name: str) -> list[dict[str, Any]]:
    return json.loads((Path(sim_small.dir) / "k8s" / f"{name}.json").read_text())["items"]


@pytest.fixture(scope="module")
def fast(k8s_api: Any) -> Any:
    con = warehouse.connect(":memory:")
    res = collect_kubernetes(_settings(k8s_api), con, now=NOW)
    yield con, res
    con.close()


def test_every_object_stored_once(fast: Any, sim_small: Any) -> None:
    con, res = fast
    pods = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _items(sim_small, "pods")}
    got = con.execute("SELECT namespace, pod FROM raw.k8s_pod WHERE valid_to IS NULL").fetchall()
    assert len(got) == len(pods) > 7 and set(got) == pods
    assert con.execute("SELECT count(*) FROM raw.k8s_node").fetchone()[0] == len(_items(sim_small, "nodes"))
    assert con.execute("SELECT count(*) FROM raw.k8s_namespace").fetchone()[0] == len(
        _items(sim_small, "namespaces")
    )
    assert res.tables["raw.k8s_pod"] == len(pods) and res.status == "ok"


def test_node_facts_match_truth(fast: Any, sim_small: Any) -> None:
    con, _ = fast
    pools = sim_small.truth["node_pools"]
    rows = con.execute(
        "SELECT node, node_pool, capacity_type, instance_type, gpu_count FROM raw.k8s_node"
    ).fetchall()
    assert {r[1] for r in rows} <= set(pools)
    for node, pool, ctype, itype, _gpus in rows:
        assert ctype == pools[pool]["capacity_type"], node
        assert itype
    by_name = {n["metadata"]["name"]: n for n in _items(sim_small, "nodes")}
    for node, _pool, _ctype, _itype, gpus in rows:
        assert gpus == (
            int(by_name[node]["metadata"]["labels"]["nvidia.com/gpu.count"])
            if "nvidia.com/gpu.count" in by_name[node]["metadata"]["labels"]
            else None
        )


def test_pod_values_spot_check(fast: Any, sim_small: Any) -> None:
    con, _ = fast
    pod = next(
        p
        for p in _items(sim_small, "pods")
        if p["metadata"].get("ownerReferences")
        and any("nvidia.com/gpu" in (c["resources"].get("requests") or {}) for c in p["spec"]["containers"])
    )
    meta = pod["metadata"]
    row = con.execute(
        "SELECT node, owner_kind, owner_name, phase, labels, requests['nvidia_com_gpu'] "
        "FROM raw.k8s_pod WHERE namespace = ? AND pod = ?",
        [meta["namespace"], meta["name"]],
    ).fetchone()
    gpus = sum(float(c["resources"]["requests"].get("nvidia.com/gpu", 0)) for c in pod["spec"]["containers"])
    assert row == (
        pod["spec"]["nodeName"],
        meta["ownerReferences"][0]["kind"],
        meta["ownerReferences"][0]["name"],
        pod["status"]["phase"],
        meta["labels"],
        gpus,
    )


def test_typed_models_path_stores_the_same_rows(fast: Any, k8s_api: Any) -> None:
    con, _ = fast
    other = warehouse.connect(":memory:")
    collect_kubernetes(_settings(k8s_api, page_size=50), other, fast=False, now=NOW)
    assert _dump(other) == _dump(con)


def test_recollecting_leaves_identical_tables(fast: Any, k8s_api: Any) -> None:
    con, _ = fast
    before = _dump(con)
    res = collect_kubernetes(_settings(k8s_api), con, now=NOW + timedelta(hours=1))
    assert _dump(con) == before
    assert res.tables == {t: 0 for t in TABLES}


def test_410_gone_mid_list_relists_from_the_start(k8s_api: Any, sim_small: Any) -> None:
    expired: list[str] = []

    def progress(event: dict[str, Any]) -> None:
        if event.get("kind") == "pods" and event.get("page") == 1 and not expired:
            k8s_api.server.expire_all_tokens()  # the continue token from page 1 is now stale
            expired.append(event)

    con = warehouse.connect(":memory:")
    res = collect_kubernetes(_settings(k8s_api, page_size=5), con, progress=progress, now=NOW)
    assert expired
    assert any("410" in s for s in res.skipped)
    n_pods = len(_items(sim_small, "pods"))
    assert con.execute("SELECT count(*), count(DISTINCT (namespace, pod)) FROM raw.k8s_pod").fetchone() == (
        n_pods,
        n_pods,
    )


def test_persistent_410_is_a_clear_error(k8s_api: Any) -> None:
    client = build_api_client(_settings(k8s_api).kubernetes)

    def expire(kind: str, page: int, items: int) -> None:
        k8s_api.server.expire_all_tokens()

    with pytest.raises(CollectError, match=r"410 Gone\) 3 times"):
        list_all(client, "pods", page_size=3, max_restarts=2, on_page=expire)


def test_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    settings = Settings(kubernetes={"kubeconfig": str(tmp_path / "nope")})
    with pytest.raises(CollectError, match="nope does not exist"):
        collect_kubernetes(settings, warehouse.connect(":memory:"))

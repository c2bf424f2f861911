"""Kubernetes collector, pure parts: normalising API dicts and the SCD-2 history merge."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from collector.kubernetes import history, normalize
from collector.kubernetes.collect import normalize_all
from neocost import warehouse


def node(
    name: str,
    labels: dict[str, str],
    *,
    cpu: str = "16",
    memory: str = "64Gi",
    gpus: str | None = None,
    created: str = "2026-11-01T00:00:00Z",
) -> dict[str, Any]:
    cap = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        cap["nvidia.com/gpu"] = gpus
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": created},
        "status": {"capacity": cap, "allocatable": cap},
    }


def pod(
    ns: str,
    name: str,
    *,
    node_name: str = "n1",
    labels: dict[str, str] | None = None,
    owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9f8b6c5d"),
    phase: str = "Running",
    requests: dict[str, str] | None = None,
    created: str = "2026-11-18T06:00:00Z",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": f"uid-{ns}-{name}",
        "labels": labels or {},
        "creationTimestamp": created,
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": "x", "controller": True}
        ]
    return {
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "main", "resources": {"requests": requests or {"cpu": "500m"}}}],
        },
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"karpenter.sh/capacity-type": "spot"}, "spot"),
        ({"karpenter.sh/capacity-type": "on-demand"}, "on-demand"),
        ({"karpenter.sh/capacity-type": "reserved"}, "reserved"),
        ({"eks.amazonaws.com/capacityType": "SPOT"}, "spot"),
        ({"eks.amazonaws.com/capacityType": "ON_DEMAND"}, "on-demand"),
        ({"cloud.google.com/gke-spot": "true", "cloud.google.com/gke-nodepool": "p"}, "spot"),
        ({"cloud.google.com/gke-preemptible": "true"}, "spot"),
        ({"cloud.google.com/gke-nodepool": "p"}, "on-demand"),
        ({"kubernetes.azure.com/scalesetpriority": "spot"}, "spot"),
        ({"kubernetes.azure.com/scalesetpriority": "regular"}, "on-demand"),
        (
            {"eks.amazonaws.com/capacityType": "CAPACITY_BLOCK"},
            "capacity_block",
        ),  # unknown: kept for the price book
        ({}, None),
    ],
)
def test_capacity_type_from_well_known_labels(labels: dict[str, str], expected: str | None) -> None:
    assert normalize.capacity_type(labels) == expected


def test_configured_capacity_and_pool_labels_win() -> None:
    labels = {
        "nebius.com/preemptible": "true",
        "karpenter.sh/capacity-type": "on-demand",
        "nebius.com/node-group": "gpu-a",
        "karpenter.sh/nodepool": "default",
    }
    labels["nebius.com/preemptible"] = "preemptible"
    row = normalize.node_row(
        node("n", labels),
        capacity_type_label="nebius.com/preemptible",
        node_pool_label="nebius.com/node-group",
    )
    assert (row["capacity_type"], row["node_pool"]) == ("spot", "gpu-a")


def test_node_facts() -> None:
    labels = {
        "node.kubernetes.io/instance-type": "gpu-h100-sxm.8gpu-128vcpu-1600gb",
        "topology.kubernetes.io/region": "eu-north1",
        "topology.kubernetes.io/zone": "eu-north1-a",
        "eks.amazonaws.com/nodegroup": "gpu-train",
        "eks.amazonaws.com/capacityType": "SPOT",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        "nvidia.com/gpu.count": "8",
        "nvidia.com/gpu.replicas": "4",
        "nvidia.com/mig.strategy": "single",
    }
    row = normalize.node_row(node("gpu-1", labels, cpu="128", memory="1600Gi", gpus="32"))
    assert row["instance_type"] == "gpu-h100-sxm.8gpu-128vcpu-1600gb"
    assert (row["region"], row["zone"], row["node_pool"], row["capacity_type"]) == (
        "eu-north1",
        "eu-north1-a",
        "gpu-train",
        "spot",
    )
    assert (row["gpu_product"], row["gpu_count"], row["gpu_replicas"], row["mig_strategy"]) == (
        "NVIDIA-H100-80GB-HBM3",
        8,
        4,
        "single",
    )
    assert row["cpu_cores"] == 128.0 and row["memory_bytes"] == 1600 * 2**30
    assert row["created"] == datetime(2026, 11, 1)


def test_node_beta_instance_label_and_gpu_count_from_capacity() -> None:
    row = normalize.node_row(
        node("a", {"beta.kubernetes.io/instance-type": "m5.large", "agentpool": "sys"}, gpus="2")
    )
    assert (row["instance_type"], row["node_pool"], row["gpu_count"], row["gpu_replicas"]) == (
        "m5.large",
        "sys",
        2,
        1,
    )


def test_pod_owner_controller_and_requests() -> None:
    p = pod("ml", "web-7d9f8b6c5d-abcde", requests={"cpu": "1500m", "memory": "2Gi", "nvidia.com/gpu": "1"})
    p["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}]
    row = normalize.pod_row(p)
    assert (row["owner_kind"], row["owner_name"]) == ("ReplicaSet", "web-7d9f8b6c5d")
    assert (row["controller_kind"], row["controller_name"]) == ("Deployment", "web")
    # effective request = max(sum of containers, max of init containers)
    assert row["requests"] == {"cpu": 2.0, "memory": 2 * 2**30, "nvidia_com_gpu": 1.0}
    assert (row["node"], row["phase"], row["uid"]) == ("n1", "Running", "uid-ml-web-7d9f8b6c5d-abcde")


@pytest.mark.parametrize(
    ("owner", "controller"),
    [
        (("Job", "nightly-eval-29360160"), ("CronJob", "nightly-eval")),
        (("Job", "llm-pretrain-7b"), ("Job", "llm-pretrain-7b")),
        (("StatefulSet", "db"), ("StatefulSet", "db")),
        (None, ("", "")),
    ],
)
def test_top_controller_by_naming_convention(
    owner: tuple[str, str] | None, controller: tuple[str, str]
) -> None:
    row = normalize.pod_row(pod("ns", "p", owner=owner))
    assert (row["controller_kind"], row["controller_name"]) == controller


def test_listed_replicaset_beats_naming_convention() -> None:
    rs = {
        "kind": "ReplicaSet",
        "metadata": {
            "name": "odd",
            "namespace": "ns",
            "ownerReferences": [{"kind": "Deployment", "name": "real-deploy", "controller": True}],
        },
    }
    row = normalize.pod_row(pod("ns", "p", owner=("ReplicaSet", "odd")), normalize.owner_index([rs]))
    assert (row["controller_kind"], row["controller_name"]) == ("Deployment", "real-deploy")


# --- history ------------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 19, 0, 0)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


@pytest.fixture
def con():
    c = warehouse.connect(":memory:")
    yield c
    c.close()


def _apply(con, nodes, pods, namespaces, now) -> None:
    rows = normalize_all(namespaces, nodes, pods)
    with warehouse.transaction(con):
        for kind in ("namespaces", "nodes", "pods"):
            history.merge(con, kind, history.to_arrow(kind, rows[kind]), now)


def _dump(con) -> dict[str, list[tuple]]:
    return {
        t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
        for t in ("raw.k8s_namespace", "raw.k8s_node", "raw.k8s_pod")
    }


def test_history_same_content_changes_nothing(con) -> None:
    nodes = [node("n1", {"karpenter.sh/nodepool": "a", "karpenter.sh/capacity-type": "spot"})]
    pods = [pod("ml", "p1", labels={"team": "x", "app": "y"}), pod("ml", "p2")]
    nss = [{"metadata": {"name": "ml", "labels": {"team": "x"}}}]
    _apply(con, nodes, pods, nss, T0)
    first = _dump(con)
    # label order differs, same content
    pods2 = copy.deepcopy(pods)
    pods2[0]["metadata"]["labels"] = {"app": "y", "team": "x"}
    _apply(con, nodes, pods2, nss, T1)
    assert _dump(con) == first
    assert len(first["raw.k8s_pod"]) == 2
    # first version starts at creationTimestamp, namespaces without one at collection time
    assert con.execute("SELECT DISTINCT valid_from FROM raw.k8s_pod").fetchall() == [
        (datetime(2026, 11, 18, 6),)
    ]
    assert con.execute("SELECT valid_from FROM raw.k8s_namespace").fetchall() == [(T0,)]


def test_history_label_and_pool_change_and_deletion(con) -> None:
    nodes = [node("n1", {"karpenter.sh/nodepool": "a"}), node("n2", {"karpenter.sh/nodepool": "a"})]
    pods = [pod("ml", "p1", labels={"team": "x"}), pod("ml", "p2", labels={"team": "x"})]
    _apply(con, nodes, pods, [], T0)
    nodes[0]["metadata"]["labels"]["karpenter.sh/nodepool"] = "b"
    pods[0]["metadata"]["labels"]["team"] = "z"
    _apply(con, nodes, pods[:1], [], T1)  # p2 gone
    rows = con.execute(
        "SELECT pod, labels['team'], valid_from, valid_to FROM raw.k8s_pod ORDER BY pod, valid_from"
    ).fetchall()
    created = datetime(2026, 11, 18, 6)
    assert rows == [("p1", "x", created, T1), ("p1", "z", T1, None), ("p2", "x", created, T1)]
    nrows = con.execute(
        "SELECT node, node_pool, valid_to FROM raw.k8s_node ORDER BY node, valid_from"
    ).fetchall()
    assert nrows == [("n1", "a", T1), ("n1", "b", None), ("n2", "a", None)]
    # p2 comes back as a new pod with the same name, created between the two runs: it starts at its creation
    pods[1]["metadata"]["creationTimestamp"] = "2026-11-19T01:30:00Z"
    _apply(con, nodes, pods, [], T2)
    assert con.execute(
        "SELECT valid_from, valid_to FROM raw.k8s_pod WHERE pod = 'p2' ORDER BY valid_from"
    ).fetchall() == [(created, T1), (datetime(2026, 11, 19, 1, 30), None)]


def test_history_requests_stored(con) -> None:
    _apply(con, [], [pod("ml", "p", requests={"cpu": "250m", "nvidia.com/gpu": "2"})], [], T0)
    assert con.execute("SELECT requests['cpu'], requests['nvidia_com_gpu'] FROM raw.k8s_pod").fetchone() == (
        0.25,
        2.0,
    )

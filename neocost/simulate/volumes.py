"""Persistent volumes: the claims of the simulated cluster, their kube-state-metrics / kubelet series and their
cost (docs/cost-semantics.md "Persistent volumes"), computed from the claim and pod events.

Claims are derived deterministically from the pods (no random draws), so adding them does not change anything
else the simulator produces for a seed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator

import numpy as np

from neocost.simulate.model import Claim, Cluster, Pod
from neocost.simulate.openmetrics import Family
from neocost.simulate.prices import HOURS_PER_MONTH, VOLUME_PRICES

GiB = 2**30
DT = 1.0 / 12.0
UNMOUNTED = "__unmounted__"


def _volume_name(ns: str, claim: str) -> str:
    return f"pvc-{uuid.uuid5(uuid.NAMESPACE_URL, f'neocost-sim/{ns}/{claim}')}"


def build_claims(cl: Cluster) -> list[Claim]:
    """qdrant and Prometheus StatefulSet claims (network-ssd), a claim left behind by a qdrant scale-down (no pod,
    deleted at mid-window) and a network-hdd cache shared by the daily data-prep Job pods (mounted only while a
    Job pod object exists; otherwise unmounted)."""
    n = cl.n
    claims: list[Claim] = []

    def add(ns: str, name: str, sc: str, gib: int, pods: list[int], start: int = 0, end: int | None = None,
            used: float = 0.5) -> None:
        claims.append(Claim(name, ns, sc, _volume_name(ns, name), gib * GiB, start, n if end is None else end,
                            pods, used))

    qdrant_sets: list[tuple[str, str]] = []
    for k, p in enumerate(cl.pods):
        if p.owner_kind != "StatefulSet":
            continue
        if p.owner_name.startswith("qdrant"):
            add(p.namespace, f"qdrant-storage-{p.name}", "network-ssd", 200, [k], used=0.62)
            if (p.namespace, p.owner_name) not in qdrant_sets:
                qdrant_sets.append((p.namespace, p.owner_name))
        elif p.owner_name.startswith("prometheus"):
            add(p.namespace, f"prometheus-db-{p.name}", "network-ssd", 300, [k], used=0.41)
    for ns, sts in qdrant_sets:
        add(ns, f"qdrant-storage-{sts}-3", "network-ssd", 200, [], end=n // 2, used=0.0)
    crons: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, p in enumerate(cl.pods):
        if p.controller_kind == "CronJob" and p.controller_name.startswith("data-prep"):
            crons[(p.namespace, p.controller_name)].append(k)
    for (ns, cj), pods in crons.items():
        add(ns, f"feature-cache{cj.removeprefix('data-prep')}", "network-hdd", 500, pods, used=0.3)
    return claims


def mounts(cl: Cluster, c: Claim) -> list[tuple[int, int, int]]:
    """(pod index, first, end interval) while the pod object exists and the claim exists."""
    out = []
    for k in c.pods:
        p = cl.pods[k]
        a, b = max(p.start, c.start), min(p.obj_end, cl.n, c.end)
        if b > a:
            out.append((k, a, b))
    return out


def interval_cost(c: Claim) -> float:
    """$ per 5-minute interval of a bound claim: requested GiB × $/GiB-month × Δ / 730."""
    return c.request_bytes / GiB * VOLUME_PRICES[c.storageclass] * DT / HOURS_PER_MONTH


def volume_families(cl: Cluster) -> Iterator[Family]:
    """kube-state-metrics PVC series, the pod spec's claim references and kubelet volume stats."""
    ksm = next((p for p in cl.pods if p.name.startswith("kube-state-metrics")), None)
    scrape = {"job": "kube-state-metrics", "instance": f"{ksm.ip if ksm else '10.0.0.9'}:8080"}
    info = Family("kube_persistentvolumeclaim_info", "gauge",
                  "[STABLE] Information about persistent volume claim.")
    req = Family("kube_persistentvolumeclaim_resource_requests_storage_bytes", "gauge",
                 "[STABLE] The capacity of storage requested by the persistent volume claim.")
    spec = Family("kube_pod_spec_volumes_persistentvolumeclaims_info", "gauge",
                  "[STABLE] Information about persistentvolumeclaim volumes in a pod.")
    used = Family("kubelet_volume_stats_used_bytes", "gauge", "[ALPHA] Number of used bytes in the volume")
    cap = Family("kubelet_volume_stats_capacity_bytes", "gauge", "[ALPHA] Capacity in bytes of the volume")
    for c in cl.claims:
        base = {"namespace": c.namespace, "persistentvolumeclaim": c.name}
        life = c.end - c.start
        info.add("kube_persistentvolumeclaim_info", base | {"storageclass": c.storageclass,
                                                             "volumename": c.volume} | scrape, c.start, np.ones(life))
        req.add("kube_persistentvolumeclaim_resource_requests_storage_bytes", base | scrape, c.start,
                np.full(life, float(c.request_bytes)))
        for k, a, b in mounts(cl, c):
            p = cl.pods[k]
            spec.add("kube_pod_spec_volumes_persistentvolumeclaims_info",
                     {"namespace": p.namespace, "pod": p.name, "uid": p.uid, "volume": "data",
                      "persistentvolumeclaim": c.name, "read_only": "false"} | scrape, a, np.ones(b - a))
        if len(c.pods) == 1:  # kubelet reports stats only while a pod using the volume runs on the node
            p = cl.pods[c.pods[0]]
            a, b = max(p.start, c.start), min(p.end, c.end)
            if b > a:
                nd = cl.node(p.node)
                lab = base | {"job": "kubelet", "instance": f"{nd.ip}:10250", "metrics_path": "/metrics",
                              "node": nd.name}
                used.add("kubelet_volume_stats_used_bytes", lab, a,
                         np.full(b - a, float(int(c.request_bytes * c.used_fraction))))
                cap.add("kubelet_volume_stats_capacity_bytes", lab, a, np.full(b - a, float(c.request_bytes)))
    yield from (info, req, spec, used, cap)


def volume_truth(cl: Cluster, dims: tuple[str, ...], tags_at: Callable[[Pod, int], dict[str, str]]
                 ) -> tuple[dict[str, dict[str, float]], dict]:
    """Per tag dimension, the volume cost by value, and the ``volumes`` section of truth.json.

    ``tags_at(pod, i) -> {dimension: value}``. Per interval a claim's cost is split evenly between the pods
    mounting it then; with none it goes to ``__unmounted__`` in every dimension."""
    by_dim: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_claim: dict[str, dict] = {}
    total = unmounted = 0.0
    for c in cl.claims:
        life = np.arange(c.start, c.end)
        count = np.zeros(cl.n)
        ms = mounts(cl, c)
        for _, a, b in ms:
            count[a:b] += 1
        per = interval_cost(c)
        cost = per * life.size
        free = per * float((count[c.start:c.end] == 0).sum())
        unmounted += free
        total += cost
        for d in dims:
            by_dim[d][UNMOUNTED] += free
        for k, a, b in ms:
            p = cl.pods[k]
            bounds = sorted({a, b} | {f for f, _ in p.labels if a < f < b})
            for i0, i1 in zip(bounds[:-1], bounds[1:]):
                share = float((per / count[i0:i1]).sum())
                for d, v in tags_at(p, i0).items():
                    by_dim[d][v] += share
        by_claim[f"{c.namespace}/{c.name}"] = {"storageclass": c.storageclass, "request_bytes": int(c.request_bytes),
                                               "cost": round(cost, 6)}
    section = {"cost": round(total, 6), "unmounted_cost": round(unmounted, 6),
               "by_claim": dict(sorted(by_claim.items()))}
    return {d: dict(v) for d, v in by_dim.items()}, section

"""Ground truth (``truth.json``) computed directly from the simulated events, per docs/cost-semantics.md.

Never imports ``costmodel``: this is the independent second implementation the cost model is checked against.
Work is done on (segment × interval) matrices, where a segment is one container over one stretch of unchanged pod
labels, so tags are constant per row and the per-interval spreading of the allocation basis is plain numpy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from neocost.simulate.model import MIG_SLICES, Cluster, Pod
from neocost.simulate.prices import EGRESS_PER_GIB, HOURS_PER_MONTH, STORAGE_PRICES, node_price
from neocost.simulate.volumes import volume_truth

GiB = 2**30
DT = 1.0 / 12.0  # hours per interval
TAGS = ("team", "project", "model", "env")
DIMENSIONS = TAGS + ("namespace", "node_pool")
SHARED_NAMESPACES = ("monitoring", "kube-system")
OUTPUT_INPUT_WEIGHT = 4.0
IDLE, SHARED, UNALLOCATED = "__idle__", "__shared__", "__unallocated__"


@dataclass
class Segment:
    pod: Pod
    container: int
    i0: int
    i1: int
    tags: dict[str, str] = field(default_factory=dict)
    shared: bool = False


def gpu_units(cluster: Cluster, pod: Pod, ci: int) -> float:
    """Physical-GPU equivalents of one container (time slices 1/R, MIG 1g = 1/7)."""
    c = pod.containers[ci]
    if not c.gpu_req:
        return 0.0
    if c.gpu_resource.startswith("nvidia_com_mig_"):
        return c.gpu_req / MIG_SLICES
    return c.gpu_req / cluster.node(pod.node).gpu_replicas


def tag_value(cluster: Cluster, pod: Pod, i: int, key: str) -> str:
    """Pod label > namespace label > node label > __unallocated__ (labels in force at interval i)."""
    for labels in (pod.labels_at(i), cluster.namespaces.get(pod.namespace, {}), cluster.node(pod.node).labels):
        if labels.get(key):
            return labels[key]
    return UNALLOCATED


def _pod_tags(cluster: Cluster, pod: Pod, i: int) -> dict[str, str]:
    tags = {k: tag_value(cluster, pod, i, k) for k in TAGS}
    return tags | {"namespace": pod.namespace, "node_pool": cluster.node(pod.node).pool}


def segments(cluster: Cluster) -> list[Segment]:
    out = []
    for pod in cluster.pods:
        bounds = [max(f, pod.start) for f, _ in pod.labels] + [pod.end]
        for (i0, i1) in zip(bounds[:-1], bounds[1:]):
            if i1 <= i0:
                continue
            tags = _pod_tags(cluster, pod, i0)
            for ci in range(len(pod.containers)):
                out.append(Segment(pod, ci, i0, i1, tags, pod.namespace in SHARED_NAMESPACES))
    return out


class Ledger:
    """Per-segment and per-node cost matrices over the window's intervals."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        n = cluster.n
        self.segs = segments(cluster)
        S = len(self.segs)
        self.alloc = {r: np.zeros((S, n)) for r in ("gpu", "cpu", "ram")}
        self.egress = np.zeros((S, n))
        self.gpu_units = np.zeros((S, n))
        self.node_cost = {r: np.zeros((len(cluster.nodes), n)) for r in ("gpu", "cpu", "ram")}
        self.node_index = {nd.name: k for k, nd in enumerate(cluster.nodes)}
        for k, nd in enumerate(cluster.nodes):
            p = node_price(nd.instance_type, nd.capacity_type)
            self.node_cost["gpu"][k, nd.start:nd.end] = nd.gpus * p.gpu_hourly * DT
            self.node_cost["cpu"][k, nd.start:nd.end] = nd.cpu * p.cpu_core_hourly * DT
            self.node_cost["ram"][k, nd.start:nd.end] = nd.mem_bytes / GiB * p.ram_gib_hourly * DT
        self.seg_node = np.zeros(S, dtype=np.int64)
        for s, seg in enumerate(self.segs):
            pod, c = seg.pod, seg.pod.containers[seg.container]
            nd = cluster.node(pod.node)
            p = node_price(nd.instance_type, nd.capacity_type)
            a, b = seg.i0, seg.i1
            rel = slice(a - pod.start, b - pod.start)
            units = gpu_units(cluster, pod, seg.container)
            self.gpu_units[s, a:b] = units * DT
            self.alloc["gpu"][s, a:b] = units * p.gpu_hourly * DT
            self.alloc["cpu"][s, a:b] = np.maximum(c.cpu_req, c.cpu_usage[rel]) * p.cpu_core_hourly * DT
            self.alloc["ram"][s, a:b] = np.maximum(c.mem_req, c.mem_usage[rel]) / GiB * p.ram_gib_hourly * DT
            if seg.container == 0:
                self.egress[s, a:b] = pod.tx[rel] / GiB * EGRESS_PER_GIB
            self.seg_node[s] = self.node_index[pod.node]
        self.compute = self.alloc["gpu"] + self.alloc["cpu"] + self.alloc["ram"]
        self.shared_mask = np.array([seg.shared for seg in self.segs], dtype=bool)
        self._allocation_basis()

    def _allocation_basis(self) -> None:
        """Per interval: spread idle over all allocations by resource, then shared over tenants."""
        n = self.cluster.n
        received = np.zeros_like(self.compute)
        self.idle_left = np.zeros(n)
        for r in ("gpu", "cpu", "ram"):
            idle = self.node_cost[r].sum(axis=0) - self.alloc[r].sum(axis=0)
            tot = self.alloc[r].sum(axis=0)
            has = tot > 0
            received += np.where(has, self.alloc[r] / np.where(has, tot, 1.0) * idle, 0.0)
            self.idle_left += np.where(has, 0.0, idle)
        own = self.compute + self.egress + received
        shared_total = own[self.shared_mask].sum(axis=0)
        weight = np.where(self.shared_mask[:, None], 0.0, self.compute + received)
        wsum = weight.sum(axis=0)
        ok = wsum > 0
        spread = np.where(ok, weight / np.where(ok, wsum, 1.0) * shared_total, 0.0)
        self.shared_left = np.where(ok, 0.0, shared_total)
        self.allocation = np.where(self.shared_mask[:, None], 0.0, own + spread)
        self.usage = self.compute + self.egress


def _r(x: float) -> float:
    return round(float(x), 6)


def build_truth(cluster: Cluster, buckets: list[dict], meta: dict, drift: dict) -> dict:
    """The truth document (docs/truth.md) for a simulated cluster, its buckets and the drift schedule."""
    L = Ledger(cluster)
    hours = cluster.n * DT
    node_total = {r: L.node_cost[r].sum() for r in L.node_cost}
    alloc_total = {r: L.alloc[r].sum() for r in L.alloc}
    egress_cost = L.egress.sum()
    storage = storage_truth(buckets, hours)
    storage_cost = sum(b["cost"] for b in storage["by_bucket"].values())
    node_cost = sum(node_total.values())
    allocated = sum(alloc_total.values())
    shared_cost = L.compute[L.shared_mask].sum()
    vol_by_dim, volumes = volume_truth(cluster, DIMENSIONS, lambda pod, i: _pod_tags(cluster, pod, i))
    volume_cost = volumes["cost"]
    total = node_cost + egress_cost + storage_cost + volume_cost

    seg_usage = L.usage.sum(axis=1)
    seg_alloc = L.allocation.sum(axis=1)
    cost: dict[str, dict[str, dict[str, float]]] = {"usage": {}, "allocation": {}}
    for dim in DIMENSIONS:
        u: dict[str, float] = defaultdict(float)
        a: dict[str, float] = defaultdict(float)
        for s, seg in enumerate(L.segs):
            u[SHARED if seg.shared else seg.tags[dim]] += seg_usage[s]
            a[seg.tags[dim]] += seg_alloc[s]
        u[IDLE] += node_cost - allocated
        a[IDLE] += L.idle_left.sum()
        a[SHARED] += L.shared_left.sum()
        for b in storage["by_bucket"].values():
            key = b["tags"].get(dim) or UNALLOCATED
            u[key] += b["cost"]
            a[key] += b["cost"]
        for key, v in vol_by_dim.get(dim, {}).items():  # volumes: by the mounting pods' tags, never spread
            u[key] += v
            a[key] += v
        cost["usage"][dim] = {k: _r(v) for k, v in sorted(u.items())}
        cost["allocation"][dim] = {k: _r(v) for k, v in sorted(a.items()) if k not in (IDLE, SHARED) or abs(v) > 0}

    gh_seg = L.gpu_units.sum(axis=1)
    by_team: dict[str, float] = defaultdict(float)
    by_model: dict[str, float] = defaultdict(float)
    for s, seg in enumerate(L.segs):
        if gh_seg[s]:
            by_team[seg.tags["team"]] += gh_seg[s]
            by_model[seg.tags["model"]] += gh_seg[s]
    cap_gh = sum(nd.gpus * (nd.end - nd.start) * DT for nd in cluster.nodes)

    pools: dict[str, dict] = {}
    for k, nd in enumerate(cluster.nodes):
        p = pools.setdefault(nd.pool, {"node_cost": 0.0, "idle_cost": 0.0, "gpu_hours_capacity": 0.0,
                                       "gpu_hours_allocated": 0.0, "capacity_type": nd.capacity_type})
        nc = sum(L.node_cost[r][k].sum() for r in L.node_cost)
        on = L.seg_node == k
        ac = sum(L.alloc[r][on].sum() for r in L.alloc)
        p["node_cost"] += nc
        p["idle_cost"] += nc - ac
        p["gpu_hours_capacity"] += nd.gpus * (nd.end - nd.start) * DT
        p["gpu_hours_allocated"] += gh_seg[on].sum()
        if p["capacity_type"] != nd.capacity_type:
            p["capacity_type"] = "mixed"
    for p in pools.values():
        for key in ("node_cost", "idle_cost", "gpu_hours_capacity", "gpu_hours_allocated"):
            p[key] = _r(p[key])

    egress_bytes = int(sum(p.tx.sum() for p in cluster.pods))
    return {
        "schema": "neocost.truth/1",
        "generator": meta,
        "window": {"start": _iso(cluster.t0), "end": _iso(cluster.t0 + cluster.n * 300), "hours": hours},
        "currency": "USD",
        "totals": {"node_cost": _r(node_cost), "allocated_cost": _r(allocated), "idle_cost": _r(node_cost - allocated),
                   "shared_cost": _r(shared_cost), "egress_cost": _r(egress_cost), "storage_cost": _r(storage_cost),
                   "volume_cost": _r(volume_cost), "total_cost": _r(total)},
        "by_resource": {r: {"node": _r(node_total[r]), "allocated": _r(alloc_total[r]),
                            "idle": _r(node_total[r] - alloc_total[r])} for r in ("gpu", "cpu", "ram")},
        "node_pools": dict(sorted(pools.items())),
        "gpu_hours": {"capacity": _r(cap_gh), "allocated": _r(gh_seg.sum()),
                      "by_team": {k: _r(v) for k, v in sorted(by_team.items())},
                      "by_model": {k: _r(v) for k, v in sorted(by_model.items())}},
        "cost": cost,
        "models": models_truth(cluster, L, cost),
        "training_runs": training_truth(cluster, L),
        "storage": storage | {"by_bucket": {k: {x: y for x, y in v.items() if x != "tags"}
                                            for k, v in storage["by_bucket"].items()}},
        "egress": {"tx_bytes": egress_bytes, "cost": _r(egress_cost)},
        "volumes": volumes,
        "drift": drift,
    }


def models_truth(cluster: Cluster, L: Ledger, cost: dict) -> dict:
    acc: dict[str, dict] = {}
    for pod in cluster.pods:
        inf = pod.inference
        if inf is None:
            continue
        m = acc.setdefault(inf.model_tag, {"server": inf.server, "served_name": inf.served_name, "team": inf.team,
                                           "gpu": inf.gpu_desc, "requests": 0, "errors": 0, "input_tokens": 0,
                                           "output_tokens": 0, "cached_tokens": 0, "prefill": 0.0, "decode": 0.0})
        m["requests"] += int(inf.successes.sum() + inf.errors.sum())
        m["errors"] += int(inf.errors.sum())
        m["input_tokens"] += int(inf.input_tokens.sum())
        m["output_tokens"] += int(inf.output_tokens.sum())
        m["cached_tokens"] += int(inf.cached_tokens.sum())
        m["prefill"] += float(inf.prefill_s.sum())
        m["decode"] += float(inf.decode_s.sum())
    gh = L.gpu_units.sum(axis=1)
    out = {}
    for tag, m in sorted(acc.items()):
        g = sum(gh[s] for s, seg in enumerate(L.segs) if seg.tags["model"] == tag)
        c = {b: cost[b]["model"].get(tag, 0.0) for b in ("usage", "allocation")}
        has_tokens = m["server"] != "triton"
        inp, outp = (m["input_tokens"], m["output_tokens"]) if has_tokens else (None, None)
        if m["server"] == "vllm" and m["prefill"] + m["decode"] > 0:
            share = m["prefill"] / (m["prefill"] + m["decode"])
        elif has_tokens and inp + OUTPUT_INPUT_WEIGHT * outp > 0:
            share = inp / (inp + OUTPUT_INPUT_WEIGHT * outp)
        else:
            share = None

        def per(f):
            return {b: (_r(f(c[b])) if f(c[b]) is not None else None) for b in c}

        out[tag] = {
            "server": m["server"], "served_name": m["served_name"], "team": m["team"], "gpu": m["gpu"],
            "requests": m["requests"], "errors": m["errors"], "input_tokens": inp, "output_tokens": outp,
            "cached_tokens": m["cached_tokens"] if m["server"] == "vllm" else None,
            "gpu_hours": _r(g), "cost": {b: _r(v) for b, v in c.items()},
            "cost_per_inference": per(lambda v: v / m["requests"] if m["requests"] else None),
            "cost_per_1k_tokens": per(lambda v: v / (inp + outp) * 1000 if has_tokens and inp + outp else None),
            "cost_per_1k_input_tokens": per(lambda v: v * share / inp * 1000 if share is not None and inp else None),
            "cost_per_1k_output_tokens": per(
                lambda v: v * (1 - share) / outp * 1000 if share is not None and outp else None),
        }
    return out


def training_truth(cluster: Cluster, L: Ledger) -> dict:
    """Per Job whose pods request GPUs: pods, restarts (pods that failed), GPU-hours and cost."""
    runs: dict[str, dict] = {}
    usage = L.usage.sum(axis=1)
    alloc = L.allocation.sum(axis=1)
    gh = L.gpu_units.sum(axis=1)
    for s, seg in enumerate(L.segs):
        pod = seg.pod
        if pod.owner_kind != "Job" or not any(c.gpu_req for c in pod.containers):
            continue
        r = runs.setdefault(pod.owner_name, {"team": seg.tags["team"], "pods": set(), "failed": set(),
                                             "gpu_hours": 0.0, "usage": 0.0, "allocation": 0.0})
        r["pods"].add(pod.name)
        if pod.final_phase == "Failed":
            r["failed"].add(pod.name)
        r["gpu_hours"] += gh[s]
        r["usage"] += usage[s]
        r["allocation"] += alloc[s]
    return {k: {"team": r["team"], "pods": len(r["pods"]), "restarts": len(r["failed"]),
                "gpu_hours": _r(r["gpu_hours"]), "cost": {"usage": _r(r["usage"]), "allocation": _r(r["allocation"])}}
            for k, r in sorted(runs.items())}


def storage_truth(buckets: list[dict], hours: float) -> dict:
    """Bytes per bucket from its (newest) inventory, priced per storage class over the window."""
    by_bucket = {}
    tot = nonc = stale = 0
    for b in buckets:
        c = sum(by / GiB * STORAGE_PRICES[cls] * hours / HOURS_PER_MONTH for cls, by in b["bytes_by_class"].items())
        by_bucket[b["name"]] = {"bytes": int(b["bytes"]), "cost": _r(c), "team": b["tags"].get("team"),
                                "tags": b["tags"]}
        tot += b["bytes"]
        nonc += b["noncurrent_bytes"]
        stale += b["stale_bytes"]
    return {"bytes": int(tot), "noncurrent_bytes": int(nonc), "stale_checkpoint_bytes": int(stale),
            "by_bucket": by_bucket}


def _iso(unix: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

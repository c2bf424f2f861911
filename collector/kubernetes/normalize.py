"""Kubernetes objects (API JSON dicts, camelCase as the API sends them) -> raw.k8s_* rows. Pure: no I/O.

The typed-model path converts models back to API dicts (``ApiClient.sanitize_for_serialization``) so one
normaliser serves both listing paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import InvalidOperation
from functools import lru_cache
from typing import Any

from neocost.labels import sanitize_label_key

Obj = Mapping[str, Any]

INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
NODE_POOL_LABELS = (
    "karpenter.sh/nodepool",
    "eks.amazonaws.com/nodegroup",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "agentpool",
)
# label -> {value (lower case) -> normalised capacity type}; GKE labels mean spot when "true".
CAPACITY_TYPE_LABELS: dict[str, dict[str, str]] = {
    "karpenter.sh/capacity-type": {"spot": "spot", "on-demand": "on-demand", "reserved": "reserved"},
    "eks.amazonaws.com/capacityType": {"spot": "spot", "on_demand": "on-demand"},
    "cloud.google.com/gke-spot": {"true": "spot"},
    "cloud.google.com/gke-preemptible": {"true": "spot"},
    "kubernetes.azure.com/scalesetpriority": {"spot": "spot", "regular": "on-demand"},
}
# Values any provider (or a configured key) may use.
_GENERIC_CAPACITY = {
    "spot": "spot",
    "preemptible": "spot",
    "on-demand": "on-demand",
    "on_demand": "on-demand",
    "ondemand": "on-demand",
    "regular": "on-demand",
    "standard": "on-demand",
    "reserved": "reserved",
}
_RS_HASH = re.compile(r"^(?P<deploy>.+)-[a-z0-9]{5,10}$")
_JOB_CRON_SUFFIX = re.compile(r"^(?P<cron>.+)-\d{8,}$")


def _first(labels: Mapping[str, str], keys: Iterable[str | None]) -> str | None:
    for k in keys:
        if k and labels.get(k):
            return labels[k]
    return None


def _labels(meta: Obj) -> dict[str, str]:
    # Sorted so that two MAP values with the same entries compare equal in DuckDB (MAP equality is ordered).
    return {k: str(v) for k, v in sorted((meta.get("labels") or {}).items())}


@lru_cache(maxsize=8192)  # pods share few timestamps, quantities and resource names: cache the parsing
def parse_time(text: str | None) -> datetime | None:
    """RFC 3339 from the API (``2026-11-18T00:00:00Z``) -> naive UTC."""
    if not text:
        return None
    dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (``500m``, ``16Gi``, ``1``) as a float in base units; None if unparsable."""
    if value is None:
        return None
    return _quantity(str(value))


@lru_cache(maxsize=8192)
def _quantity(value: str) -> float | None:
    # imported here: ``kubernetes.utils`` pulls in the whole client (~0.5 s), and the Prometheus collector
    # imports this module for its label conventions only
    from kubernetes.utils import parse_quantity

    try:
        return float(parse_quantity(value))
    except (ValueError, InvalidOperation, TypeError):
        return None


def capacity_type(labels: Mapping[str, str], extra_label: str | None = None) -> str | None:
    """Normalised capacity type (on-demand | spot | reserved) from the well-known node labels.

    The configured key wins. A value no rule knows is returned as-is (lower case), so the price book
    can reject it with the node and value named instead of silently pricing it as on-demand.
    """
    if extra_label and labels.get(extra_label):
        raw = labels[extra_label].strip().lower()
        return _GENERIC_CAPACITY.get(raw, raw)
    for key, mapping in CAPACITY_TYPE_LABELS.items():
        value = labels.get(key)
        if value is None:
            continue
        raw = value.strip().lower()
        if key.startswith("cloud.google.com/") and raw != "true":
            continue  # gke-spot=false says nothing; keep looking
        return mapping.get(raw) or _GENERIC_CAPACITY.get(raw, raw)
    if any(k.startswith("cloud.google.com/gke-nodepool") for k in labels):
        return "on-demand"  # GKE marks only spot/preemptible nodes
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def node_row(
    obj: Obj, *, capacity_type_label: str | None = None, node_pool_label: str | None = None
) -> dict[str, Any]:
    """One raw.k8s_node row (without source/validity) from a V1Node dict."""
    meta = obj.get("metadata") or {}
    labels = _labels(meta)
    status = obj.get("status") or {}
    cap = status.get("capacity") or {}
    gpu_count = _int(labels.get("nvidia.com/gpu.count"))
    if gpu_count is None:
        n = quantity(cap.get("nvidia.com/gpu"))
        gpu_count = int(n) if n else None
    mig = labels.get("nvidia.com/mig.strategy")
    if mig is None and labels.get("nvidia.com/gpu.product"):
        mig = "none"
    return {
        "node": meta.get("name"),
        "instance_type": _first(labels, INSTANCE_TYPE_LABELS),
        "capacity_type": capacity_type(labels, capacity_type_label),
        "node_pool": _first(labels, (node_pool_label, *NODE_POOL_LABELS)),
        "region": _first(labels, REGION_LABELS),
        "zone": _first(labels, ZONE_LABELS),
        "gpu_product": labels.get("nvidia.com/gpu.product"),
        "gpu_count": gpu_count,
        "gpu_replicas": _int(labels.get("nvidia.com/gpu.replicas")) or (1 if gpu_count else None),
        "mig_strategy": mig,
        "cpu_cores": quantity(cap.get("cpu")),
        "memory_bytes": quantity(cap.get("memory")),
        "labels": labels,
        "created": parse_time(meta.get("creationTimestamp")),
    }


def namespace_row(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "namespace": meta.get("name"),
        "labels": _labels(meta),
        "created": parse_time(meta.get("creationTimestamp")),
    }


_resource = lru_cache(maxsize=1024)(sanitize_label_key)


def pod_requests(spec: Obj) -> dict[str, float]:
    """Effective pod requests per resource (kube-state-metrics spelling: cpu, memory, nvidia_com_gpu).

    Kubernetes' rule: max(sum over containers, max over init containers), plus pod overhead.
    """
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        for res, q in ((c.get("resources") or {}).get("requests") or {}).items():
            v = quantity(q)
            if v is not None:
                total[_resource(res)] = total.get(_resource(res), 0.0) + v
    for c in spec.get("initContainers") or []:
        for res, q in ((c.get("resources") or {}).get("requests") or {}).items():
            v = quantity(q)
            if v is not None:
                key = _resource(res)
                total[key] = max(total.get(key, 0.0), v)
    for res, q in (spec.get("overhead") or {}).items():
        v = quantity(q)
        if v is not None:
            total[_resource(res)] = total.get(_resource(res), 0.0) + v
    return dict(sorted(total.items()))


def controller_of(
    owner_kind: str, owner_name: str, owners: Mapping[tuple[str, str], tuple[str, str]], namespace: str
) -> tuple[str, str]:
    """The top controller: ReplicaSet -> Deployment, Job -> CronJob.

    ``owners`` maps (namespace/kind, name) of listed ReplicaSets/Jobs to their own owner; when the object
    was not listed, fall back to the naming convention (``<deployment>-<pod-template-hash>``).
    """
    found = owners.get((f"{namespace}/{owner_kind}", owner_name))
    if found:
        return found
    if owner_kind == "ReplicaSet":
        m = _RS_HASH.match(owner_name)
        return ("Deployment", m["deploy"]) if m else (owner_kind, owner_name)
    if owner_kind == "Job":
        m = _JOB_CRON_SUFFIX.match(owner_name)
        # CronJob jobs are named <cronjob>-<scheduled minute since epoch>; a plain Job keeps itself.
        return ("CronJob", m["cron"]) if m else (owner_kind, owner_name)
    return owner_kind, owner_name


def pod_row(obj: Obj, owners: Mapping[tuple[str, str], tuple[str, str]] | None = None) -> dict[str, Any]:
    """One raw.k8s_pod row (without source/validity) from a V1Pod dict."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ref = next(
        (o for o in meta.get("ownerReferences") or [] if o.get("controller")),
        (meta.get("ownerReferences") or [None])[0],
    )
    owner_kind, owner_name = (ref.get("kind", ""), ref.get("name", "")) if ref else ("", "")
    ns = meta.get("namespace") or ""
    ctrl_kind, ctrl_name = controller_of(owner_kind, owner_name, owners or {}, ns) if owner_kind else ("", "")
    return {
        "namespace": ns,
        "pod": meta.get("name"),
        "uid": meta.get("uid"),
        "node": spec.get("nodeName") or "",
        "owner_kind": owner_kind,
        "owner_name": owner_name,
        "controller_kind": ctrl_kind,
        "controller_name": ctrl_name,
        "phase": (obj.get("status") or {}).get("phase"),
        "requests": pod_requests(spec),
        "labels": _labels(meta),
        "created": parse_time(meta.get("creationTimestamp")),
    }


def owner_index(objects: Iterable[Obj]) -> dict[tuple[str, str], tuple[str, str]]:
    """(namespace/kind, name) -> (kind, name) of each listed ReplicaSet/Job's controlling owner."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        ref = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if ref:
            out[(f"{meta.get('namespace', '')}/{obj.get('kind', '')}", meta.get("name", ""))] = (
                ref["kind"],
                ref["name"],
            )
    return out


__all__ = [
    "CAPACITY_TYPE_LABELS",
    "NODE_POOL_LABELS",
    "capacity_type",
    "controller_of",
    "namespace_row",
    "node_row",
    "owner_index",
    "parse_time",
    "pod_requests",
    "pod_row",
    "quantity",
]

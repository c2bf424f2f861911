"""Kubernetes objects at the window end (``k8s/{nodes,pods,namespaces}.json``), schema-complete for client 37.x."""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from neocost.simulate.model import Cluster, Node, Pod

RESOURCE_VERSION = "48213977"
KUBELET = "v1.31.4"


def _ts(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qty(res: str, v: float) -> str:
    if res == "cpu":
        return f"{round(v * 1000)}m" if v != int(v) else str(int(v))
    if res == "memory":
        return f"{int(v) // 2**20}Mi" if int(v) % 2**20 == 0 else str(int(v))
    return str(int(v))


def _kname(res: str) -> str:
    return {"nvidia_com_gpu": "nvidia.com/gpu", "nvidia_com_mig_1g_10gb": "nvidia.com/mig-1g.10gb"}.get(res, res)


def node_object(nd: Node, t0: int) -> dict:
    res = nd.resources()
    cap = {_kname(r): _qty(r, v[0]) for r, v in res.items()}
    alloc = {_kname(r): _qty(r, v[1]) for r, v in res.items()}
    created = _ts(t0 + nd.start * 300 - (86400 * 9 if nd.start == 0 else 0))
    now = _ts(t0 + nd.end * 300)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": nd.name, "uid": nd.uid, "resourceVersion": RESOURCE_VERSION,
                     "creationTimestamp": created, "labels": dict(nd.labels),
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"providerID": f"nebius://{nd.region}/{nd.uid}", "podCIDR": "10.100.0.0/24"},
        "status": {
            "capacity": cap, "allocatable": alloc,
            "addresses": [{"type": "InternalIP", "address": nd.ip}, {"type": "Hostname", "address": nd.name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                            "lastTransitionTime": created}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, nd.name + "b")),
                         "containerRuntimeVersion": "containerd://1.7.24", "kernelVersion": "6.8.0-1017-nvidia",
                         "kubeProxyVersion": KUBELET, "kubeletVersion": KUBELET,
                         "machineID": uuidlib.uuid5(uuidlib.NAMESPACE_DNS, nd.name).hex,
                         "operatingSystem": "linux", "osImage": "Ubuntu 22.04.5 LTS",
                         "systemUUID": str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, nd.name + "s"))},
        },
    }


def pod_object(pod: Pod, cl: Cluster, at: int) -> dict:
    """The pod as the API shows it at interval ``at`` (the window end)."""
    t0 = cl.t0
    started = _ts(t0 + pod.start * 300 - (86400 * 3 if pod.start == 0 else 0))
    running = pod.end > at - 1 and pod.start < at
    phase = "Running" if running else pod.final_phase
    meta: dict = {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid, "resourceVersion": RESOURCE_VERSION,
                  "creationTimestamp": started, "labels": dict(pod.labels_at(at - 1))}
    if pod.owner_kind:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1" if pod.owner_kind == "Job" else "apps/v1",
                                    "kind": pod.owner_kind, "name": pod.owner_name,
                                    "uid": str(uuidlib.uuid5(uuidlib.NAMESPACE_OID, pod.owner_name)),
                                    "controller": True, "blockOwnerDeletion": True}]
    containers, statuses = [], []
    for c in pod.containers:
        req = {_kname(r): _qty(r, v[0]) for r, v in c.requests().items() if v[0] is not None}
        lim = {_kname(r): _qty(r, v[1]) for r, v in c.requests().items() if v[1] is not None}
        spec = {"name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent",
                "resources": {"requests": req} | ({"limits": lim} if lim else {}),
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
        if pod.port:
            spec["ports"] = [{"name": "metrics", "containerPort": pod.port, "protocol": "TCP"}]
        containers.append(spec)
        state = ({"running": {"startedAt": started}} if running else
                 {"terminated": {"exitCode": 0 if phase == "Succeeded" else 137, "reason":
                                 "Completed" if phase == "Succeeded" else "Error", "startedAt": started,
                                 "finishedAt": _ts(t0 + pod.end * 300)}})
        statuses.append({"name": c.name, "image": c.image, "imageID": f"{c.image.split(':')[0]}@sha256:"
                         + uuidlib.uuid5(uuidlib.NAMESPACE_URL, c.image).hex * 2,
                         "containerID": f"containerd://{uuidlib.uuid5(uuidlib.NAMESPACE_URL, pod.uid + c.name).hex}",
                         "ready": running, "started": running,
                         "restartCount": 1 if pod.inference is not None and pod.inference.reset_at is not None else 0,
                         "state": state})
    nd = cl.node(pod.node)
    cond = "True" if running else "False"
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": containers, "nodeName": pod.node, "restartPolicy":
                 "Never" if pod.owner_kind == "Job" else "Always", "schedulerName": "default-scheduler",
                 "serviceAccountName": "default", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                 "priority": 2000001000 if pod.namespace == "kube-system" else 0},
        "status": {"phase": phase, "hostIP": nd.ip, "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
                   "startTime": started, "qosClass": "Burstable",
                   "conditions": [{"type": t, "status": "True" if t == "PodScheduled" else cond,
                                   "lastTransitionTime": started} for t in
                                  ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                   "containerStatuses": statuses},
    }


def namespace_object(name: str, labels: dict[str, str], t0: int) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, "ns-" + name)),
                         "resourceVersion": RESOURCE_VERSION, "creationTimestamp": _ts(t0 - 86400 * 30),
                         "labels": dict(labels)},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def list_object(kind: str, items: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": f"{kind}List", "metadata": {"resourceVersion": RESOURCE_VERSION},
            "items": items}


def cluster_objects(cl: Cluster) -> dict[str, list[dict]]:
    """Objects alive at the window end: nodes, running pods, Succeeded Job pods still kept."""
    at = cl.n
    nodes = [node_object(nd, cl.t0) for nd in cl.nodes if nd.end >= at]
    pods = [pod_object(p, cl, at) for p in cl.pods if p.obj_end >= at and p.start < at]
    nss = [namespace_object(k, v, cl.t0) for k, v in sorted(cl.namespaces.items())]
    return {"nodes": nodes, "pods": pods, "namespaces": nss}


def write_k8s(cl: Cluster, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, items in cluster_objects(cl).items():
        kind = {"nodes": "Node", "pods": "Pod", "namespaces": "Namespace"}[name]
        (out / f"{name}.json").write_bytes(orjson.dumps(list_object(kind, items), option=orjson.OPT_INDENT_2))


def synthetic_pod_list(n: int, seed: int = 0) -> dict:
    """A V1PodList dict of ``n`` plausible running pods (benchmarks of the API collector)."""
    from neocost.simulate.model import Container, Node

    rng = np.random.default_rng(seed)
    nodes = [Node(name=f"bench-node-{i}", pool="bench", instance_type="cpu-d3.16vcpu-64gb",
                  capacity_type="on-demand", cpu=16, mem_bytes=64 * 2**30, gpus=0, ip=f"10.9.{i // 250}.{i % 250}")
             for i in range(max(1, n // 30))]
    cl = Cluster(name="bench", t0=1_700_000_000, n=1, nodes=nodes, pods=[], namespaces={})
    items = []
    for i in range(n):
        team = ["search", "web", "ml-research", "data-eng"][i % 4]
        pod = Pod(name=f"worker-{i:06d}", namespace=f"team-{team}", node=nodes[i % len(nodes)].name, start=0, end=1,
                  owner_kind="ReplicaSet", owner_name=f"worker-{i // 10:05d}-7d9f8", controller_kind="Deployment",
                  controller_name=f"worker-{i // 10:05d}",
                  labels=[(0, {"app": "worker", "team": team, "project": f"p{i % 7}"})],
                  containers=[Container(name="main", image="ghcr.io/acme/worker:1.0",
                                        cpu_req=float(rng.choice([0.1, 0.25, 0.5, 1.0])), mem_req=float(2**28))],
                  uid=str(uuidlib.UUID(bytes=rng.bytes(16), version=4)), ip=f"10.200.{i // 250}.{i % 250}")
        items.append(pod_object(pod, cl, 1))
    return list_object("Pod", items)

"""What the exporters print for the simulated cluster: kube-state-metrics, cAdvisor, DCGM (families)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from neocost.labels import sanitize_label_key
from neocost.simulate.model import STEP, Cluster, Node, Pod
from neocost.simulate.openmetrics import Family

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")


def _ones(n: int) -> np.ndarray:
    return np.ones(n)


def _label_map(labels: dict[str, str]) -> dict[str, str]:
    return {f"label_{sanitize_label_key(k)}": v for k, v in sorted(labels.items())}


def ksm_families(cl: Cluster) -> Iterator[Family]:
    """kube-state-metrics v2 series (allow-list ``pods=[*],namespaces=[*],nodes=[*]``)."""
    ksm = next((p for p in cl.pods if p.name.startswith("kube-state-metrics")), None)
    scrape = {"job": "kube-state-metrics", "instance": f"{ksm.ip if ksm else '10.0.0.9'}:8080"}
    n = cl.n

    fam = Family("kube_namespace_labels", "gauge", "[STABLE] Kubernetes labels converted to Prometheus labels.")
    for ns, lab in sorted(cl.namespaces.items()):
        fam.add("kube_namespace_labels", {"namespace": ns} | _label_map(lab) | scrape, 0, _ones(n))
    yield fam

    fam = Family("kube_node_labels", "gauge", "[STABLE] Kubernetes labels converted to Prometheus labels.")
    for nd in cl.nodes:
        fam.add("kube_node_labels", {"node": nd.name} | _label_map(nd.labels) | scrape, nd.start,
                _ones(nd.end - nd.start))
    yield fam
    for which, help_ in (("capacity", "The capacity for different resources of a node."),
                         ("allocatable", "The allocatable for different resources of a node that are available "
                                         "for scheduling.")):
        name = f"kube_node_status_{which}"
        fam = Family(name, "gauge", f"[STABLE] {help_}")
        for nd in cl.nodes:
            for res, (cap, alloc, unit) in nd.resources().items():
                v = cap if which == "capacity" else alloc
                fam.add(name, {"node": nd.name, "resource": res, "unit": unit} | scrape, nd.start,
                        np.full(nd.end - nd.start, v))
        yield fam

    def pod_base(p: Pod) -> dict[str, str]:
        return {"namespace": p.namespace, "pod": p.name, "uid": p.uid}

    def life(p: Pod) -> tuple[int, int]:
        return p.start, min(p.obj_end, n)

    fam = Family("kube_pod_info", "gauge", "[STABLE] Information about pod.")
    for p in cl.pods:
        s, e = life(p)
        nd = cl.node(p.node)
        fam.add("kube_pod_info", pod_base(p) | {"host_ip": nd.ip, "pod_ip": p.ip, "node": p.node,
                                                "created_by_kind": p.owner_kind, "created_by_name": p.owner_name,
                                                "priority_class": "system-node-critical"
                                                if p.namespace == "kube-system" else "",
                                                "host_network": "false"} | scrape, s, _ones(e - s))
    yield fam

    fam = Family("kube_pod_owner", "gauge", "[STABLE] Information about the Pod's owner.")
    for p in cl.pods:
        s, e = life(p)
        own = ({"owner_kind": p.owner_kind, "owner_name": p.owner_name, "owner_is_controller": "true"}
               if p.owner_kind else {"owner_kind": "<none>", "owner_name": "<none>", "owner_is_controller": "<none>"})
        fam.add("kube_pod_owner", pod_base(p) | own | scrape, s, _ones(e - s))
    yield fam

    fam = Family("kube_replicaset_owner", "gauge", "[STABLE] Information about the ReplicaSet's owner.")
    seen: set[tuple[str, str]] = set()
    for p in cl.pods:
        if p.owner_kind == "ReplicaSet" and (p.namespace, p.owner_name) not in seen:
            seen.add((p.namespace, p.owner_name))
            fam.add("kube_replicaset_owner", {"namespace": p.namespace, "replicaset": p.owner_name,
                                              "owner_kind": "Deployment", "owner_name": p.controller_name,
                                              "owner_is_controller": "true"} | scrape, 0, _ones(n))
    yield fam

    fam = Family("kube_pod_labels", "gauge", "[STABLE] Kubernetes labels converted to Prometheus labels.")
    for p in cl.pods:
        s, e = life(p)
        bounds = [max(f, s) for f, _ in p.labels] + [e]
        for (a, b), (_, lab) in zip(zip(bounds[:-1], bounds[1:]), p.labels):
            if b > a:
                fam.add("kube_pod_labels", pod_base(p) | _label_map(lab) | scrape, a, _ones(b - a))
    yield fam

    fam = Family("kube_pod_status_phase", "gauge", "[STABLE] The pods current phase.")
    for p in cl.pods:
        s, e = life(p)
        run = (np.arange(s, e) < p.end).astype(np.float64)
        for ph in PHASES:
            v = run if ph == "Running" else (1 - run if ph == p.final_phase else np.zeros(e - s))
            fam.add("kube_pod_status_phase", pod_base(p) | {"phase": ph} | scrape, s, v)
    yield fam

    fam = Family("kube_pod_container_status_running", "gauge",
                 "[STABLE] Describes whether the container is currently in running state.")
    for p in cl.pods:
        s, e = life(p)
        run = (np.arange(s, e) < p.end).astype(np.float64)
        for c in p.containers:
            fam.add("kube_pod_container_status_running", pod_base(p) | {"container": c.name} | scrape, s, run)
    yield fam

    for which in ("requests", "limits"):
        name = f"kube_pod_container_resource_{which}"
        fam = Family(name, "gauge", f"The number of requested {which[:-1]} resource by a container.")
        for p in cl.pods:
            s, e = life(p)
            for c in p.containers:
                for res, (req, lim, unit) in c.requests().items():
                    v = req if which == "requests" else lim
                    if v is None:
                        continue
                    fam.add(name, pod_base(p) | {"container": c.name, "node": p.node, "resource": res,
                                                 "unit": unit} | scrape, s, np.full(e - s, v))
        yield fam


def _cid(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def cadvisor_families(cl: Cluster) -> Iterator[Family]:
    """kubelet /metrics/cadvisor: per container and the pod cgroup row (container=""), network on the pod row."""

    def scrape(p: Pod) -> dict[str, str]:
        nd = cl.node(p.node)
        return {"job": "kubelet", "instance": f"{nd.ip}:10250", "metrics_path": "/metrics/cadvisor",
                "node": nd.name}

    def pod_slice(p: Pod) -> str:
        qos = "burstable"
        return f"/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{p.uid.replace('-', '_')}.slice"

    cpu = Family("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds.")
    mem = Family("container_memory_working_set_bytes", "gauge", "Current working set in bytes.")
    tx = Family("container_network_transmit_bytes", "counter", "Cumulative count of bytes transmitted")
    rx = Family("container_network_receive_bytes", "counter", "Cumulative count of bytes received")
    for p in cl.pods:
        sc = scrape(p)
        base = {"namespace": p.namespace, "pod": p.name}
        for c in p.containers:
            cid = _cid(p.uid, c.name)
            lab = {"container": c.name, "id": f"{pod_slice(p)}/cri-containerd-{cid}.scope", "image": c.image} \
                | base | sc
            cpu.add("container_cpu_usage_seconds_total", lab, p.start, c.cpu_usage * STEP, counter=True)
            mem.add("container_memory_working_set_bytes", lab, p.start, c.mem_usage)
        plab = {"container": "", "id": pod_slice(p)} | base | sc
        cpu.add("container_cpu_usage_seconds_total", plab, p.start,
                sum(c.cpu_usage for c in p.containers) * STEP + 0.3, counter=True)
        mem.add("container_memory_working_set_bytes", plab, p.start,
                sum(c.mem_usage for c in p.containers) + 2 * 2**20)
        sandbox = _cid(p.uid, "sandbox")
        nlab = {"container": "", "id": f"{pod_slice(p)}/cri-containerd-{sandbox}.scope", "interface": "eth0"} \
            | base | sc
        tx.add("container_network_transmit_bytes_total", nlab, p.start, p.tx, counter=True, integer=True)
        rx.add("container_network_receive_bytes_total", nlab, p.start, p.rx, counter=True, integer=True)
    yield from (cpu, mem, tx, rx)


def dcgm_families(cl: Cluster) -> Iterator[Family]:
    """dcgm-exporter: per GPU / MIG instance, split into series by the pod the device is assigned to."""
    fams = {k: Family(k, "gauge", h) for k, h in (
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active."),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."))}
    pods_by_code = cl.pods
    for nd in cl.nodes:
        if not nd.devices:
            continue
        exporter = next((p for p in cl.pods if p.name == nd.dcgm_pod), None)
        scrape = {"job": "nvidia-dcgm-exporter", "instance": f"{exporter.ip if exporter else nd.ip}:9400"}
        if nd.dcgm_pod_labels == "exported":
            scrape |= {"namespace": "kube-system", "pod": nd.dcgm_pod, "container": "nvidia-dcgm-exporter"}
        l40s = "L40S" in nd.gpu_product
        fb_total = 46068 if l40s else 81559
        for dev in nd.devices:
            own = dev.owner[nd.start:nd.end]
            cuts = np.flatnonzero(np.diff(own)) + 1
            bounds = np.concatenate([[0], cuts, [own.size]])
            for a, b in zip(bounds[:-1], bounds[1:]):
                code = int(own[a])
                i0, i1 = nd.start + a, nd.start + b
                lab = {"gpu": str(dev.gpu), "UUID": dev.uuid, "pci_bus_id": f"00000000:{0x18 + dev.gpu * 0x10:02X}:00.0",
                       "device": f"nvidia{dev.gpu}", "modelName": _model_name(nd), nd.dcgm_host_label: nd.name,
                       "DCGM_FI_DRIVER_VERSION": "560.35.03"}
                if dev.mig_profile:
                    lab |= {"GPU_I_PROFILE": dev.mig_profile, "GPU_I_ID": dev.mig_id}
                util = np.zeros(i1 - i0)
                if code >= 0:
                    pod = pods_by_code[code // 16]
                    c = pod.containers[code % 16]
                    util = c.gpu_util[i0 - pod.start:i1 - pod.start]
                    prefix = "exported_" if nd.dcgm_pod_labels == "exported" else ""
                    lab |= {f"{prefix}pod": pod.name, f"{prefix}namespace": pod.namespace,
                            f"{prefix}container": c.name}
                lab |= scrape
                if dev.mig_profile:
                    fb = np.full(util.size, 8600.0 if code >= 0 else 0.0)
                else:
                    fb = np.full(util.size, round(fb_total * 0.88) if code >= 0 else 0.0)
                power = np.round((35 + 300 * util) if l40s else (72 + 600 * util), 3)
                if not dev.mig_profile:
                    fams["DCGM_FI_DEV_GPU_UTIL"].add("DCGM_FI_DEV_GPU_UTIL", lab, i0, np.round(util * 100))
                fams["DCGM_FI_PROF_GR_ENGINE_ACTIVE"].add("DCGM_FI_PROF_GR_ENGINE_ACTIVE", lab, i0, util)
                fams["DCGM_FI_DEV_FB_USED"].add("DCGM_FI_DEV_FB_USED", lab, i0, fb)
                fams["DCGM_FI_DEV_POWER_USAGE"].add("DCGM_FI_DEV_POWER_USAGE", lab, i0, power)
    yield from fams.values()


def _model_name(nd: Node) -> str:
    return "NVIDIA L40S" if "L40S" in nd.gpu_product else "NVIDIA H100 80GB HBM3"

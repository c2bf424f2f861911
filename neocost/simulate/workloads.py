"""The workloads of one cluster "unit": pools, DaemonSets, monitoring, web, vector DB, inference, training, jobs."""

from __future__ import annotations

import numpy as np

from neocost.simulate.cluster import (FILLER_PODS, GiB, H100, IT_CPU, IT_H100, IT_L40S, L40S, NAMESPACES, PROFILE,
                                      UNITS, Builder, deployment_pods, make_pod)
from neocost.simulate.model import Cluster, Container, Node
from neocost.simulate.traffic import make_traffic
from neocost.simulate.volumes import build_claims

MiB = 2**20
PORTS = {"vllm": 8000, "triton": 8002, "tgi": 8080, "otel": 9464}


def build_cluster(scale: str, seed: int, t0: int, n: int) -> Cluster:
    """The whole simulated cluster for ``n`` 5-minute intervals starting at unix second ``t0``."""
    b = Builder(scale, seed, t0, n)
    for u in range(UNITS[scale]):
        _unit(b, u)
    _fillers(b, FILLER_PODS[scale])
    b.finish()
    for p in b.pods:
        _network(b, p)
    cl = Cluster(name=f"neocost-sim-{scale}", t0=t0, n=n, nodes=b.nodes, pods=b.pods,
                 namespaces=dict(NAMESPACES), interruptions=b.interruptions)
    cl.claims = build_claims(cl)  # derived from the pods without random draws
    return cl


def _c(b: Builder, pod_range: tuple[int, int], name: str, image: str, cpu: float, mem_gib: float,
       level: tuple[float, float], cpu_lim: float | None = None, mem_lim_gib: float | None = None,
       gpu: tuple[str, int] = ("", 0), mem_level: float = 0.7) -> Container:
    c = Container(name=name, image=image, cpu_req=cpu, mem_req=float(int(mem_gib * GiB)),
                  cpu_lim=cpu_lim, mem_lim=float(int(mem_lim_gib * GiB)) if mem_lim_gib else None,
                  gpu_resource=gpu[0], gpu_req=gpu[1])
    b.usage(c, *pod_range, level=level, mem_level=mem_level)
    return c


def _must(pod, what: str):
    if pod is None:
        raise RuntimeError(f"simulator placement failed for {what}: pool too small")
    return pod


def _unit(b: Builder, u: int) -> None:
    n = b.n
    sfx = "" if u == 0 else f"-u{u}"
    zones = ["eu-north1-a", "eu-north1-b"]
    cpus = [b.add_node("cpu-small", IT_CPU, "on-demand", 16, 64, zone=zones[j % 2]) for j in range(4)]
    cut = max(12, int(n * 0.4) + int(b.rng.integers(-6, 6)))  # spot interruption interval
    train = [b.add_node("gpu-train", IT_H100, "spot", 128, 1600, 8, H100, extra={"team": "ml-research"}),
             b.add_node("gpu-train", IT_H100, "spot", 128, 1600, 8, H100, end=cut, extra={"team": "ml-research"})]
    train.append(b.add_node("gpu-train", IT_H100, "spot", 128, 1600, 8, H100, start=cut + 2,
                            extra={"team": "ml-research"}))
    b.interruptions.append({"node": train[1].name, "at": cut, "replacement": train[2].name})
    h100 = b.add_node("gpu-infer", IT_H100, "on-demand", 128, 1600, 8, H100)
    mig = b.add_node("gpu-infer", IT_H100, "on-demand", 128, 1600, 8, H100, mig_gpus=2)
    l40s = b.add_node("gpu-infer", IT_L40S, "on-demand", 96, 576, 4, L40S, replicas=4, zone="eu-north1-b",
                      extra={"team": "applied-ml"})

    # DaemonSets (kube-system): one pod per node for its whole life
    for nd in b.nodes[-len(cpus) - 6:]:
        _daemon(b, nd, "kube-proxy", "registry.k8s.io/kube-proxy:v1.31.4", 0.1, 0.125, (0.3, 0.3))
        if nd.gpus:
            p = _daemon(b, nd, "nvidia-dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04",
                        0.2, 0.5, (0.5, 0.1))
            nd.dcgm_pod = p.name

    # monitoring (shared)
    full = (0, n)
    _dep(b, "monitoring", f"prometheus-k8s{sfx}", 1, {"app.kubernetes.io/name": "prometheus"},
         lambda: [_c(b, full, "prometheus", "quay.io/prometheus/prometheus:v3.1.0", 2, 8, (0.4, 0.3), mem_lim_gib=12)],
         statefulset=True)
    _dep(b, "monitoring", f"kube-state-metrics{sfx}", 1, {"app.kubernetes.io/name": "kube-state-metrics"},
         lambda: [_c(b, full, "kube-state-metrics", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.14.0",
                     0.2, 0.5, (0.3, 0.2))])
    _dep(b, "monitoring", f"grafana{sfx}", 1, {"app.kubernetes.io/name": "grafana"},
         lambda: [_c(b, full, "grafana", "grafana/grafana:11.4.0", 0.25, 0.5, (0.2, 0.4))])

    # web: CPU usage above request at peak
    _dep(b, "web", f"web-api{sfx}", 3, {"app": "web-api", "team": "web", "project": "storefront"},
         lambda: [_c(b, full, "api", "ghcr.io/acme/web-api:2.14.1", 0.5, 1, (0.4, 2.2), cpu_lim=2, mem_lim_gib=2,
                     mem_level=0.8)])
    gw = _dep(b, "web", f"gateway{sfx}", 2, {"app": "gateway", "team": "web", "project": "api-gateway"},
              lambda: [_c(b, full, "envoy", "envoyproxy/envoy:v1.32.2", 0.5, 0.5, (0.3, 0.6))])
    relabel = gw[0]
    relabel.labels.append((n // 2, relabel.labels[0][1] | {"team": "platform"}))

    # vector DB: only namespace labels carry team/project
    _dep(b, "vectordb", f"qdrant{sfx}", 3, {"app": "qdrant"},
         lambda: [_c(b, full, "qdrant", "qdrant/qdrant:v1.12.5", 2, 8, (0.3, 0.5), mem_lim_gib=8, mem_level=0.85)],
         statefulset=True)

    # inference
    _serve(b, "llama-3-8b", sfx, 3, h100, ("nvidia_com_gpu", 1), 4, 32, reset=(u == 0))
    _serve(b, "llama-3-70b", sfx, 1, mig, ("nvidia_com_gpu", 4), 16, 160)
    _serve(b, "phi-3-mini", sfx, 1, mig, ("nvidia_com_mig_1g_10gb", 1), 2, 16)
    _serve(b, "bge-large", sfx, 2, mig, ("nvidia_com_mig_1g_10gb", 1), 2, 8)
    _serve(b, "qwen-coder-7b", sfx, 2, l40s, ("nvidia_com_gpu", 1), 4, 24)

    # training Job on spot nodes: one pod dies with its node, a replacement restarts from a checkpoint
    job = f"llm-pretrain-7b{sfx}"
    tl = {"job-name": job, "batch.kubernetes.io/job-name": job, "team": "ml-research", "app": "llm-pretrain"}
    runs = [(train[0], 0, n, "Running"), (train[1], 0, cut, "Failed"), (train[2], cut + 3, n, "Running")]
    for nd, s, e, phase in runs:
        pod = make_pod(b, f"{job}-{b.suffix()}", "ml-research", s, e, ("Job", job, "Job", job), dict(tl),
                       [_c(b, (s, e), "trainer", "nvcr.io/nvidia/pytorch:24.12-py3", 96, 1200, (0.55, 0.05),
                           gpu=("nvidia_com_gpu", 8), mem_level=0.8)], final_phase=phase)
        _gpu_util(b, pod, 0.93, 0.03)
        _must(b.place(pod, node=nd), job)

    # evaluation Job on the spare H100s during the last day (Succeeded at the window end)
    es = max(0, n - 288) + 12
    ee = min(n - 6, es + 72)
    ej = f"eval-llama-3-8b{sfx}"
    pod = make_pod(b, f"{ej}-{b.suffix()}", "inference", es, ee, ("Job", ej, "Job", ej),
                   {"job-name": ej, "team": "search", "project": "rag-search", "app": "eval"},
                   [_c(b, (es, ee), "eval", "ghcr.io/acme/evalharness:0.9", 8, 64, (0.6, 0.0),
                       gpu=("nvidia_com_gpu", 2))], final_phase="Succeeded")
    _gpu_util(b, pod, 0.7, 0.1)
    pod.linger = n - ee
    _must(b.place(pod, node=h100), ej)

    # daily CronJob on CPU nodes (02:00-03:00 UTC)
    day0 = (b.t0 // 86400) * 86400
    for d in range(n // 288 + 1):
        s = (day0 + d * 86400 + 2 * 3600 - b.t0) // 300
        if s < 0 or s + 12 > n:
            continue
        jn = f"data-prep{sfx}-{(day0 + d * 86400 + 7200) // 60}"
        pod = make_pod(b, f"{jn}-{b.suffix()}", "data", s, s + 12, ("Job", jn, "CronJob", f"data-prep{sfx}"),
                       {"job-name": jn, "app": "data-prep", "project": "feature-store"},
                       [_c(b, (s, s + 12), "spark", "apache/spark:3.5.3", 4, 8, (0.9, 0.0))], final_phase="Succeeded")
        pod.linger = min(24, n - s - 12)  # ttlSecondsAfterFinished: 2 h
        _must(b.place(pod, pool="cpu-small"), jn)

    # sandbox: a notebook on a time-sliced L40S (team from the node label) and an untagged debug pod
    pod = make_pod(b, f"notebook-alice{sfx}", "sandbox", 0, n, ("", "", "", ""), {"app": "jupyter"},
                   [_c(b, full, "notebook", "quay.io/jupyter/pytorch-notebook:cuda12-2024-12-02", 2, 16, (0.1, 0.3),
                       gpu=("nvidia_com_gpu", 1))])
    _gpu_util(b, pod, 0.15, 0.1)
    _must(b.place(pod, node=l40s), "notebook")
    pod = make_pod(b, f"scratch-debug{sfx}", "sandbox", 0, n, ("", "", "", ""), {},
                   [_c(b, full, "debug", "busybox:1.37", 0.1, 0.125, (0.05, 0.0))])
    _must(b.place(pod, pool="cpu-small"), "scratch-debug")


def _daemon(b: Builder, nd: Node, name: str, image: str, cpu: float, mem: float, level) -> object:
    span = (nd.start, nd.end)
    pod = make_pod(b, f"{name}-{b.suffix()}", "kube-system", *span, ("DaemonSet", name, "DaemonSet", name),
                   {"app.kubernetes.io/name": name, "k8s-app": name},
                   [_c(b, span, name, image, cpu, mem, level)])
    return _must(b.place(pod, node=nd), name)


def _dep(b: Builder, ns: str, name: str, replicas: int, labels: dict[str, str], containers, statefulset=False,
         node: Node | None = None, pool: str = "cpu-small") -> list:
    if statefulset:
        names = [(f"{name}-{i}", ("StatefulSet", name, "StatefulSet", name)) for i in range(replicas)]
    else:
        names = deployment_pods(b, name, replicas)
    out = []
    for pname, owner in names:
        lab = dict(labels)
        if statefulset:
            lab["statefulset.kubernetes.io/pod-name"] = pname
        else:
            lab["pod-template-hash"] = owner[1].rsplit("-", 1)[1]
        pod = make_pod(b, pname, ns, 0, b.n, owner, lab, containers())
        out.append(_must(b.place(pod, node=node) if node else b.place(pod, pool=pool), pname))
    return out


def _serve(b: Builder, model: str, sfx: str, replicas: int, node: Node, gpu: tuple[str, int], cpu: float,
           mem: float, reset: bool = False) -> None:
    prof = PROFILE[model]
    image = {"vllm": "vllm/vllm-openai:v0.11.0", "triton": "nvcr.io/nvidia/tritonserver:24.12-py3",
             "tgi": "ghcr.io/huggingface/text-generation-inference:3.0.1",
             "otel": "ghcr.io/acme/qwen-coder-server:1.4.0"}[prof.server]
    labels = {"app": f"{prof.server}-{model}", "team": prof.team, "project": prof.project, "model": model}
    full = (0, b.n)
    pods = _dep(b, "inference", f"{prof.server}-{model}{sfx}", replicas, labels,
                lambda: [_c(b, full, prof.server if prof.server != "otel" else "server", image, cpu, mem,
                            (0.25, 0.5), gpu=gpu, mem_level=0.6)], node=node)
    for k, pod in enumerate(pods):
        pod.inference = make_traffic(prof, b.load, b.rng)
        pod.port = PORTS[prof.server]
        _gpu_util(b, pod, 0.2, 0.0, load=0.6)
        if reset and k == 1:
            pod.inference.reset_at = int(b.n * 0.6)


def _gpu_util(b: Builder, pod, base: float, noise: float, load: float = 0.0) -> None:
    lo = b.load[pod.start:pod.end]
    for c in pod.containers:
        if c.gpu_req:
            u = base + load * lo + noise * b.rng.standard_normal(pod.n)
            c.gpu_util = np.round(np.clip(u, 0.0, 1.0), 4)


def _fillers(b: Builder, count: int) -> None:
    if not count:
        return
    full = (0, b.n)
    _dep(b, "data", "batch-worker", count, {"app": "batch-worker", "team": "data-eng", "project": "etl"},
         lambda: [_c(b, full, "worker", "ghcr.io/acme/worker:1.0", 0.1, 0.25, (0.5, 0.4))])


def _network(b: Builder, pod) -> None:
    """Transmit/receive bytes per interval on the pod sandbox row."""
    lo = b.load[pod.start:pod.end]
    m = pod.n
    if pod.inference is not None:
        inf = pod.inference
        tx = (inf.output_tokens * 6 + (inf.successes + inf.errors) * 1200
              + (inf.successes * 1536 * 4 if inf.server == "triton" else 0))
        rx = inf.input_tokens * 5 + (inf.successes + inf.errors) * 900
    elif pod.namespace == "ml-research":  # checkpoint upload every 2 h (~40 GiB), plus NCCL-free idle chatter
        tx = np.full(m, 2e6)
        tx[(np.arange(m) + pod.start) % 24 == 0] += 40 * GiB
        rx = np.full(m, 5e6)
    else:
        rate = {"web": 4e5, "monitoring": 2e5, "vectordb": 1e6, "data": 8e6}.get(pod.namespace, 2e4)
        if pod.controller_name == "batch-worker":
            rate = 5e4
        tx = rate * 300 * (0.3 + 0.7 * lo)
        rx = tx * 0.6
    pod.tx = np.floor(np.asarray(tx, dtype=np.float64) * b.rng.lognormal(0, 0.05, m))
    pod.rx = np.floor(np.asarray(rx, dtype=np.float64) * b.rng.lognormal(0, 0.05, m))

"""Build the simulated neocloud cluster: node pools, workloads, placement, usage and lifecycle events.

Scales: ``small`` is one "unit" (10 nodes, 48 physical GPUs incl. the spot replacement); ``medium`` five units;
``large`` 28 units (~1,000 GPUs) plus filler worker pods to reach ~3,000 pods. All events sit on the 5-minute grid.
"""

from __future__ import annotations

import uuid as uuidlib

import numpy as np

from neocost.simulate.model import MIG_SLICES, Container, Device, Node, Pod
from neocost.simulate.traffic import ModelProfile, diurnal

GiB = 2**30
UNITS = {"small": 1, "medium": 5, "large": 28}
FILLER_PODS = {"small": 0, "medium": 0, "large": 1900}
H100 = "NVIDIA-H100-80GB-HBM3"
L40S = "NVIDIA-L40S"
IT_CPU = "cpu-d3.16vcpu-64gb"
IT_H100 = "gpu-h100-sxm.8gpu-128vcpu-1600gb"
IT_L40S = "gpu-l40s-a.4gpu-96vcpu-576gb"

MODELS = [
    ModelProfile("vllm", "llama-3-8b", "meta-llama/Llama-3.1-8B-Instruct", "search", "rag-search", "H100 whole",
                 rps=6.0, input_mean=900, output_mean=220, error_rate=0.004, cache_ratio=0.35),
    ModelProfile("vllm", "llama-3-70b", "meta-llama/Llama-3.1-70B-Instruct", "assistant", "copilot", "H100 whole",
                 rps=2.5, input_mean=1400, output_mean=380, error_rate=0.006, cache_ratio=0.5,
                 prefill_per_token=0.0004, decode_per_token=0.028),
    ModelProfile("tgi", "phi-3-mini", "microsoft/Phi-3-mini-4k-instruct", "assistant", "copilot",
                 "H100 MIG 1g.10gb", rps=1.5, input_mean=350, output_mean=120, error_rate=0.01),
    ModelProfile("triton", "bge-large", "bge_large_en", "search", "rag-search", "H100 MIG 1g.10gb",
                 rps=20.0, input_mean=0, output_mean=0, error_rate=0.002, decode_per_token=0.0, queue_mean=0.004),
    ModelProfile("otel", "qwen-coder-7b", "Qwen/Qwen2.5-Coder-7B-Instruct", "devtools", "code-assist",
                 "L40S time-sliced 1/4", rps=0.8, input_mean=1800, output_mean=160, error_rate=0.02,
                 prefill_per_token=0.0003, decode_per_token=0.02),
]
PROFILE = {m.model_tag: m for m in MODELS}

NAMESPACES = {
    "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
    "monitoring": {"kubernetes.io/metadata.name": "monitoring", "team": "platform"},
    "web": {"kubernetes.io/metadata.name": "web", "team": "web", "env": "prod"},
    "vectordb": {"kubernetes.io/metadata.name": "vectordb", "team": "search", "project": "rag-search",
                 "env": "prod"},
    "inference": {"kubernetes.io/metadata.name": "inference", "env": "prod"},
    "ml-research": {"kubernetes.io/metadata.name": "ml-research", "team": "ml-research", "project": "foundation",
                    "env": "research"},
    "data": {"kubernetes.io/metadata.name": "data", "team": "data-eng", "env": "prod"},
    "sandbox": {"kubernetes.io/metadata.name": "sandbox"},
}


class Builder:
    def __init__(self, scale: str, seed: int, t0: int, n: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.scale, self.t0, self.n = scale, t0, n
        self.load = diurnal(t0, n)
        self.nodes: list[Node] = []
        self.pods: list[Pod] = []
        self.interruptions: list[dict] = []
        self._cpu: dict[str, np.ndarray] = {}
        self._mem: dict[str, np.ndarray] = {}
        self._slots: dict[str, np.ndarray] = {}  # node -> (slots, n) owner code of advertised GPU slots
        self._ip = 10

    # ---- ids -----------------------------------------------------------------------------------------------
    def uid(self) -> str:
        return str(uuidlib.UUID(bytes=self.rng.bytes(16), version=4))

    def suffix(self, k: int = 5) -> str:
        return "".join(self.rng.choice(list("bcdfghjklmnpqrstvwxz2456789"), k))

    def ip(self, net: int) -> str:
        self._ip += 1
        return f"10.{net}.{self._ip // 250}.{self._ip % 250 + 2}"

    # ---- nodes ---------------------------------------------------------------------------------------------
    def add_node(self, pool: str, itype: str, ctype: str, cpu: float, mem_gib: int, gpus: int = 0,
                 product: str = "", replicas: int = 1, mig_gpus: int = 0, start: int = 0, end: int | None = None,
                 zone: str = "eu-north1-a", extra: dict[str, str] | None = None) -> Node:
        name = f"{pool}-{self.suffix()}"
        node = Node(name=name, pool=pool, instance_type=itype, capacity_type=ctype, cpu=cpu,
                    mem_bytes=mem_gib * GiB, gpus=gpus, gpu_product=product, gpu_replicas=replicas,
                    mig_gpus=mig_gpus, zone=zone, start=start, end=self.n if end is None else end,
                    ip=self.ip(0), uid=self.uid())
        lab = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
               "node.kubernetes.io/instance-type": itype, "topology.kubernetes.io/region": node.region,
               "topology.kubernetes.io/zone": zone}
        if pool == "cpu-small":  # EKS managed node group spelling
            lab |= {"eks.amazonaws.com/capacityType": "ON_DEMAND" if ctype == "on-demand" else "SPOT",
                    "eks.amazonaws.com/nodegroup": pool}
        else:
            lab |= {"karpenter.sh/capacity-type": ctype, "karpenter.sh/nodepool": pool}
        if gpus:
            lab |= {"nvidia.com/gpu.product": product, "nvidia.com/gpu.count": str(gpus),
                    "nvidia.com/gpu.replicas": str(replicas),
                    "nvidia.com/mig.strategy": "mixed" if mig_gpus else "none", "nvidia.com/gpu.present": "true"}
            if replicas > 1:
                lab["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
            if mig_gpus:
                lab["nvidia.com/mig.config"] = "all-1g.10gb"
        node.labels = lab | (extra or {})
        for g in range(gpus):
            if g < mig_gpus:
                node.devices += [Device(g, f"MIG-{self.uid()}", "1g.10gb", str(7 + s)) for s in range(MIG_SLICES)]
            else:
                node.devices.append(Device(g, f"GPU-{self.uid()}"))
        if pool == "gpu-infer":
            node.dcgm_host_label = "hostname"
        if pool == "gpu-train":
            node.dcgm_pod_labels = "plain"
        self.nodes.append(node)
        self._cpu[name] = np.zeros(self.n)
        self._mem[name] = np.zeros(self.n)
        self._slots[name] = np.full((len(node.devices) * replicas, self.n), -1, dtype=np.int64)
        return node

    # ---- pods ----------------------------------------------------------------------------------------------
    def usage(self, c: Container, n0: int, n1: int, level: tuple[float, float], noise: float = 0.08,
              mem_level: float = 0.7) -> None:
        """Fill cpu/mem usage: cores = request × (base + amp × load) × noise."""
        load = self.load[n0:n1]
        m = n1 - n0
        base, amp = level
        c.cpu_usage = np.round(np.maximum(0.002, c.cpu_req * (base + amp * load) * self.rng.lognormal(0, noise, m)), 6)
        c.mem_usage = np.floor(c.mem_req * mem_level * (0.9 + 0.1 * load) * self.rng.lognormal(0, 0.02, m))

    def place(self, pod: Pod, pool: str | None = None, node: Node | None = None) -> Pod | None:
        """Put the pod on the first live node with room for max(request, usage) and free GPU slots."""
        s, e = pod.start, pod.end
        cpu = sum(np.maximum(c.cpu_req, c.cpu_usage) for c in pod.containers)
        mem = sum(np.maximum(c.mem_req, c.mem_usage) for c in pod.containers)
        gres = [(ci, c) for ci, c in enumerate(pod.containers) if c.gpu_req]
        candidates = [node] if node else [x for x in self.nodes if x.pool == pool]
        for nd in candidates:
            if nd.start > s or nd.end < e:
                continue
            cap_cpu, cap_mem = nd.cpu, nd.mem_bytes
            if np.any(self._cpu[nd.name][s:e] + cpu > cap_cpu) or np.any(self._mem[nd.name][s:e] + mem > cap_mem):
                continue
            chosen = self._pick_slots(nd, pod, gres)
            if chosen is None:
                continue
            pod.node = nd.name
            self._cpu[nd.name][s:e] += cpu
            self._mem[nd.name][s:e] += mem
            code_base = len(self.pods) * 16
            for ci, slots in chosen:
                for sl in slots:
                    self._slots[nd.name][sl, s:e] = code_base + ci
            pod.ip = self.ip(100)
            self.pods.append(pod)
            return pod
        return None

    def _pick_slots(self, nd: Node, pod: Pod, gres: list[tuple[int, Container]]):
        s, e = pod.start, pod.end
        free = np.all(self._slots[nd.name][:, s:e] < 0, axis=1)
        chosen = []
        taken: set[int] = set()
        r = nd.gpu_replicas
        for ci, c in gres:
            want_mig = c.gpu_resource == "nvidia_com_mig_1g_10gb"
            ok = [k for k in range(free.size) if free[k] and k not in taken
                  and (nd.devices[k // r].mig_profile != "") == want_mig]
            if len(ok) < c.gpu_req:
                return None
            # time-sliced: spread over physical GPUs first (replica-major order)
            if r > 1:
                ok.sort(key=lambda k: (k % r, k // r))
            pick = ok[: c.gpu_req]
            taken.update(pick)
            chosen.append((ci, pick))
        return chosen

    def finish(self) -> None:
        """Translate slot ownership into per-device owners (time-sliced: the lowest replica's pod)."""
        for nd in self.nodes:
            r = nd.gpu_replicas
            slots = self._slots[nd.name]
            for k, dev in enumerate(nd.devices):
                own = slots[k * r]
                for rep in range(1, r):
                    own = np.where(own >= 0, own, slots[k * r + rep])
                dev.owner = own


def make_pod(b: Builder, name: str, ns: str, start: int, end: int, owner: tuple[str, str, str, str],
             labels: dict[str, str], containers: list[Container], final_phase: str = "Running") -> Pod:
    ok, on, ck, cn = owner
    return Pod(name=name, namespace=ns, node="", start=start, end=end, owner_kind=ok, owner_name=on,
               controller_kind=ck, controller_name=cn, labels=[(start, labels)], containers=containers,
               final_phase=final_phase, uid=b.uid())


def deployment_pods(b: Builder, name: str, replicas: int) -> list[tuple[str, tuple[str, str, str, str]]]:
    rs = f"{name}-{b.suffix(9).lower()}"
    return [(f"{rs}-{b.suffix()}", ("ReplicaSet", rs, "Deployment", name)) for _ in range(replicas)]

"""The simulator's event model: nodes, pods, containers and GPU devices on the 5-minute grid.

Every quantity is an array over the window's intervals (index 0 = the interval starting at the window start).
An object exists on ``[start, end)`` (interval indices); per-interval arrays of a pod cover that range only.
Everything the exporters print and everything ``truth.json`` adds up is read from these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STEP = 300  # seconds per interval
MIG_SLICES = 7  # 1g.10gb slices per H100 (compute slices 1/7)


@dataclass
class Device:
    """A physical GPU or a MIG instance on a node."""

    gpu: int  # physical index
    uuid: str
    mig_profile: str = ""  # "" = whole GPU
    mig_id: str = ""
    # per interval: owning (pod index, container index) or (-1, -1); filled by the placer
    owner: np.ndarray | None = None


@dataclass
class Node:
    name: str
    pool: str
    instance_type: str
    capacity_type: str  # on-demand | spot
    cpu: float
    mem_bytes: int
    gpus: int  # physical
    gpu_product: str = ""
    gpu_replicas: int = 1
    mig_gpus: int = 0  # physical GPUs split into 1g.10gb slices (mixed strategy)
    zone: str = "eu-north1-a"
    region: str = "eu-north1"
    labels: dict[str, str] = field(default_factory=dict)
    start: int = 0
    end: int = 0
    ip: str = ""
    uid: str = ""
    dcgm_host_label: str = "Hostname"  # or "hostname" (dcgm-exporter after 4.5.3-4.8.2)
    dcgm_pod_labels: str = "exported"  # exported_pod/... (ServiceMonitor) or plain pod/... (honorLabels)
    devices: list[Device] = field(default_factory=list)
    dcgm_pod: str = ""  # the dcgm-exporter pod serving this node

    @property
    def whole_gpus(self) -> int:
        return self.gpus - self.mig_gpus

    def resources(self) -> dict[str, tuple[float, float, str]]:
        """kube-state-metrics resource -> (capacity, allocatable, unit)."""
        res = {"cpu": (self.cpu, self.cpu - 0.5 - 0.02 * self.cpu, "core"),
               "memory": (float(self.mem_bytes), float(self.mem_bytes - 2 * 2**30 - self.mem_bytes // 20), "byte"),
               "pods": (110.0, 110.0, "integer")}
        if self.gpus:
            adv = float(self.whole_gpus * self.gpu_replicas)
            res["nvidia_com_gpu"] = (adv, adv, "integer")
        if self.mig_gpus:
            n = float(self.mig_gpus * MIG_SLICES)
            res["nvidia_com_mig_1g_10gb"] = (n, n, "integer")
        return res


@dataclass
class Container:
    name: str
    image: str
    cpu_req: float
    mem_req: float
    cpu_lim: float | None = None
    mem_lim: float | None = None
    gpu_resource: str = ""  # "" | nvidia_com_gpu | nvidia_com_mig_1g_10gb
    gpu_req: int = 0
    cpu_usage: np.ndarray | None = None  # cores, per interval of the pod's life
    mem_usage: np.ndarray | None = None  # bytes
    gpu_util: np.ndarray | None = None  # 0..1, per interval of the pod's life

    def requests(self) -> dict[str, tuple[float | None, float | None, str]]:
        """kube-state-metrics resource -> (request, limit, unit)."""
        out: dict[str, tuple[float | None, float | None, str]] = {
            "cpu": (self.cpu_req, self.cpu_lim, "core"), "memory": (self.mem_req, self.mem_lim, "byte")}
        if self.gpu_resource:
            out[self.gpu_resource] = (float(self.gpu_req), float(self.gpu_req), "integer")
        return out


@dataclass
class Inference:
    """An inference server in a pod: per-interval counter increments (arrays over the pod's life)."""

    server: str  # vllm | triton | tgi | otel
    model_tag: str
    served_name: str
    team: str
    gpu_desc: str
    successes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    input_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0))
    output_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cached_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prefill_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decode_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ttft_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    e2e_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    queue_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reset_at: int | None = None  # interval (pod-relative) where the server restarted: counters restart at 0


@dataclass
class Pod:
    name: str
    namespace: str
    node: str
    start: int
    end: int
    owner_kind: str  # ReplicaSet | StatefulSet | DaemonSet | Job | ""
    owner_name: str
    controller_kind: str  # Deployment | StatefulSet | DaemonSet | Job | CronJob | ""
    controller_name: str
    labels: list[tuple[int, dict[str, str]]]  # (from interval, labels) history, first from = start
    containers: list[Container]
    final_phase: str = "Running"  # Running | Succeeded | Failed (phase after `end` for Jobs)
    uid: str = ""
    ip: str = ""
    tx: np.ndarray | None = None  # bytes per interval (pod sandbox row)
    rx: np.ndarray | None = None
    inference: Inference | None = None
    port: int = 0  # metrics port of the inference server
    linger: int = 0  # intervals the (completed) pod object stays after `end` (Succeeded Jobs)

    @property
    def obj_end(self) -> int:
        return self.end + self.linger

    @property
    def n(self) -> int:
        return self.end - self.start

    def labels_at(self, i: int) -> dict[str, str]:
        cur = self.labels[0][1]
        for frm, lab in self.labels:
            if frm <= i:
                cur = lab
        return cur


@dataclass
class Claim:
    """A PersistentVolumeClaim (bound from creation): exists on ``[start, end)``, mounted by ``pods`` (indices into
    ``Cluster.pods``) while each of those pod objects exists."""

    name: str
    namespace: str
    storageclass: str
    volume: str  # bound PersistentVolume name
    request_bytes: int
    start: int
    end: int
    pods: list[int] = field(default_factory=list)
    used_fraction: float = 0.5  # used bytes = request × this (kubelet volume stats)


@dataclass
class Cluster:
    name: str
    t0: int  # unix seconds of the window start
    n: int  # intervals
    nodes: list[Node]
    pods: list[Pod]
    namespaces: dict[str, dict[str, str]]  # name -> labels
    interruptions: list[dict] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def __post_init__(self) -> None:
        self._by_name = {n.name: n for n in self.nodes}

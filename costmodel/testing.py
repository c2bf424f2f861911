"""Write raw rows by hand (tests, examples): one node, a few pods, a few intervals.

Only for small cases; the benchmark synthesises raw tables in SQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

STEP = timedelta(minutes=5)


class RawBuilder:
    """Helpers that insert contract-shaped rows into the raw tables of a migrated warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection, start: datetime, step: timedelta = STEP) -> None:
        self.con, self.start, self.step = con, start, step

    def ticks(self, first: int, last: int) -> list[datetime]:
        """Interval starts ``first .. last - 1`` (in steps from ``start``)."""
        return [self.start + i * self.step for i in range(first, last)]

    def node(self, name: str, *, cores: float, mem_gib: float, gpus: int = 0, instance_type: str = "it",
             capacity_type: str | None = "on-demand", node_pool: str = "pool", gpu_product: str | None = None,
             gpu_replicas: int = 1, labels: dict[str, str] | None = None, span: tuple[int, int] = (0, 12),
             mig: dict[str, int] | None = None, source: str = "api") -> None:
        self.con.execute(
            "INSERT INTO raw.k8s_node (source, node, instance_type, capacity_type, node_pool, gpu_product, "
            "gpu_count, gpu_replicas, cpu_cores, memory_bytes, labels, valid_from, valid_to) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [source, name, instance_type, capacity_type, node_pool, gpu_product, gpus, gpu_replicas, cores,
             mem_gib * 2**30, labels or {}, self.start + span[0] * self.step,
             # kube-state-metrics versions end where the node was last seen (never NULL)
             self.start + span[1] * self.step if source == "ksm" else None])
        caps = {"cpu": cores, "memory": mem_gib * 2**30}
        if gpus and not mig:
            caps["nvidia_com_gpu"] = gpus * gpu_replicas
        for res, n in (mig or {}).items():
            caps[res] = n
        for ts in self.ticks(*span):
            for res, v in caps.items():
                self.con.execute("INSERT INTO raw.node_capacity VALUES (?,?,?,?,?)", [ts, name, res, v, v])

    def pod(self, namespace: str, pod: str, *, node: str, requests: dict[str, float],
            span: tuple[int, int] = (0, 12), container: str = "main", running: float = 1.0,
            usage: tuple[float, float] | None = None, labels: dict[str, str] | None = None,
            owner: tuple[str, str] = ("ReplicaSet", "rs"), limits: dict[str, float] | None = None) -> None:
        """A pod with one container; ``usage`` = (cores, bytes) for every interval."""
        for ts in self.ticks(*span):
            for res in sorted(set(requests) | set(limits or {})):
                self.con.execute("INSERT INTO raw.container_requests VALUES (?,?,?,?,?,?,?,?,?)",
                                 [ts, namespace, pod, container, node, res, requests.get(res),
                                  (limits or {}).get(res), running])
            if usage is not None:
                self.con.execute("INSERT INTO raw.container_usage VALUES (?,?,?,?,?,?)",
                                 [ts, namespace, pod, container, usage[0], usage[1]])
        if labels is not None:
            self.pod_labels(namespace, pod, labels, node=node, owner=owner)

    def pod_labels(self, namespace: str, pod: str, labels: dict[str, str], *, node: str = "",
                   at: int = 0, until: int | None = None, owner: tuple[str, str] = ("ReplicaSet", "rs"),
                   source: str = "api") -> None:
        vf = self.start + at * self.step
        vt = None if until is None else self.start + until * self.step
        self.con.execute(
            "INSERT INTO raw.k8s_pod (source, namespace, pod, node, owner_kind, owner_name, labels, valid_from, "
            "valid_to) VALUES (?,?,?,?,?,?,?,?,?)", [source, namespace, pod, node, owner[0], owner[1], labels, vf, vt])

    def namespace(self, namespace: str, labels: dict[str, str], source: str = "api") -> None:
        self.con.execute("INSERT INTO raw.k8s_namespace VALUES (?,?,?,?,NULL)", [source, namespace, labels, self.start])

    def egress(self, namespace: str, pod: str, tx_bytes: float, span: tuple[int, int] = (0, 12)) -> None:
        for ts in self.ticks(*span):
            self.con.execute("INSERT INTO raw.pod_network VALUES (?,?,?,?,0)", [ts, namespace, pod, tx_bytes])

    def bucket(self, bucket: str, gib: float, *, storage_class: str = "STANDARD", tags: dict[str, str] | None = None,
               snapshot_at: datetime | None = None, noncurrent_gib: float = 0.0, stale_gib: float = 0.0,
               prefixes: dict[str, float] | None = None) -> None:
        """A bucket snapshot: ``gib`` under ``ckpt/`` plus ``prefixes`` (prefix -> GiB)."""
        at = snapshot_at or self.start
        b = int(gib * 2**30)
        extra = {p: int(g * 2**30) for p, g in (prefixes or {}).items()}
        self.con.execute("INSERT INTO raw.s3_snapshot VALUES (?,?,'inventory','cfg','m.json','CSV',1,?,?)",
                         [bucket, at, b + int(noncurrent_gib * 2**30) + sum(extra.values()), at])
        self.con.execute("INSERT INTO raw.s3_storage VALUES (?,?,?,?,true,1,?,?,?,NULL)",
                         [bucket, at, "ckpt/", storage_class, b, 1 if stale_gib else 0, int(stale_gib * 2**30)])
        for prefix, n in extra.items():
            self.con.execute("INSERT INTO raw.s3_storage VALUES (?,?,?,?,true,1,?,0,0,NULL)",
                             [bucket, at, prefix, storage_class, n])
        if noncurrent_gib:
            self.con.execute("INSERT INTO raw.s3_storage VALUES (?,?,?,?,false,1,?,0,0,NULL)",
                             [bucket, at, "ckpt/", storage_class, int(noncurrent_gib * 2**30)])
        for k, v in (tags or {}).items():
            self.con.execute("INSERT INTO raw.s3_bucket_tags VALUES (?,?,?,?)", [bucket, k, v, at])

    def inference(self, namespace: str, pod: str, *, server: str = "vllm", model: str = "m",
                  requests: float = 10, input_tokens: float = 1000, output_tokens: float = 500,
                  cached_tokens: float = 0, prefill: float | None = None, decode: float | None = None,
                  span: tuple[int, int] = (0, 12)) -> None:
        for ts in self.ticks(*span):
            self.con.execute(
                "INSERT INTO raw.inference VALUES (?,?,?,?,?,?,?,0,?,?,?,?,?)",
                [ts, server, namespace, pod, model, requests, requests, input_tokens, output_tokens, cached_tokens,
                 prefill, decode])

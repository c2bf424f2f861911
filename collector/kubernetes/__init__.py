"""Kubernetes API collector: paged LIST (raw JSON fast path or typed models) -> SCD-2 history in raw.k8s_*."""

from collector.kubernetes.collect import collect_kubernetes

__all__ = ["collect_kubernetes"]

"""Kubernetes API collector: paged LIST (raw JSON fast path or typed models) -> SCD-2 history in raw.k8s_*."""

from __future__ import annotations

from typing import Any

__all__ = ["collect_kubernetes"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the kubernetes client costs ~2 s of imports, and the Prometheus collector needs only
    # collector.kubernetes.normalize (label conventions) from this package.
    if name == "collect_kubernetes":
        from collector.kubernetes.collect import collect_kubernetes
        return collect_kubernetes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

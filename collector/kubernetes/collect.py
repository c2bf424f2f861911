"""``collect_kubernetes``: list namespaces, nodes and pods, normalise, merge into the raw history tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
from kubernetes.client import ApiClient

from collector.kubernetes import history, normalize
from collector.kubernetes.client import build_api_client
from collector.kubernetes.listing import list_all
from collector.result import CollectResult
from neocost.settings import Settings
from neocost.timeutil import utcnow
from neocost.warehouse import transaction

Progress = Callable[[dict[str, Any]], None]
"""``progress(event)`` with event dicts like the other collectors':
``{"event": "page", "source": "kubernetes", "kind": "pods", "page": 3, "done": 1500}`` after each list page,
``{"event": "done", ...}`` at the end."""

ORDER = ("namespaces", "nodes", "pods")


def collect_kubernetes(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    *,
    progress: Progress | None = None,
    fast: bool = True,
    api_client: ApiClient | None = None,
    now: datetime | None = None,
) -> CollectResult:
    """Read the cluster's namespaces, nodes and pods and record them as history (source = 'api').

    All three lists are read completely before anything is written; the three merges commit in one
    transaction, so a failed run leaves the previous history untouched. ``api_client`` and ``now`` are for
    tests (default: built from ``settings.kubernetes``; the current UTC time).
    """
    started = time.perf_counter()
    ks = settings.kubernetes
    client = api_client or build_api_client(ks)
    now = (now or utcnow()).replace(microsecond=0)

    def on_page(kind: str, page: int, items: int) -> None:
        if progress is not None:
            progress({"event": "page", "source": "kubernetes", "kind": kind, "page": page, "done": items})

    listings = {
        kind: list_all(client, kind, page_size=ks.page_size, fast=fast, on_page=on_page) for kind in ORDER
    }
    rows = normalize_all(
        listings["namespaces"].items,
        listings["nodes"].items,
        listings["pods"].items,
        capacity_type_label=ks.capacity_type_label,
        node_pool_label=ks.node_pool_label,
    )
    result = CollectResult(source="kubernetes", window_start=now, window_end=now)
    with transaction(con):
        for kind in ORDER:
            stats = history.merge(con, kind, history.to_arrow(kind, rows[kind]), now)
            table = history.SPECS[kind].table
            result.tables[table] = stats.opened + stats.closed
    restarts = sum(v.restarts for v in listings.values())
    if restarts:
        result.skipped.append(
            f"kubernetes: {restarts} list restart(s) after 410 Gone (expired continue token)"
        )
    if progress is not None:
        progress({"event": "done", "source": "kubernetes", "done": sum(len(r) for r in rows.values())})
    if api_client is None:
        client.close()
    result.seconds = time.perf_counter() - started
    return result


def normalize_all(
    namespaces: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    *,
    capacity_type_label: str | None = None,
    node_pool_label: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Plain API dicts -> rows per kind (pure)."""
    return {
        "namespaces": [normalize.namespace_row(o) for o in namespaces],
        "nodes": [
            normalize.node_row(o, capacity_type_label=capacity_type_label, node_pool_label=node_pool_label)
            for o in nodes
        ],
        "pods": [normalize.pod_row(o) for o in pods],
    }


__all__ = ["Progress", "collect_kubernetes", "normalize_all"]

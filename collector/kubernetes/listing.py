"""Paged LIST of nodes, pods and namespaces with ``limit``/``continue``, restarting on ``410 Gone``.

Two paths return the same plain API dicts (camelCase, as the server sends them):

- fast (default): ``_preload_content=False`` and ``orjson.loads`` of the body — no model construction;
- typed: the client's pydantic models, converted back with ``sanitize_for_serialization`` (3-8x slower;
  kept for comparison in ``bench/bench_k8s.py`` and as a fallback should a server need the client's
  decoding).

A continue token expires after ~5 minutes (``410 Gone``, reason ``Expired``); the Kubernetes API concepts
say to restart the list, so everything read so far is dropped and the list starts again from page one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from neocost.errors import CollectError

# kind -> (CoreV1Api method, list model name)
KINDS: dict[str, tuple[str, str]] = {
    "namespaces": ("list_namespace", "V1NamespaceList"),
    "nodes": ("list_node", "V1NodeList"),
    "pods": ("list_pod_for_all_namespaces", "V1PodList"),
}

PageCallback = Callable[[str, int, int], None]
"""``on_page(kind, page_number, items_so_far)``, called after each page (page numbers restart at 1)."""


@dataclass
class Listing:
    kind: str
    items: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    restarts: int = 0


def list_all(
    api_client: ApiClient,
    kind: str,
    *,
    page_size: int = 500,
    fast: bool = True,
    max_restarts: int = 5,
    on_page: PageCallback | None = None,
    request_timeout: float | None = 120.0,
) -> Listing:
    """Every object of ``kind`` (namespaces | nodes | pods), read page by page.

    Raises :class:`CollectError` when the server refuses the list, or keeps expiring the token after
    ``max_restarts`` full restarts.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
    method = getattr(CoreV1Api(api_client), KINDS[kind][0])
    out = Listing(kind)
    while True:
        out.items, out.pages, token = [], 0, None
        try:
            while True:
                kwargs: dict[str, Any] = {"limit": page_size, "_request_timeout": request_timeout}
                if token:
                    kwargs["_continue"] = token
                items, token = _page_raw(method, kwargs) if fast else _page_typed(api_client, method, kwargs)
                out.items.extend(items)
                out.pages += 1
                if on_page is not None:
                    on_page(kind, out.pages, len(out.items))
                if not token:
                    return out
        except ApiException as exc:
            if exc.status == 410 and out.restarts < max_restarts:
                out.restarts += 1
                continue
            raise CollectError(_describe(kind, exc, out.restarts)) from exc
        except (OSError, ValueError) as exc:  # connection refused, TLS, malformed JSON
            raise CollectError(
                f"kubernetes: listing {kind} failed: {exc}; check the API server URL in the "
                "kubeconfig (or kubernetes.kubeconfig / kubernetes.context)"
            ) from exc


def _page_raw(method: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    resp = method(**kwargs, _preload_content=False)
    try:
        body = orjson.loads(resp.data)
    finally:
        resp.release_conn()
    return body.get("items") or [], (body.get("metadata") or {}).get("continue") or None


def _page_typed(
    api_client: ApiClient, method: Callable[..., Any], kwargs: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    lst = method(**kwargs)
    items = [api_client.sanitize_for_serialization(i) for i in lst.items or []]
    # kubernetes >= 37 names the field var_continue (<= 36: _continue).
    meta = lst.metadata
    token = (getattr(meta, "var_continue", None) or getattr(meta, "_continue", None)) if meta else None
    return items, token or None


def _describe(kind: str, exc: ApiException, restarts: int) -> str:
    if exc.status == 410:
        return (
            f"kubernetes: listing {kind}: the continue token expired (410 Gone) {restarts + 1} times in a "
            "row; the API server is too slow or the page size too small — raise kubernetes.page_size"
        )
    if exc.status in (401, 403):
        return (
            f"kubernetes: listing {kind} was refused ({exc.status} {exc.reason}); the credentials need "
            f"`list` on {kind} at cluster scope (a ClusterRole with get/list on nodes, pods, namespaces)"
        )
    return f"kubernetes: listing {kind} failed: HTTP {exc.status} {exc.reason}"


__all__ = ["KINDS", "Listing", "PageCallback", "list_all"]

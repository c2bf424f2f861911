"""The Prometheus HTTP layer: connection settings through prometheus-api-client, bodies fetched and decoded here.

`PrometheusConnect` configures the session (headers, basic auth, TLS verification, custom CA, proxies), which
keeps us compatible with how users already point that library at Thanos, Mimir or VictoriaMetrics. The bodies
are fetched here rather than through its `custom_query_range` because throughput depends on two details it
does not expose (docs components.md §4):

- ``Accept-Encoding: identity``: with gzip Prometheus spends most of a large query compressing the body;
  on loopback or inside the cluster identity is 3-5x faster (``prometheus.gzip = true`` for slow links);
- the body is read in one call from urllib3 (:func:`_read_all`), not in pieces through ``Response.content``;
- orjson with Python's cyclic GC paused while millions of small ``[ts, "value"]`` lists are built.

Retries: timeouts, connection errors, 5xx (including ``503 query timeout``), 429 and the 422 "block is closing"
of a server shutting down back off exponentially.
A 400/422 (bad query, too many samples or points) raises :class:`QueryTooLarge` when splitting can help,
otherwise :class:`QueryFailed` naming the query.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import orjson
import requests
from prometheus_api_client import PrometheusConnect
import urllib3
from urllib3.util.retry import Retry

from neocost.errors import CollectError, SettingsError
from neocost.settings import PrometheusSettings

_TOO_LARGE = ("exceeded maximum resolution", "11,000 points", "11000 points", "too many samples",
              "query processing would load too many samples", "maximum number of", "points per timeseries")
# a server stopping mid-body breaks the chunked read: as transient as a refused connection
# a server shutting down answers queries in flight with 422 "open querier for block ...: block is closing"
_CLOSING = ("block is closing",)
# the body is read from urllib3 directly (below), whose errors are not wrapped in requests' own
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.ProtocolError, urllib3.exceptions.TimeoutError, urllib3.exceptions.DecodeError)
_gc_lock = threading.Lock()
_gc_depth = 0


class QueryFailed(CollectError):
    """A query failed for good (after retries, or a bad query); the message names it."""


class QueryTooLarge(QueryFailed):
    """The server refused a query as too large (points per series or samples): split it and retry."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding (thread-safe: re-enabled when the last decoder leaves)."""
    global _gc_depth
    with _gc_lock:
        _gc_depth += 1
        was = gc.isenabled() if _gc_depth == 1 else True
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and was:
                gc.enable()


def decode_matrix(body: bytes, query_name: str = "") -> list[dict[str, Any]]:
    """The ``result`` list of a ``/api/v1/query_range`` body (call under :func:`gc_paused`)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise QueryFailed(f"query {query_name}: response is not JSON ({exc}); is the URL a Prometheus "
                          "API (Mimir needs its /prometheus prefix)?") from exc
    if not isinstance(payload, dict) or payload.get("status") != "success":
        err = payload.get("error", "unknown error") if isinstance(payload, dict) else "unexpected body"
        raise QueryFailed(f"query {query_name}: Prometheus said {err}")
    data = payload.get("data") or {}
    if data.get("resultType") != "matrix":
        raise QueryFailed(f"query {query_name}: expected a matrix result, got {data.get('resultType')!r}")
    result = data.get("result") or []
    return result  # type: ignore[no-any-return]


@dataclass
class FetchStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0


class PromClient:
    """One Prometheus-compatible endpoint. Thread-safe for concurrent range queries (one session, pooled)."""

    def __init__(self, settings: PrometheusSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.url:
            raise SettingsError("no Prometheus URL: pass --prometheus URL or set prometheus.url "
                                "(NEOCOST_PROMETHEUS__URL)")
        self.settings = settings
        self._sleep = sleep
        headers = dict(settings.headers)
        if settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        auth = None
        if settings.basic_auth_user:
            pw = settings.basic_auth_password.get_secret_value() if settings.basic_auth_password else ""
            auth = (settings.basic_auth_user, pw)
        # Our own retry loop below decides what is retried; the adapter must not retry behind our back.
        self._conn = PrometheusConnect(url=settings.url.rstrip("/"), headers=headers,
                                       disable_ssl=not settings.verify_tls, auth=auth,
                                       retry=Retry(total=0, raise_on_status=False),
                                       timeout=settings.timeout_seconds)
        self.session: requests.Session = self._conn._session
        if settings.ca_file is not None and settings.verify_tls:
            self.session.verify = str(settings.ca_file)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(4, settings.workers * 2),
                                                max_retries=Retry(total=0, raise_on_status=False))
        self.session.mount(self._conn.url, adapter)
        self.headers = {**headers, "Accept-Encoding": "gzip" if settings.gzip else "identity"}
        self.auth = auth
        self.url = self._conn.url
        self.stats = FetchStats()
        self._stats_lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def fetch_range(self, query: str, start: float, end: float, step: float, *, name: str = "") -> bytes:
        """POST ``/api/v1/query_range`` and return the raw body; retries transient failures."""
        form = {"query": query, "start": _num(start), "end": _num(end), "step": _num(step)}
        return self._post("/api/v1/query_range", form, name or query)

    def query_range(self, query: str, start: float, end: float, step: float, *, name: str = ""
                    ) -> list[dict[str, Any]]:
        body = self.fetch_range(query, start, end, step, name=name)
        with gc_paused():
            return decode_matrix(body, name)

    def _post(self, path: str, form: dict[str, str], name: str) -> bytes:
        attempts = self.settings.retries + 1
        delay = 0.5
        last = ""
        for attempt in range(attempts):
            if attempt:
                with self._stats_lock:
                    self.stats.retries += 1
                self._sleep(delay)
                delay = min(delay * 2, 30.0)
            try:
                resp = self.session.post(self.url + path, data=form, headers=self.headers, auth=self.auth,
                                         timeout=self.settings.timeout_seconds, stream=True)
                body = _read_all(resp)
            except _TRANSIENT as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            with self._stats_lock:
                self.stats.requests += 1
                self.stats.bytes += len(body)
            if resp.status_code == 200:
                return body
            detail = _error_text(body)
            low = detail.lower()
            if resp.status_code == 422 and any(c in low for c in _CLOSING):
                last = f"HTTP {resp.status_code}: {detail}"
                continue
            if resp.status_code in (400, 422):
                cls = QueryTooLarge if any(s in low for s in _TOO_LARGE) else QueryFailed
                raise cls(f"query {name}: HTTP {resp.status_code}: {detail}")
            if resp.status_code in (401, 403):
                raise QueryFailed(f"query {name}: HTTP {resp.status_code} from {self.url}: check "
                                  "prometheus.bearer_token / basic auth / headers")
            if resp.status_code == 404:
                raise QueryFailed(f"query {name}: HTTP 404 from {self.url}{path}: is the base URL right "
                                  "(Mimir needs the /prometheus prefix)?")
            last = f"HTTP {resp.status_code}: {detail}"
            if resp.status_code < 500 and resp.status_code != 429:
                raise QueryFailed(f"query {name}: {last}")
        raise QueryFailed(f"query {name}: gave up after {attempts} attempts against {self.url}: {last}")


def _read_all(resp: requests.Response) -> bytes:
    """The whole body in one read from urllib3 (``resp.content`` reads it in 10 kB pieces through two layers
    of Python generators: ~2.5x the CPU per byte), then the connection goes back to the pool."""
    try:
        body: bytes = resp.raw.read(decode_content=True)
    except BaseException:
        resp.close()
        raise
    resp.raw.release_conn()
    return body


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def _error_text(body: bytes) -> str:
    try:
        payload = orjson.loads(body)
        return f"{payload.get('errorType', '')}: {payload.get('error', '')}".strip(": ")
    except (orjson.JSONDecodeError, AttributeError):
        return body[:300].decode("utf-8", "replace").strip()

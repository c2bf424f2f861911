"""A read-only Kubernetes list API on 127.0.0.1 (no kube-apiserver is packaged for Debian or PyPI).

Serves ``/version``, ``/api``, ``/api/v1``, ``/api/v1/{nodes,namespaces,pods}``, ``/api/v1/namespaces/{ns}/pods``
with ``?limit=N&continue=TOKEN`` paging (``remainingItemCount``; ``410 Gone`` + ``Status{reason: Expired}`` for an
expired token) and ``labelSelector`` / simple ``fieldSelector``. Payloads are schema-complete for client 37.x.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from neocost.errors import ServiceError

VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.4", "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
           "gitTreeState": "clean", "buildDate": "2024-12-10T18:44:23Z", "goVersion": "go1.22.9",
           "compiler": "gc", "platform": "linux/amd64"}
RESOURCES = {"nodes": ("Node", False), "namespaces": ("Namespace", False), "pods": ("Pod", True)}
_REQ = re.compile(r"\s*([\w./-]+)\s*(==|=|!=|\s+in\s+|\s+notin\s+)?\s*(\(.*?\)|[\w./-]*)\s*$")


def _split_selector(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in parts + [cur] if p.strip()]


def label_matcher(selector: str):
    """A predicate over a labels dict for a Kubernetes label selector (=, ==, !=, in, notin, exists, !key)."""
    tests = []
    for req in _split_selector(selector):
        req = req.strip()
        if req.startswith("!"):
            key = req[1:].strip()
            tests.append(lambda lab, k=key: k not in lab)
            continue
        m = _REQ.match(req)
        if not m:
            raise ValueError(f"unable to parse requirement: {req!r}")
        key, op, val = m.group(1), (m.group(2) or "").strip(), m.group(3)
        if not op:
            tests.append(lambda lab, k=key: k in lab)
        elif op in ("=", "=="):
            tests.append(lambda lab, k=key, v=val: lab.get(k) == v)
        elif op == "!=":
            tests.append(lambda lab, k=key, v=val: lab.get(k) != v)
        else:
            vals = {v.strip() for v in val.strip("()").split(",")}
            if op == "in":
                tests.append(lambda lab, k=key, vs=vals: lab.get(k) in vs)
            else:
                tests.append(lambda lab, k=key, vs=vals: lab.get(k) not in vs)
    return lambda labels: all(t(labels or {}) for t in tests)


def field_matcher(selector: str):
    """Field selectors like ``spec.nodeName=node-1,status.phase!=Succeeded``."""
    tests = []
    for req in _split_selector(selector):
        neg = "!=" in req
        path, val = re.split(r"!=|==|=", req, maxsplit=1)
        keys = path.strip().split(".")

        def get(obj: dict, keys=keys) -> Any:
            for k in keys:
                obj = obj.get(k, {}) if isinstance(obj, dict) else {}
            return obj if obj != {} else ""

        tests.append(lambda o, g=get, v=val.strip(), n=neg: (g(o) != v) if n else (g(o) == v))
    return lambda obj: all(t(obj) for t in tests)


class K8sListServer:
    """Threaded list-API stub. Use as a context manager or ``start()`` / ``stop()``."""

    def __init__(self, k8s_dir: Path | None, host: str = "127.0.0.1", port: int = 0,
                 token_ttl_seconds: float = 300) -> None:
        self.host, self.port, self.ttl = host, port, token_ttl_seconds
        self.objects: dict[str, list[dict]] = {r: [] for r in RESOURCES}
        self.resource_version = "1"
        if k8s_dir is not None:
            for res in RESOURCES:
                path = Path(k8s_dir) / f"{res}.json"
                if path.exists():
                    doc = orjson.loads(path.read_bytes())
                    self.objects[res] = doc.get("items", [])
                    self.resource_version = doc.get("metadata", {}).get("resourceVersion", self.resource_version)
        self._generation = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[str] = []  # paths served, for tests

    @classmethod
    def from_objects(cls, *, nodes: list[dict] = (), pods: list[dict] = (), namespaces: list[dict] = (),
                     **kw: Any) -> K8sListServer:
        srv = cls(None, **kw)
        srv.objects = {"nodes": list(nodes), "pods": list(pods), "namespaces": list(namespaces)}
        return srv

    # ---- lifecycle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> K8sListServer:
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), self._handler())
        except OSError as exc:
            raise ServiceError(f"cannot bind the Kubernetes list API stub on {self.host}:{self.port}: {exc}; "
                               "pick another --port or 0 for a free one") from exc
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="k8s-list-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> K8sListServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def expire_all_tokens(self) -> None:
        """Every continue token issued so far now gets 410 Gone (as after etcd compaction)."""
        self._generation += 1

    def write_kubeconfig(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: neocost-sim
  cluster:
    server: {self.url}
contexts:
- name: neocost-sim
  context:
    cluster: neocost-sim
    user: neocost-sim
current-context: neocost-sim
users:
- name: neocost-sim
  user:
    token: dummy-token
""", encoding="utf-8")
        return path

    # ---- paging --------------------------------------------------------------------------------------------
    def _token(self, state: dict) -> str:
        state = state | {"g": self._generation, "t": time.time()}
        return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")

    def _untoken(self, token: str) -> dict | None:
        try:
            state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except ValueError:
            return None
        if state.get("g") != self._generation or time.time() - state.get("t", 0) > self.ttl:
            return None
        return state

    def list(self, resource: str, namespace: str | None, query: dict[str, list[str]]) -> tuple[int, dict]:
        kind, namespaced = RESOURCES[resource]
        items = self.objects[resource]
        if namespace is not None:
            items = [o for o in items if o.get("metadata", {}).get("namespace") == namespace]
        q = {k: v[0] for k, v in query.items()}
        try:
            if q.get("labelSelector"):
                match = label_matcher(q["labelSelector"])
                items = [o for o in items if match(o.get("metadata", {}).get("labels"))]
            if q.get("fieldSelector"):
                fmatch = field_matcher(q["fieldSelector"])
                items = [o for o in items if fmatch(o)]
        except ValueError as exc:
            return 400, status(400, "BadRequest", str(exc))
        offset = 0
        if q.get("continue"):
            state = self._untoken(q["continue"])
            if state is None:
                return 410, status(410, "Expired", "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without the continue "
                                   "parameter.")
            offset = int(state["o"])
        limit = int(q.get("limit") or 0)
        page = items[offset: offset + limit] if limit > 0 else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": self.resource_version}
        rest = len(items) - offset - len(page)
        if limit > 0 and rest > 0:
            meta["continue"] = self._token({"o": offset + len(page)})
            meta["remainingItemCount"] = rest
        return 200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": meta, "items": page}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                server.requests.append(self.path)
                code, body = server.route(parts.path.rstrip("/"), parse_qs(parts.query))
                data = orjson.dumps(body)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        if path == "/version":
            return 200, VERSION
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}]}
        if path == "/api/v1":
            return 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": r, "singularName": RESOURCES[r][0].lower(), "namespaced": RESOURCES[r][1],
                 "kind": RESOURCES[r][0], "verbs": ["get", "list"]} for r in RESOURCES]}
        m = re.fullmatch(r"/api/v1/(nodes|namespaces|pods)", path)
        if m:
            return self.list(m.group(1), None, query)
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path)
        if m:
            return self.list("pods", m.group(1), query)
        m = re.fullmatch(r"/api/v1/(nodes|namespaces)/([^/]+)", path)
        if m:
            for o in self.objects[m.group(1)]:
                if o["metadata"]["name"] == m.group(2):
                    return 200, o
            return 404, status(404, "NotFound", f'{m.group(1)} "{m.group(2)}" not found')
        return 404, status(404, "NotFound", "the server could not find the requested resource")


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}

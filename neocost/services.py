"""Real local servers for tests, demos and benchmarks: Prometheus (TSDB backfilled by promtool),
Alertmanager, a moto S3 server, and a recording webhook.

Every server binds 127.0.0.1 on a free port, is a context manager, waits until it is ready, and is stopped
by its PID (SIGTERM, then SIGKILL) even when the body raised. Start-up failures raise
:class:`~neocost.errors.ServiceError` with the server's log attached.

Example::

    backfill(sim_dir / "metrics.om", tsdb)
    with PrometheusServer(tsdb) as prom:
        requests.get(prom.url + "/api/v1/query", params={"query": "up"})
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from neocost.errors import ServiceError

# command -> Debian package that ships it (Debian 12).
DEBIAN_PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}

_LOG_TAIL = 4000  # characters of a server log quoted in an error


def find_binary(name: str) -> Path:
    """Absolute path of ``name`` on ``PATH``, or a :class:`ServiceError` saying which package to install."""
    found = shutil.which(name)
    if found:
        return Path(found)
    package = DEBIAN_PACKAGES.get(name)
    hint = (f"install the Debian package: apt-get install --no-install-recommends {package}" if package
            else "install it and make sure it is on PATH")
    raise ServiceError(f"{name} not found on PATH; {hint}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (servers retry if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backfill(om_file: Path, tsdb_dir: Path, max_block_duration: str = "72h") -> None:
    """Write TSDB blocks for an OpenMetrics file into ``tsdb_dir`` (start Prometheus on it afterwards).

    ``--max-block-duration`` is a hidden promtool flag; 72h blocks make backfill ~10x faster than the default
    because promtool re-reads the input once per output block.
    """
    om_file = Path(om_file)
    if not om_file.is_file():
        raise ServiceError(f"cannot backfill: {om_file} does not exist")
    tsdb_dir = Path(tsdb_dir)
    tsdb_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(find_binary("promtool")), "tsdb", "create-blocks-from", "openmetrics",
           f"--max-block-duration={max_block_duration}", str(om_file), str(tsdb_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()[-_LOG_TAIL:]
        raise ServiceError(f"promtool backfill of {om_file} failed (exit {proc.returncode}); the file must be "
                           f"OpenMetrics with second timestamps, sorted, ending in '# EOF'. promtool said:\n{err}")


def _http() -> requests.Session:
    """A session that ignores HTTP(S)_PROXY: every server here is on loopback."""
    session = requests.Session()
    session.trust_env = False
    return session


def wait_ready(url: str, *, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll ``url`` until it answers 200; give up when ``alive()`` turns false or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    http = _http()
    while time.monotonic() < deadline:
        if not alive():
            raise ServiceError(f"server exited before {url} became ready")
        try:
            r = http.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.05)
    raise ServiceError(f"{url} not ready after {timeout:.0f} s (last: {last})")


class _Process:
    """A server subprocess with its own log file; base of the binary-backed servers."""

    name = "server"
    ready_path = "/-/ready"
    start_timeout = 60.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> _Process:
        if self.proc is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            cmd = self.command(self.port)
            offset = len(self.log())
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             cwd=self.workdir, start_new_session=True)
            try:
                wait_ready(self.url + self.ready_path, timeout=self.start_timeout,
                           alive=lambda: self.proc is not None and self.proc.poll() is None)
                return self
            except ServiceError as exc:
                log_text = self.log()
                self.stop()
                if "address already in use" in log_text[offset:].lower() and attempt < 2:
                    continue
                raise ServiceError(f"{self.name} did not start: {exc}. Command: {' '.join(cmd)}\n"
                                   f"Log {self.log_path}:\n{log_text[-_LOG_TAIL:]}") from None
        raise AssertionError("unreachable")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_DEFAULT_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 60s
  evaluation_interval: 60s
scrape_configs: []
"""


class PrometheusServer(_Process):
    """A Prometheus serving ``tsdb_dir`` (backfill it first).

    ``config_yaml`` replaces the minimal config (no scrape jobs); it is written next to the TSDB, so give
    ``rule_files`` as absolute paths or pass ``config_file`` to keep paths relative to your own file.
    """

    name = "prometheus"

    def __init__(self, tsdb_dir: Path, *, retention: str = "3650d", config_yaml: str | None = None,
                 config_file: Path | None = None, extra_args: list[str] | None = None) -> None:
        super().__init__(Path(tsdb_dir))
        self.binary = find_binary("prometheus")
        self.retention = retention
        self.config_file = Path(config_file) if config_file else self.workdir / "neocost-prometheus.yml"
        self._config_yaml = None if config_file else (config_yaml or _DEFAULT_PROMETHEUS_CONFIG)
        self.extra_args = list(extra_args or [])

    def command(self, port: int) -> list[str]:
        if self._config_yaml is not None:
            self.config_file.write_text(self._config_yaml)
        return [str(self.binary), f"--config.file={self.config_file}", f"--storage.tsdb.path={self.workdir}",
                f"--storage.tsdb.retention.time={self.retention}", f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url=http://127.0.0.1:{port}", "--web.enable-lifecycle", *self.extra_args]

    def reload(self) -> None:
        """Re-read the config and rule files (POST /-/reload)."""
        r = _http().post(self.url + "/-/reload", timeout=30)
        if r.status_code != 200:
            raise ServiceError(f"prometheus reload failed: HTTP {r.status_code} {r.text.strip()}")


class AlertmanagerServer(_Process):
    """An Alertmanager with gossip disabled; state lives in ``workdir`` (a temporary directory by default)."""

    name = "alertmanager"

    def __init__(self, config_yaml: str, *, workdir: Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="neocost-am-")
        super().__init__(Path(workdir) if workdir else Path(self._tmp.name))  # type: ignore[union-attr]
        self.binary = find_binary("prometheus-alertmanager")
        self.config_yaml = config_yaml
        self.config_file = self.workdir / "alertmanager.yml"

    def command(self, port: int) -> list[str]:
        self.config_file.write_text(self.config_yaml)
        return [str(self.binary), f"--config.file={self.config_file}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                f"--web.external-url=http://127.0.0.1:{port}"]

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts directly (``POST /api/v2/alerts``), as Prometheus would."""
        r = _http().post(self.url + "/api/v2/alerts", json=alerts, timeout=10)
        if r.status_code != 200:
            raise ServiceError(f"alertmanager refused alerts: HTTP {r.status_code} {r.text.strip()}")

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class MotoS3Server(_Process):
    """moto's S3 (and other AWS APIs) over HTTP.

    By default a ``python -m moto.server`` subprocess, so every instance has its own state: moto's backends
    are process-global, and two in-process servers (or ``moto.mock_aws()`` anywhere in the process) would
    share and reset each other's buckets. ``in_process=True`` uses ``ThreadedMotoServer`` instead (starts
    faster; only safe when it is the only moto user in the process).
    """

    name = "moto"
    ready_path = "/moto-api/data.json"

    def __init__(self, *, in_process: bool = False, workdir: Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="neocost-moto-")
        super().__init__(Path(workdir) if workdir else Path(self._tmp.name))  # type: ignore[union-attr]
        self.in_process = in_process
        self._threaded: Any = None

    @property
    def endpoint_url(self) -> str:
        return self.url

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    def start(self) -> MotoS3Server:
        if importlib.util.find_spec("moto") is None:
            raise ServiceError("moto is not installed; pip install 'moto[server]' (the project's [dev] extra)")
        if not self.in_process:
            super().start()
            return self
        if self._threaded is None:
            from moto.server import ThreadedMotoServer

            # werkzeug logs every request at INFO; keep test and demo output readable.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._threaded = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._threaded.start()
            self.port = int(self._threaded.get_host_and_port()[1])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        threaded, self._threaded = self._threaded, None
        if threaded is not None:
            threaded.stop()
        super().stop(timeout)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def reset(self) -> None:
        """Wipe all state (``POST /moto-api/reset``)."""
        _http().post(self.endpoint_url + "/moto-api/reset", timeout=10).raise_for_status()

    def client(self, service: str = "s3") -> Any:
        """A boto3 client for this server: path-style addressing, dummy credentials."""
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.endpoint_url, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


def upload_tree(client: Any, s3_dir: Path) -> int:
    """Create the buckets of ``s3_dir/buckets.json`` (tags, versioning) and upload ``s3_dir/objects/<bucket>/<key>``.

    Returns the number of objects uploaded.
    """
    s3_dir = Path(s3_dir)
    buckets = json.loads((s3_dir / "buckets.json").read_text())
    for b in buckets:
        client.create_bucket(Bucket=b["name"])
        if b.get("tags"):
            client.put_bucket_tagging(Bucket=b["name"], Tagging={
                "TagSet": [{"Key": k, "Value": str(v)} for k, v in b["tags"].items()]})
        if b.get("versioning"):
            client.put_bucket_versioning(Bucket=b["name"], VersioningConfiguration={"Status": "Enabled"})
    names = {b["name"] for b in buckets}
    n = 0
    objects = s3_dir / "objects"
    for bucket_dir in sorted(p for p in objects.iterdir() if p.is_dir()) if objects.is_dir() else []:
        if bucket_dir.name not in names:
            raise ServiceError(f"{bucket_dir} has objects for bucket {bucket_dir.name!r}, which is not in "
                               f"{s3_dir / 'buckets.json'}")
        for f in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
            client.put_object(Bucket=bucket_dir.name, Key=f.relative_to(bucket_dir).as_posix(), Body=f.read_bytes())
            n += 1
    return n


@dataclass
class RecordedRequest:
    path: str
    body: Any                       # parsed JSON, or the raw text when it is not JSON
    received_at: float              # time.time()
    received_monotonic: float       # time.monotonic(), for latency measurements


@dataclass
class WebhookRecorder:
    """A threaded HTTP server on 127.0.0.1 that records every POST body (e.g. Alertmanager webhooks)."""

    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> WebhookRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                rec = RecordedRequest(self.path, body, time.time(), time.monotonic())
                with recorder._cond:
                    recorder.requests.append(rec)
                    recorder._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="webhook-recorder")
        self._thread.start()
        return self

    def wait_for(self, predicate: Callable[[RecordedRequest], bool] = lambda r: True, *,
                 timeout: float = 30.0) -> RecordedRequest:
        """The first recorded request matching ``predicate``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.requests:
                    if predicate(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching webhook request within {timeout} s "
                                       f"({len(self.requests)} received)")
                self._cond.wait(left)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> WebhookRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def alertmanager_webhook_config(webhook_url: str) -> str:
    """An Alertmanager config that sends every alert to ``webhook_url`` at once (group_wait 0s)."""
    return f"""\
route:
  receiver: recorder
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: recorder
    webhook_configs:
      - url: {json.dumps(webhook_url)}
        send_resolved: true
"""


__all__ = ["DEBIAN_PACKAGES", "AlertmanagerServer", "MotoS3Server", "PrometheusServer", "RecordedRequest",
           "WebhookRecorder", "alertmanager_webhook_config", "backfill", "find_binary", "free_port",
           "upload_tree", "wait_ready"]

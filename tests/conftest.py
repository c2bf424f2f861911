"""Shared fixtures: simulations, real local servers (Prometheus, Alertmanager, moto S3, the Kubernetes list
API stub) and a migrated warehouse. See /work/brief/FIXTURES.md for the contract.

Servers are session-scoped and stopped at the end of the session even when tests fail. A missing binary or
simulator skips the tests that need it, unless ``CI`` is set or ``--require-services`` is given: then it fails.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from neocost import services, warehouse
from neocost.errors import ServiceError

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"
SIM_SMALL = {"seed": 1, "days": 2, "scale": "small"}
SIM_END = datetime(2026, 11, 20)

# Every server in the suite is on loopback: never send those requests through an HTTP(S)_PROXY of the host.
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var, ""), "127.0.0.1", "localhost"]))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--require-services", action="store_true", default=False,
                     help="Fail (instead of skip) tests whose local services or binaries are missing. "
                          "Implied when the CI environment variable is set.")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def services_required(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-services")) or in_ci()


def pytest_report_header(config: pytest.Config) -> str:
    mode = "missing services FAIL" if services_required(config) else "missing services skip"
    return f"neocost harness: {mode} (CI={os.environ.get('CI', '')!r})"


def missing(config: pytest.Config, message: str) -> None:
    """Skip locally, fail in CI / with --require-services."""
    if services_required(config):
        pytest.fail(f"required service unavailable: {message}", pytrace=False)
    pytest.skip(message)


def _import_or_missing(config: pytest.Config, module: str, attr: str, what: str) -> Any:
    """``module.attr``; a module not written yet is 'missing', a module that breaks on import is an error."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if not (exc.name and module.startswith(exc.name)):
            raise
        problem = f"{what} ({module}) does not exist yet"
    except AttributeError:
        problem = f"{what} ({module}.{attr}) does not exist yet"
    missing(config, problem)


@pytest.fixture(autouse=True)
def _scrub_neocost_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Library code must not depend on the developer's NEOCOST_* variables."""
    for key in list(os.environ):
        if key.startswith("NEOCOST_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def require_binary(pytestconfig: pytest.Config) -> Callable[[str], Path]:
    """``require_binary("promtool")`` -> its path, or skip/fail with the install hint."""
    def _require(name: str) -> Path:
        try:
            return services.find_binary(name)
        except ServiceError as exc:
            problem = str(exc)
        missing(pytestconfig, problem)  # outside `except` so the report shows one clean message
        raise AssertionError("unreachable")

    return _require


@pytest.fixture(scope="session")
def samples_dir(pytestconfig: pytest.Config) -> Path:
    """/work/shared/samples (real scrapes); skipped only when absent and not in CI."""
    if not SAMPLES.is_dir():
        missing(pytestconfig, f"{SAMPLES} not found (shared sample scrapes)")
    return SAMPLES


# --- simulations ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimRun:
    dir: Path
    truth: dict[str, Any]
    start: datetime  # naive UTC
    end: datetime    # naive UTC, exclusive


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


@pytest.fixture(scope="session")
def sim_run_factory(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
                    ) -> Callable[..., SimRun]:
    """``sim_run_factory(seed=1, days=2, scale="small", end=SIM_END)`` -> SimRun, simulated once per arguments."""
    cache: dict[tuple[Any, ...], SimRun] = {}

    def _make(*, seed: int = 1, days: int = 2, scale: str = "small", end: datetime = SIM_END,
              scrape_interval: int | None = None) -> SimRun:
        key = (seed, days, scale, end, scrape_interval)
        if key not in cache:
            simulate = _import_or_missing(pytestconfig, "neocost.simulate", "simulate", "the simulator")
            out = tmp_path_factory.mktemp(f"sim-s{seed}-d{days}-{scale}")
            simulate(out, days=days, seed=seed, scale=scale, end=end, scrape_interval=scrape_interval)
            truth = json.loads((out / "truth.json").read_text())
            window = truth.get("window") or {}
            start = _parse_utc(window["start"]) if window.get("start") else end - timedelta(days=days)
            stop = _parse_utc(window["end"]) if window.get("end") else end
            cache[key] = SimRun(out, truth, start, stop)
        return cache[key]

    return _make


@pytest.fixture(scope="session")
def sim_small(sim_run_factory: Callable[..., SimRun]) -> SimRun:
    """Scale small, seed 1, 2 days ending 2026-11-20T00:00 (naive UTC)."""
    return sim_run_factory(**SIM_SMALL, end=SIM_END)


# --- servers -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _session_stack() -> Iterator[contextlib.ExitStack]:
    """Stops every session server at the end, in reverse start order, whatever happened in between."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def prometheus_for(require_binary: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory,
                   _session_stack: contextlib.ExitStack) -> Callable[[SimRun], services.PrometheusServer]:
    """``prometheus_for(sim_run)`` -> a running Prometheus with that simulation backfilled (once per run)."""
    require_binary("promtool")
    require_binary("prometheus")
    running: dict[Path, services.PrometheusServer] = {}

    def _for(run: SimRun) -> services.PrometheusServer:
        if run.dir not in running:
            tsdb = tmp_path_factory.mktemp(f"tsdb-{run.dir.name}")
            services.backfill(run.dir / "metrics.om", tsdb)
            running[run.dir] = _session_stack.enter_context(services.PrometheusServer(tsdb))
        return running[run.dir]

    return _for


@pytest.fixture(scope="session")
def prometheus(prometheus_for: Callable[[SimRun], services.PrometheusServer],
               sim_small: SimRun) -> services.PrometheusServer:
    """A real Prometheus with sim_small's metrics backfilled: ``.url``."""
    return prometheus_for(sim_small)


@pytest.fixture(scope="session")
def moto(_session_stack: contextlib.ExitStack) -> services.MotoS3Server:
    """An empty moto S3 server over HTTP for the whole session: create only uniquely named buckets."""
    return _session_stack.enter_context(services.MotoS3Server())


@pytest.fixture(scope="session")
def s3_server(sim_small: SimRun, _session_stack: contextlib.ExitStack) -> services.MotoS3Server:
    """moto S3 over HTTP with sim_small's S3 tree uploaded: ``.endpoint_url``, ``.client()``.

    Shared by the whole session: add only uniquely named buckets of your own, and never ``reset()`` it.
    """
    server = _session_stack.enter_context(services.MotoS3Server())
    services.upload_tree(server.client(), sim_small.dir / "s3")
    return server


@dataclass
class K8sApi:
    url: str
    kubeconfig: Path
    server: Any  # neocost.simulate.k8s_api.K8sListServer


@pytest.fixture(scope="session")
def k8s_api(pytestconfig: pytest.Config, sim_small: SimRun, tmp_path_factory: pytest.TempPathFactory,
            _session_stack: contextlib.ExitStack) -> K8sApi:
    """The Kubernetes list API stub on sim_small's k8s dir: ``.url``, ``.kubeconfig``, ``.server``."""
    K8sListServer = _import_or_missing(pytestconfig, "neocost.simulate.k8s_api", "K8sListServer",  # noqa: N806
                                       "the Kubernetes list API stub")
    server = _session_stack.enter_context(K8sListServer(sim_small.dir / "k8s"))
    kubeconfig = server.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    return K8sApi(server.url, Path(kubeconfig), server)


@dataclass
class AlertmanagerRun:
    url: str
    server: services.AlertmanagerServer
    webhook: services.WebhookRecorder

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self.server.post_alerts(alerts)


@pytest.fixture(scope="session")
def alertmanager(require_binary: Callable[[str], Path], _session_stack: contextlib.ExitStack,
                 tmp_path_factory: pytest.TempPathFactory) -> AlertmanagerRun:
    """A real Alertmanager routing every alert at once (group_wait 0s) to ``.webhook`` (a WebhookRecorder).

    The recorder is shared by the session: match your own alert's labels in ``webhook.wait_for``.
    """
    require_binary("prometheus-alertmanager")
    webhook = _session_stack.enter_context(services.WebhookRecorder())
    server = _session_stack.enter_context(services.AlertmanagerServer(
        services.alertmanager_webhook_config(webhook.url), workdir=tmp_path_factory.mktemp("alertmanager")))
    return AlertmanagerRun(server.url, server, webhook)


# --- warehouse -----------------------------------------------------------------------------------------------

@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    """A migrated (closed) DuckDB warehouse file in tmp_path."""
    path = tmp_path / "neocost.duckdb"
    warehouse.connect(path).close()
    return path

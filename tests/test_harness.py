"""The test harness itself: real servers answer with exactly what the inputs contain."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from neocost import services
from neocost.errors import ServiceError

integration = pytest.mark.integration


# --- OpenMetrics input statistics (what Prometheus must give back) ---------------------------------------------

@dataclass
class OmStats:
    series: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # sample name -> series keys
    samples: dict[str, int] = field(default_factory=lambda: defaultdict(int))      # sample name -> count
    min_ts: float = math.inf
    max_ts: float = -math.inf

    @property
    def series_count(self) -> int:
        return sum(len(s) for s in self.series.values())


@functools.lru_cache(maxsize=4)
def om_stats(path: Path) -> OmStats:
    """Series and sample counts of an OpenMetrics file (sorted by series, then time, as promtool requires)."""
    per_series: Counter[bytes] = Counter()
    stats = OmStats()
    prev_key, prev_line = b"", b""
    with open(path, "rb") as f:  # bytes: ~4x faster than text on the 1 GB simulations
        for line in f:
            if line[0] == 35:  # '#'
                continue
            i = line.rindex(b" ")
            key = line[:line.rindex(b" ", 0, i)]
            if key != prev_key:  # series boundary: its first and the previous one's last timestamp
                stats.min_ts = min(stats.min_ts, float(line[i + 1:]))
                if prev_line:
                    stats.max_ts = max(stats.max_ts, float(prev_line[prev_line.rindex(b" ") + 1:]))
                prev_key = key
            prev_line = line
            per_series[key] += 1
    if prev_line:
        stats.max_ts = max(stats.max_ts, float(prev_line[prev_line.rindex(b" ") + 1:]))
    for key, n in per_series.items():
        name = key.split(b"{", 1)[0].decode()
        stats.series[name].add(key.decode())
        stats.samples[name] += n
    return stats


def prom_get(url: str, path: str, **params: Any) -> Any:
    r = requests.get(url + path, params=params, timeout=120, headers={"Accept-Encoding": "identity"})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", body
    return body["data"]


def assert_prometheus_matches(url: str, om: Path, names: list[str]) -> None:
    """Series count over the whole range, and for ``names`` the range-query series and raw sample counts."""
    stats = om_stats(om)
    start, end = int(stats.min_ts), int(stats.max_ts)
    series = prom_get(url, "/api/v1/series", **{"match[]": '{__name__=~".+"}', "start": start, "end": end})
    assert len(series) == stats.series_count
    step = max(15, math.ceil((end - start) / 10_000))
    assert step <= 300, "step longer than the 5 min lookback would miss short series"
    for name in names:
        ranged = prom_get(url, "/api/v1/query_range", query=name, start=start, end=end, step=step)
        assert len(ranged["result"]) == len(stats.series[name]), name
        # a range vector returns the raw samples ([t - range, t], both ends included in Prometheus 2.x)
        raw = prom_get(url, "/api/v1/query", query=f"{name}[{end - start + 1}s]", time=end)
        assert sum(len(r["values"]) for r in raw["result"]) == stats.samples[name], name


def write_tiny_om(path: Path, end: datetime = datetime(2026, 11, 20), hours: int = 6, step: int = 60) -> Path:
    """A hand-written OpenMetrics file: a counter (x_total), a gauge, a colon name; one series starts late."""
    t_end = int(end.replace(tzinfo=timezone.utc).timestamp())
    times = range(t_end - hours * 3600, t_end, step)
    lines = ["# TYPE vllm:generation_tokens counter"]
    for model in ("llama-3-8b", "qwen-7b"):
        lines += [f'vllm:generation_tokens_total{{model_name="{model}"}} {i * 7} {t}' for i, t in enumerate(times)]
    lines.append("# TYPE DCGM_FI_DEV_GPU_UTIL gauge")
    for gpu in range(3):
        start = 0 if gpu < 2 else len(times) // 2  # a series that appears half-way
        lines += [f'DCGM_FI_DEV_GPU_UTIL{{gpu="{gpu}",Hostname="node-a"}} {(i % 100) / 1.0} {t}'
                  for i, t in enumerate(times) if i >= start]
    path.write_text("\n".join(lines) + "\n# EOF\n")
    return path


# --- Prometheus ----------------------------------------------------------------------------------------------

@integration
def test_prometheus_serves_handwritten_backfill(tmp_path: Path, require_binary: Any) -> None:
    require_binary("promtool")
    require_binary("prometheus")
    om = write_tiny_om(tmp_path / "tiny.om")
    assert om_stats(om).series_count == 5 and om_stats(om).samples["DCGM_FI_DEV_GPU_UTIL"] == 360 * 2 + 180
    services.backfill(om, tmp_path / "tsdb")
    with services.PrometheusServer(tmp_path / "tsdb") as prom:
        assert_prometheus_matches(prom.url, om, ["vllm:generation_tokens_total", "DCGM_FI_DEV_GPU_UTIL"])
        end = int(om_stats(om).max_ts)
        got = prom_get(prom.url, "/api/v1/query", query="sum(increase(vllm:generation_tokens_total[1h]))",
                       time=end)
        # 2 series x 7 tokens per minute; increase() extrapolates over the 1 h range
        assert float(got["result"][0]["value"][1]) == pytest.approx(2 * 7 * 60, rel=0.02)


@integration
def test_prometheus_serves_sim_small(prometheus: services.PrometheusServer, sim_small: Any) -> None:
    om = sim_small.dir / "metrics.om"
    stats = om_stats(om)
    names = sorted(stats.series, key=lambda n: (len(stats.series[n]), n))
    picks = sorted({names[0], names[len(names) // 2], names[len(names) * 3 // 4]})  # by series count
    assert_prometheus_matches(prometheus.url, om, picks)
    window = (sim_small.end - sim_small.start).total_seconds()
    assert stats.max_ts - stats.min_ts <= window


@integration
def test_backfill_failure_shows_promtool_error(tmp_path: Path, require_binary: Any) -> None:
    require_binary("promtool")
    bad = tmp_path / "bad.om"
    bad.write_text('x{a="1"} 1 1700000000\n')  # no "# EOF"
    with pytest.raises(ServiceError, match="# EOF") as err:
        services.backfill(bad, tmp_path / "tsdb")
    assert "exit 1" in str(err.value) and str(bad) in str(err.value)


@integration
def test_prometheus_start_failure_shows_log_and_servers_stop(tmp_path: Path, require_binary: Any) -> None:
    require_binary("prometheus")
    with pytest.raises(ServiceError, match="prometheus did not start") as err:
        services.PrometheusServer(tmp_path / "bad", config_yaml="global: [not a mapping\n").start()
    assert "neocost-prometheus.yml" in str(err.value) and "Log " in str(err.value)

    server = services.PrometheusServer(tmp_path / "ok")
    with pytest.raises(RuntimeError, match="test body failed"), server:
        proc, port = server.proc, server.port
        raise RuntimeError("test body failed")
    assert proc is not None and proc.returncode is not None  # stopped by PID despite the exception
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_missing_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "")
    expected = "prometheus not found on PATH; install the Debian package: " \
               "apt-get install --no-install-recommends prometheus"
    with pytest.raises(ServiceError) as err:
        services.PrometheusServer(tmp_path)
    assert str(err.value) == expected
    with pytest.raises(ServiceError, match="promtool not found on PATH.*install --no-install-recommends prometheus$"):
        services.backfill(write_tiny_om(tmp_path / "t.om"), tmp_path / "tsdb")
    with pytest.raises(ServiceError, match="install --no-install-recommends prometheus-alertmanager$"):
        services.AlertmanagerServer("route: {}\n")


# --- Kubernetes list API -------------------------------------------------------------------------------------

def _items(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    return data["items"] if isinstance(data, dict) else data


@integration
def test_kubernetes_client_pages_through_all_pods(k8s_api: Any, sim_small: Any) -> None:
    from kubernetes import client, config

    expected = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _items(sim_small.dir / "k8s" / "pods.json")}
    assert len(expected) > 7, "paging must be exercised"
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(k8s_api.kubeconfig)))
    seen: list[tuple[str, str]] = []
    pages = 0
    token = None
    while True:
        kwargs = {"_continue": token} if token else {}
        resp = api.list_pod_for_all_namespaces(limit=7, **kwargs)
        pages += 1
        assert len(resp.items) <= 7
        seen += [(p.metadata.namespace, p.metadata.name) for p in resp.items]
        token = resp.metadata.var_continue
        if not token:
            break
    assert pages == math.ceil(len(expected) / 7)
    assert len(seen) == len(expected) and set(seen) == expected


# --- S3 ------------------------------------------------------------------------------------------------------

@integration
def test_s3_server_holds_the_simulated_tree(s3_server: services.MotoS3Server, sim_small: Any) -> None:
    s3_dir = sim_small.dir / "s3"
    buckets = json.loads((s3_dir / "buckets.json").read_text())
    s3 = s3_server.client()
    listed = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {b["name"] for b in buckets} <= listed  # other tests may add their own buckets to the shared server
    for b in buckets:
        if b.get("tags"):
            tags = s3.get_bucket_tagging(Bucket=b["name"])["TagSet"]
            assert {t["Key"]: t["Value"] for t in tags} == {k: str(v) for k, v in b["tags"].items()}

    manifests = sorted((s3_dir / "objects").rglob("manifest.json"))
    assert manifests, "the simulation has no inventory manifest"
    local = manifests[0]
    bucket_dir = local.relative_to(s3_dir / "objects").parts[0]
    key = local.relative_to(s3_dir / "objects" / bucket_dir).as_posix()
    body = s3.get_object(Bucket=bucket_dir, Key=key)["Body"].read()
    manifest = json.loads(body)
    assert manifest == json.loads(local.read_text())
    assert {"sourceBucket", "destinationBucket", "fileFormat", "files"} <= set(manifest)
    for f in manifest["files"]:  # every data file the manifest lists is in the destination bucket
        head = s3.head_object(Bucket=bucket_dir, Key=f["key"])
        assert head["ContentLength"] == f.get("size", head["ContentLength"])

    listed, token = 0, None
    while True:  # ListObjectsV2 paging over the whole destination bucket
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket_dir, MaxKeys=5, **kw)
        listed += page.get("KeyCount", 0)
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    assert listed == sum(1 for p in (s3_dir / "objects" / bucket_dir).rglob("*") if p.is_file())


# --- truth.json ----------------------------------------------------------------------------------------------

def test_truth_is_internally_consistent(sim_small: Any) -> None:
    truth = sim_small.truth
    tot = truth["totals"]
    assert tot["node_cost"] > 0
    assert tot["node_cost"] == pytest.approx(tot["allocated_cost"] + tot["idle_cost"], abs=0.01)
    assert tot["total_cost"] == pytest.approx(
        tot["node_cost"] + tot["egress_cost"] + tot["storage_cost"] + tot["volume_cost"], abs=0.01)
    for res, v in truth["by_resource"].items():
        assert v["node"] == pytest.approx(v["allocated"] + v["idle"], abs=0.01), res
    assert sum(v["node"] for v in truth["by_resource"].values()) == pytest.approx(tot["node_cost"], abs=0.01)
    for basis, tags in truth["cost"].items():
        for tag, values in tags.items():
            assert sum(values.values()) == pytest.approx(tot["total_cost"], abs=0.01), (basis, tag)
    assert truth["gpu_hours"]["allocated"] <= truth["gpu_hours"]["capacity"] + 1e-6

    models = truth["models"]
    assert any(m["input_tokens"] for m in models.values())
    for name, m in models.items():  # unit prices are rounded to 6 decimals: allow that rounding times volume
        tokens = (m["input_tokens"] or 0) + (m["output_tokens"] or 0)
        for basis in ("usage", "allocation"):
            cost = m["cost"][basis]
            per_1k = m["cost_per_1k_tokens"][basis]
            if m["input_tokens"] is None:
                assert per_1k is None, name  # no token metric (embeddings): no per-token price
            else:
                assert per_1k * tokens / 1000 == pytest.approx(cost, abs=0.5e-6 * tokens / 1000 + 1e-6), name
            if m["requests"]:
                per_req = m["cost_per_inference"][basis]
                assert per_req * m["requests"] == pytest.approx(cost, abs=0.5e-6 * m["requests"] + 1e-6), name
    by_model = truth["cost"]["allocation"].get("model", {})
    for name, m in models.items():
        if name in by_model:  # a model's allocation cost is its share of the model tag
            assert by_model[name] == pytest.approx(m["cost"]["allocation"], abs=0.01), name


# --- Alertmanager --------------------------------------------------------------------------------------------

@integration
def test_alertmanager_delivers_to_webhook(alertmanager: Any) -> None:
    marker = uuid.uuid4().hex
    starts = datetime.now(timezone.utc)
    alertmanager.post_alerts([{
        "labels": {"alertname": "NeocostHarnessTest", "marker": marker, "severity": "info"},
        "annotations": {"summary": "harness test"},
        "startsAt": starts.isoformat(), "endsAt": (starts + timedelta(minutes=5)).isoformat()}])
    got = alertmanager.webhook.wait_for(
        lambda r: isinstance(r.body, dict) and r.body.get("commonLabels", {}).get("marker") == marker, timeout=30)
    assert got.body["status"] == "firing"
    assert got.body["externalURL"] == alertmanager.url
    [alert] = got.body["alerts"]
    assert alert["labels"]["alertname"] == "NeocostHarnessTest"
    assert alert["annotations"]["summary"] == "harness test"


# --- benchmarks runner ---------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_bench_runner_runs_all_and_reports_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # `python -m bench` runs from the repository root
    from bench.__main__ import discover, main

    (tmp_path / "bench_ok.py").write_text('"""Counts to three."""\nRAN = []\ndef main():\n    RAN.append(3)\n')
    (tmp_path / "bench_bad.py").write_text('"""Always breaks."""\ndef main():\n    raise ValueError("boom")\n')
    (tmp_path / "helper.py").write_text("def main():\n    raise AssertionError('not a benchmark')\n")
    assert discover(tmp_path) == ["bench_bad", "bench_ok"]
    assert main(["--list"], folder=tmp_path) == 0
    assert "bench_ok                 Counts to three." in capsys.readouterr().out
    assert main([], folder=tmp_path) == 1  # one failed, the other still ran
    out = capsys.readouterr().out
    assert "FAILED" in out and "ValueError: boom" in out
    assert sys.modules["bench.bench_ok"].RAN == [3]
    assert main(["ok"], folder=tmp_path) == 0
    assert main(["nope"], folder=tmp_path) == 2


def test_bench_readme_lists_every_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    from bench.__main__ import HERE, discover

    readme = (HERE / "README.md").read_text()
    for name in discover():
        assert f"`{name}.py`" in readme, f"bench/README.md does not describe {name}.py"


@integration
def test_moto_servers_are_isolated() -> None:
    with services.MotoS3Server() as a, services.MotoS3Server() as b:
        a.client().create_bucket(Bucket="only-in-a")
        assert [x["Name"] for x in a.client().list_buckets()["Buckets"]] == ["only-in-a"]
        assert b.client().list_buckets()["Buckets"] == []
        a.reset()
        assert a.client().list_buckets()["Buckets"] == []
        proc = a.proc
    assert proc is not None and proc.returncode is not None


@pytest.mark.parametrize("args, ci, outcome", [
    ([], None, "1 skipped"),
    ([], "false", "1 skipped"),
    (["--require-services"], None, "1 failed"),
    ([], "true", "1 failed"),
])
def test_missing_services_skip_locally_and_fail_in_ci(tmp_path: Path, args: list[str], ci: str | None,
                                                      outcome: str) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(
        "def test_needs_a_binary(require_binary):\n    require_binary('neocost-no-such-binary')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci is not None else {})
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # faster; the inner run needs no plugins
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert outcome in proc.stdout, proc.stdout
    assert "neocost-no-such-binary not found on PATH" in proc.stdout
    if outcome == "1 failed":
        assert "required service unavailable" in proc.stdout and proc.returncode == 1

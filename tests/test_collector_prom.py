"""Prometheus collector against a real Prometheus holding the simulator's data (sim_small, 2 days).

Spot-checks against truth.json, idempotence (twice = once, halves = whole), and faults: a proxy answering
503 once, a query over the points limit, Prometheus stopped mid-run.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from collector.prometheus.catalog import catalog
from collector.prometheus.client import PromClient
from collector.prometheus.collect import SOURCE, collect_prometheus, fetch_shard
from collector.prometheus.shards import Shard, ms
from neocost import services, warehouse
from neocost.settings import Settings, load_settings

pytestmark = pytest.mark.integration

TABLES = ("raw.container_requests", "raw.node_capacity", "raw.gpu_usage", "raw.container_usage",
          "raw.pod_network", "raw.inference", "raw.inference_latency", "raw.k8s_pod", "raw.k8s_namespace",
          "raw.k8s_node")


def settings_for(url: str, **prom: Any) -> Settings:
    return load_settings(None, {"prometheus": {"url": url, **prom}}, environ={})


def nosleep(_: float) -> None:
    pass


def dump(con: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


@pytest.fixture(scope="module")
def collected(prometheus: services.PrometheusServer, sim_small: Any, tmp_path_factory: pytest.TempPathFactory
              ) -> Path:
    """sim_small collected once, whole window; the file is shared read-only by the checks below."""
    path = tmp_path_factory.mktemp("wh") / "neocost.duckdb"
    con = warehouse.connect(path)
    res = collect_prometheus(settings_for(prometheus.url), con, start=sim_small.start, end=sim_small.end)
    assert res.status == "ok", res.skipped
    con.close()
    return path


def test_row_counts_and_watermark(collected: Path, sim_small: Any) -> None:
    con = warehouse.connect(collected, read_only=True)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert all(n > 0 for n in counts.values()), counts
    intervals = int((sim_small.end - sim_small.start).total_seconds() // 300)
    # every node has capacity rows on the 5-minute grid inside the window only
    lo, hi, n_ts = con.execute("SELECT min(ts), max(ts), count(DISTINCT ts) FROM raw.node_capacity").fetchone()
    assert (lo, hi, n_ts) == (sim_small.start, sim_small.end - timedelta(minutes=5), intervals)
    assert warehouse.get_watermark(con, SOURCE) == sim_small.end
    # ksm metadata: every pod with requests has a version covering its rows
    orphans = con.execute("""SELECT count(*) FROM raw.container_requests c WHERE NOT EXISTS (
        SELECT 1 FROM raw.k8s_pod p WHERE p.namespace = c.namespace AND p.pod = c.pod
        AND c.ts >= p.valid_from AND c.ts < p.valid_to)""").fetchone()[0]
    assert orphans == 0


GPU_HOURS_BY_TEAM = """
WITH units AS (
    SELECT c.ts, c.namespace, c.pod, c.node, coalesce(c.running, 0) AS running,
           CASE WHEN c.resource = 'nvidia_com_gpu' THEN coalesce(c.request, c."limit") / coalesce(n.gpu_replicas, 1)
                ELSE coalesce(c.request, c."limit") * CAST(regexp_extract(c.resource, 'mig_(\\d)g', 1) AS DOUBLE) / 7
           END AS gpu_units
    FROM raw.container_requests c
    LEFT JOIN raw.k8s_node n ON n.node = c.node AND c.ts >= n.valid_from AND c.ts < coalesce(n.valid_to, 'infinity')
    WHERE c.resource LIKE 'nvidia_com_%')
SELECT coalesce(p.labels['team'], s.labels['team'], n.labels['team'], '__unallocated__') AS team,
       sum(u.gpu_units * u.running / 12) AS gpu_hours
FROM units u
LEFT JOIN raw.k8s_pod p ON p.namespace = u.namespace AND p.pod = u.pod AND u.ts >= p.valid_from AND u.ts < p.valid_to
LEFT JOIN raw.k8s_namespace s ON s.namespace = u.namespace AND u.ts >= s.valid_from AND u.ts < s.valid_to
LEFT JOIN raw.k8s_node n ON n.node = u.node AND u.ts >= n.valid_from AND u.ts < n.valid_to
GROUP BY 1 HAVING sum(u.gpu_units * u.running) > 0
"""


def test_gpu_hours_per_team_equal_truth(collected: Path, sim_small: Any) -> None:
    con = warehouse.connect(collected, read_only=True)
    got = dict(con.execute(GPU_HOURS_BY_TEAM).fetchall())
    want = {k: v for k, v in sim_small.truth["gpu_hours"]["by_team"].items() if v}
    assert set(got) == set(want)
    for team, v in want.items():
        assert got[team] == pytest.approx(v, rel=1e-6, abs=1e-6), team


def test_tokens_and_requests_per_model_equal_truth(collected: Path, sim_small: Any) -> None:
    con = warehouse.connect(collected, read_only=True)
    # TGI reports no model: the pod's `model` label names it, as the cost model does
    rows = con.execute("""
        SELECT coalesce(nullif(i.model, ''), p.labels['model']) AS m, sum(i.requests), sum(i.errors),
               sum(i.input_tokens), sum(i.output_tokens), sum(i.cached_tokens)
        FROM raw.inference i LEFT JOIN raw.k8s_pod p ON p.namespace = i.namespace AND p.pod = i.pod
             AND i.ts >= p.valid_from AND i.ts < p.valid_to
        GROUP BY 1""").fetchall()
    got = {r[0]: r[1:] for r in rows}
    for tag, m in sim_small.truth["models"].items():
        key = m["served_name"] if m["server"] != "tgi" else tag
        assert key in got, (tag, sorted(got))
        req, err, inp, out, cached = got[key]
        assert (req, err) == (m["requests"], m["errors"]), tag
        if m["input_tokens"] is not None:
            assert (inp, out) == (m["input_tokens"], m["output_tokens"]), tag
        if m.get("cached_tokens"):
            assert cached == m["cached_tokens"], tag
    # latency histograms keep their buckets: +Inf equals the bucket count total for vLLM TTFT
    inf = con.execute("SELECT sum(count) FROM raw.inference_latency WHERE server = 'vllm' AND metric = 'ttft' "
                      "AND le = 'Infinity'").fetchone()[0]
    ok = con.execute("SELECT sum(successes) FROM raw.inference WHERE server = 'vllm'").fetchone()[0]
    assert inf == ok > 0


@pytest.mark.slow
def test_twice_and_halves_equal_once(prometheus: services.PrometheusServer, sim_small: Any, collected: Path,
                                     tmp_path: Path) -> None:
    once = dump(warehouse.connect(collected, read_only=True))
    s = settings_for(prometheus.url)
    con = warehouse.connect(tmp_path / "halves.duckdb")
    before = con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone()
    mid = sim_small.start + (sim_small.end - sim_small.start) / 2 + timedelta(hours=5)  # not on a window edge
    seen, other = [], con.cursor()  # memory_limit and threads are the database's: another cursor sees them
    assert collect_prometheus(s, con, start=mid, end=sim_small.end, progress=lambda ev: seen.append(
        other.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone())
                              ).status == "ok"
    # DuckDB's cache is capped (prometheus.duckdb_memory_limit) and runs one thread while collecting, and both
    # are restored after
    assert seen and set(seen) == {("122.0 MiB", 1)}
    assert before[1] > 1 or os.cpu_count() == 1
    assert con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone() == before
    assert collect_prometheus(s, con, start=sim_small.start, end=mid).status == "ok"
    assert dump(con) == once
    # and collecting a stretch again (the incremental overlap) changes nothing
    assert collect_prometheus(s, con, start=mid - timedelta(hours=3), end=mid + timedelta(hours=2)).status == "ok"
    assert dump(con) == once


class _Flaky(BaseHTTPRequestHandler):
    """Forwards to the real Prometheus, but answers the first N POSTs with 503 query timeout."""

    upstream = ""
    failures = 1
    seen = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        cls = type(self)
        cls.seen += 1
        if cls.seen <= cls.failures:
            payload = b'{"status":"error","errorType":"timeout","error":"query timeout"}'
            self.send_response(503)
        else:
            r = requests.post(cls.upstream + self.path, data=body,
                              headers={"Content-Type": self.headers["Content-Type"]}, timeout=60)
            payload = r.content
            self.send_response(r.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def test_503_then_success_is_retried(prometheus: services.PrometheusServer, sim_small: Any, tmp_path: Path) -> None:
    handler = type("Flaky", (_Flaky,), {"upstream": prometheus.url, "failures": 1, "seen": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start, end = sim_small.start + timedelta(hours=6), sim_small.start + timedelta(hours=8)
        via_proxy = settings_for(f"http://127.0.0.1:{server.server_port}", workers=1)
        client = PromClient(via_proxy.prometheus, sleep=nosleep)
        con = warehouse.connect(tmp_path / "proxy.duckdb")
        res = collect_prometheus(via_proxy, con, start=start, end=end, client=client)
        assert res.status == "ok" and client.stats.retries == 1
        direct = warehouse.connect(tmp_path / "direct.duckdb")
        collect_prometheus(settings_for(prometheus.url), direct, start=start, end=end)
        assert dump(con) == dump(direct)
    finally:
        server.shutdown()


def test_query_over_the_points_limit_is_split(prometheus: services.PrometheusServer, sim_small: Any) -> None:
    s = settings_for(prometheus.url, max_points_per_series=20_000)
    client = PromClient(s.prometheus, sleep=nosleep)
    query = next(q for q in catalog() if q.name == "node_capacity")
    step_s = 10  # 12 000 points at 10 s: over Prometheus' 11 000 points per series
    shard = Shard(ms(sim_small.start + timedelta(hours=1)), step_s * 1000, 0, 12_000)
    rows, samples, splits = fetch_shard(client, query, shard, "5m")
    assert splits >= 1
    assert rows.points["ts"].n_unique() == 12_000  # every point once, none dropped or duplicated at the cut
    assert samples == rows.points.height


@pytest.mark.slow
def test_prometheus_stopped_mid_run(prometheus: services.PrometheusServer, sim_small: Any, tmp_path: Path) -> None:
    tsdb = tmp_path / "tsdb"
    tsdb.mkdir()
    for block in Path(prometheus.workdir).iterdir():  # immutable blocks only (no WAL, no lock)
        if block.is_dir() and len(block.name) == 26 and (block / "meta.json").exists():
            shutil.copytree(block, tsdb / block.name)
    with services.PrometheusServer(tsdb) as prom:
        s = settings_for(prom.url, retries=1, window="1d")
        con = warehouse.connect(tmp_path / "stop.duckdb")
        events: list[str] = []

        def stop_after_first_window(event: dict[str, Any]) -> None:
            if event["event"] == "window" and event["index"] == 1:
                events.append("stopped")
                prom.stop()

        res = collect_prometheus(s, con, start=sim_small.start, end=sim_small.end, progress=stop_after_first_window,
                                 client=PromClient(s.prometheus, sleep=nosleep))
        first_end = sim_small.start + timedelta(days=1)
        assert events == ["stopped"] and res.status == "partial"
        assert res.window_end == first_end
        assert "nothing from it was stored" in res.skipped[0] and "gave up" in res.skipped[0]
        assert warehouse.get_watermark(con, SOURCE) == first_end
        assert con.execute("SELECT count(*) FROM raw.container_requests WHERE ts >= ?", [first_end]).fetchone()[0] == 0
        assert con.execute("SELECT max(valid_to) FROM raw.k8s_pod").fetchone()[0] == first_end
        prom.start()  # (possibly on another port)
        res2 = collect_prometheus(settings_for(prom.url), con, end=sim_small.end)  # incremental from the watermark
        assert res2.status == "ok", res2.skipped
        assert warehouse.get_watermark(con, SOURCE) == sim_small.end
        counts = con.execute("SELECT count(DISTINCT ts) FROM raw.node_capacity").fetchone()[0]
        assert counts == int((sim_small.end - sim_small.start).total_seconds() // 300)

"""`neocost collect`: flags, summary table/JSON, skipped sources and exit codes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.cli import summary_rows
from collector.result import CollectResult
from neocost import warehouse
from neocost.cli import cli


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_summary_rows_name_tables_and_skips() -> None:
    r = CollectResult("prometheus", {"raw.inference": 1234, "raw.gpu_usage": 5}, datetime(2026, 11, 18),
                      datetime(2026, 11, 19), 2.5, ["prometheus 2026-11-19..: HTTP 503 (nothing stored)"], "partial")
    rows = summary_rows([r])
    assert rows[0] == ("prometheus", "partial", "raw.gpu_usage", "5", "2026-11-18T00:00Z .. 2026-11-19T00:00Z",
                       "2.5s")
    assert rows[1][2:4] == ("raw.inference", "1,234")
    assert rows[2][1:3] == ("skipped", "prometheus 2026-11-19..: HTTP 503 (nothing stored)")


def test_prometheus_source_needs_a_url(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["collect", "--source", "prometheus", "--warehouse", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 2 and "--prometheus" in res.output


def test_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["collect", "--start", "yesterday-ish", "--warehouse", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 2 and "RFC 3339" in res.output


@pytest.mark.integration
def test_collect_prometheus_backfill_json(prometheus: Any, sim_small: Any, tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    start = sim_small.start + timedelta(hours=12)
    end = start + timedelta(hours=2)
    res = invoke("collect", "--source", "all", "--prometheus", prometheus.url, "--start",
                 start.isoformat() + "Z", "--end", end.isoformat() + "Z", "--warehouse", str(wh), "--json", "--quiet")
    assert res.exit_code == 0, res.output
    out = {r["source"]: r for r in json.loads(res.output)}
    prom = out["prometheus"]
    assert prom["status"] == "ok" and prom["window_start"] == start.isoformat() + "Z"
    con = warehouse.connect(wh, read_only=True)
    n = con.execute("SELECT count(*) FROM raw.container_requests").fetchone()[0]
    assert prom["tables"]["raw.container_requests"] == n > 0
    assert con.execute("SELECT count(DISTINCT ts) FROM raw.node_capacity").fetchone()[0] == 24
    # kubernetes and s3 are not configured: skipped with the reason, not failed
    assert out["kubernetes"]["status"] == "skipped" and "kube-state-metrics" in out["kubernetes"]["skipped"][0]
    assert out["s3"]["status"] == "skipped" and "--s3-inventory" in out["s3"]["skipped"][0]


@pytest.mark.integration
def test_collect_table_output(prometheus: Any, sim_small: Any, tmp_path: Path) -> None:
    start = sim_small.start + timedelta(hours=3)
    res = invoke("collect", "--source", "prometheus", "--prometheus", prometheus.url, "--start",
                 start.isoformat() + "Z", "--end", (start + timedelta(minutes=30)).isoformat() + "Z",
                 "--warehouse", str(tmp_path / "w.duckdb"), "--quiet")
    assert res.exit_code == 0, res.output
    assert "raw.inference" in res.output and "neocost collect" in res.output

"""`neocost collect` records one meta.run row per source and run: ok with the summary's counts, failed (data
untouched) when the source is unreachable; `neocost db status` shows the last run per job."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.result import CollectResult, record_run
from neocost import services, warehouse
from neocost.cli import cli

RAW = ("raw.container_requests", "raw.gpu_usage", "raw.inference", "raw.node_capacity")


def _z(t: datetime) -> str:
    return t.isoformat() + "Z"


def _collect(prom_url: str, wh: Path, start: datetime, end: datetime, **env: str) -> Any:
    return CliRunner(env=env).invoke(cli, ["collect", "--source", "prometheus", "--prometheus", prom_url, "--start",
                                           _z(start), "--end", _z(end), "--warehouse", str(wh), "--json",
                                           "--quiet"], catch_exceptions=False)


def _runs(wh: Path) -> list[dict[str, Any]]:
    con = warehouse.connect(wh, read_only=True)
    cur = con.execute("SELECT * FROM meta.run ORDER BY started_at")
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    con.close()
    for r in rows:
        r["detail"] = json.loads(r["detail"])
    return rows


def _snapshot(wh: Path) -> dict[str, Any]:
    con = warehouse.connect(wh, read_only=True)
    out = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in RAW}
    out["watermark"] = con.execute("SELECT * FROM meta.watermark ORDER BY ALL").fetchall()
    con.close()
    return out


def test_record_run_in_memory_counts_and_status() -> None:
    con = warehouse.connect(":memory:")
    t0 = datetime(2026, 11, 19, 6)
    r = CollectResult("s3", {"raw.s3_storage": 7, "raw.s3_snapshot": 2}, t0, t0, 1.25,
                      ["s3://x/inv: no manifest"], "partial")
    run_id = record_run(con, r, started=t0, finished=t0 + timedelta(seconds=2), invocation="inv1")
    assert r.run_id == run_id
    row = con.execute("SELECT job, status, rows_written, window_start, finished_at, detail FROM meta.run").fetchall()
    assert row[0][:5] == ("collect:s3", "partial", 9, t0, t0 + timedelta(seconds=2))
    detail = json.loads(row[0][5])
    assert detail["tables"] == {"raw.s3_snapshot": 2, "raw.s3_storage": 7}
    assert detail["skipped"] == ["s3://x/inv: no manifest"] and detail["invocation"] == "inv1"
    with pytest.raises(ValueError, match="status"):
        record_run(con, CollectResult("s3", status="skipped"), started=t0, finished=t0)


def test_record_run_after_an_aborted_transaction() -> None:
    """A collector that raised inside BEGIN ... (no rollback) still gets its failed row; its rows are gone."""
    con = warehouse.connect(":memory:")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO meta.watermark VALUES ('prometheus', '', '2026-11-19', now()::TIMESTAMP)")
    t0 = datetime(2026, 11, 19, 6)
    record_run(con, CollectResult("prometheus", status="failed"), started=t0, finished=t0, after_error=True)
    assert con.execute("SELECT status FROM meta.run").fetchall() == [("failed",)]
    assert con.execute("SELECT count(*) FROM meta.watermark").fetchone() == (0,)


@pytest.mark.integration
def test_ok_run_then_failed_run_against_a_closed_port(prometheus: Any, sim_small: Any, tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    start = sim_small.start + timedelta(hours=6)
    end = start + timedelta(hours=2)
    res = _collect(prometheus.url, wh, start, end)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)[0]
    (ok,) = _runs(wh)
    assert ok["run_id"] == summary["run_id"] and ok["job"] == "collect:prometheus" and ok["status"] == "ok"
    assert ok["detail"]["tables"] == summary["tables"]
    assert ok["rows_written"] == sum(summary["tables"].values()) > 0
    assert (ok["window_start"], ok["window_end"]) == (start, end)
    assert ok["started_at"] <= ok["finished_at"] and ok["detail"]["skipped"] == []
    assert ok["detail"]["samples"] > 0
    con = warehouse.connect(wh, read_only=True)
    assert ok["detail"]["tables"]["raw.container_requests"] == con.execute(
        "SELECT count(*) FROM raw.container_requests").fetchone()[0]
    con.close()

    before = _snapshot(wh)
    closed = f"http://127.0.0.1:{services.free_port()}"
    res = _collect(closed, wh, end, end + timedelta(hours=2), NEOCOST_PROMETHEUS__RETRIES="0")
    assert res.exit_code == 1, res.output
    assert json.loads(res.output)[0]["status"] == "failed"
    runs = _runs(wh)
    assert [r["status"] for r in runs] == ["ok", "failed"]
    failed = runs[1]
    assert failed["rows_written"] == 0 and failed["detail"]["tables"] == {}
    assert failed["window_end"] is None and failed["finished_at"] is not None
    assert failed["detail"]["requested"] == [_z(end), _z(end + timedelta(hours=2))]
    assert "nothing from it was stored" in failed["detail"]["skipped"][0]
    assert _snapshot(wh) == before  # raw tables and watermark untouched

    status = CliRunner().invoke(cli, ["--warehouse", str(wh), "db", "status"], catch_exceptions=False)
    assert status.exit_code == 0, status.output
    last = [ln for ln in status.output.splitlines() if ln.startswith("last run ")]
    assert len(last) == 1 and last[0].startswith("last run collect:prometheus: failed at ")
    assert last[0].endswith(", 0 rows")

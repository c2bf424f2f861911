"""FOCUS export: required FOCUS 1.2 columns, x_ extensions after them, costs reconcile with the marts; and the
CLI end to end (cost -> report json/csv -> export focus)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from costmodel import allocate, focus
from costmodel.testing import RawBuilder
from neocost import warehouse
from neocost.cli import main

T0 = datetime(2026, 11, 19)
GiB = 2**30


@pytest.fixture
def built(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    r = RawBuilder(con, T0)
    r.node("n1", cores=8, mem_gib=32, gpus=1, instance_type="gpu-h100-sxm.8gpu-128vcpu-1600gb")
    r.pod("inf", "v1", node="n1", requests={"nvidia_com_gpu": 1, "cpu": 2}, labels={"team": "s", "model": "llama"})
    r.inference("inf", "v1", prefill=1.0, decode=2.0)
    r.egress("inf", "v1", GiB)
    r.bucket("ckpt", 100, tags={"team": "s"})
    con.close()
    return path


def test_focus_columns_and_reconciliation(built: Path, tmp_path: Path) -> None:
    con = warehouse.connect(built)
    res = allocate.build(con)
    table = focus.focus_table(con, res.start, res.end)
    cols = table.column_names
    assert focus.validate(cols) == []
    assert all(c in cols for c in focus.REQUIRED)
    first_x = min(i for i, c in enumerate(cols) if c.startswith("x_"))
    assert all(not c.startswith("x_") for c in cols[:first_x]) and all(c.startswith("x_") for c in cols[first_x:])
    billed = sum(table.column("BilledCost").to_pylist())
    effective = sum(table.column("EffectiveCost").to_pylist())
    total = con.execute("SELECT sum(usage_cost) FROM mart.cost_hourly").fetchone()[0]
    assert billed == pytest.approx(total) and effective == pytest.approx(total)
    rows = table.to_pylist()
    gpu_row = next(r for r in rows if r["x_Kind"] == "container")
    assert gpu_row["PricingUnit"] == "GPU-Hours" and gpu_row["PricingQuantity"] == pytest.approx(1.0)
    assert gpu_row["x_InputTokens"] == pytest.approx(12000) and gpu_row["ServiceName"] == "Self-hosted inference"
    assert orjson.loads(gpu_row["Tags"]) == {"team": "s", "model": "llama"}
    con.close()
    assert focus.validate(["BilledCost", "x_a", "ListCost"])  # FOCUS column after an extension
    assert any("x_" in p for p in focus.validate(["BilledCost", "custom"]))


def test_cli_cost_report_export(built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--warehouse", str(built), "cost"])
    assert "cost model built" in capsys.readouterr().out
    main(["--warehouse", str(built), "report", "--format", "json"])
    doc = orjson.loads(capsys.readouterr().out)
    # 8-GPU H100 node price per GPU 2.95 (cpu/ram 0 in the neocloud book); one hour
    assert doc["totals"]["node_cost"] == pytest.approx(2.95)
    assert doc["models"]["llama"]["requests"] == 120
    main(["--warehouse", str(built), "report", "--by", "team,model", "--basis", "usage", "--format", "csv"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("team,model,gpu_hours")
    for suffix in ("csv", "parquet"):
        f = tmp_path / f"focus.{suffix}"
        main(["--warehouse", str(built), "export", "focus", "--out", str(f)])
        t = pq.read_table(f) if suffix == "parquet" else pacsv.read_csv(f)
        assert focus.validate(t.column_names) == [] and t.num_rows >= 4


"""`neocost demo` (the README's main job) end to end on one simulated day, against the real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costmodel.compare import compare
from neocost import warehouse
from neocost.cli import main
from neocost.errors import WarehouseError

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_reconciles_with_truth_and_leaves_a_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str],
                                                          require_binary: object) -> None:
    require_binary("promtool")  # type: ignore[operator]
    monkeypatch.chdir(tmp_path)
    main(["demo", "--days", "1", "--end", "2026-11-20T00:00:00Z", "--json"])  # exits only on errors
    report = json.loads(capsys.readouterr().out)
    truth = json.loads((tmp_path / "demo" / "sim" / "truth.json").read_text())
    diffs = [d for d in compare(truth, report) if d.rel_error is not None]
    assert len(diffs) > 100
    assert [str(d) for d in diffs if d.rel_error > 0.005] == []
    assert report["drift"]["models"]  # the drift job ran on the simulator's embeddings
    con = warehouse.connect(tmp_path / "neocost.duckdb", read_only=True)
    assert con.execute("SELECT status FROM meta.run WHERE job = 'demo'").fetchall() == [("ok",)]
    assert con.execute("SELECT job, status FROM meta.run WHERE job LIKE 'collect:%' ORDER BY job").fetchall() == [
        ("collect:kubernetes", "ok"), ("collect:prometheus", "ok"), ("collect:s3", "ok")]
    con.close()


def test_demo_refuses_a_warehouse_it_did_not_make(tmp_path: Path) -> None:
    from neocost.demo import _check_warehouse

    path = tmp_path / "real.duckdb"
    warehouse.connect(path).close()
    with pytest.raises(WarehouseError, match="not made by `neocost demo`"):
        _check_warehouse(path, force=False)
    _check_warehouse(path, force=True)  # --force replaces it

"""Docs checks: every warehouse relation and every CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from neocost import warehouse
from neocost.cli import LAZY_COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def _relations() -> set[str]:
    con = warehouse.connect(":memory:")
    from drift.job import ensure_views  # views are re-created by their package, not migrated

    ensure_views(con)
    rows = con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                       "WHERE table_schema IN ('meta', 'raw', 'stg', 'model', 'mart')").fetchall()
    return {r[0] for r in rows}


def test_every_warehouse_relation_is_documented() -> None:
    doc = (ROOT / "docs" / "warehouse.md").read_text()
    documented = set(re.findall(r"`((?:meta|raw|stg|model|mart)\.[a-z_0-9]+)`", doc))
    relations = _relations()
    assert len(relations) >= 25
    assert relations - documented == set(), "add these to docs/warehouse.md"
    assert documented - relations == set(), "docs/warehouse.md lists relations that do not exist"


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in LAZY_COMMANDS if f"neocost {name}" not in readme]
    assert missing == []

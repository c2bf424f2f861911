"""Warehouse: migrations, read-only opening, idempotent and atomic window writes, watermarks."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from neocost import warehouse
from neocost.errors import WarehouseError
from neocost.settings import WarehouseSettings

T0 = datetime(2026, 11, 18)
TABLE = "stg.harness_points"


def rows(day: int, value: float, n: int = 24) -> pl.DataFrame:
    """One row per hour of day ``day`` after T0 (columns deliberately out of table order)."""
    ts = [T0 + timedelta(days=day, hours=h) for h in range(n)]
    return pl.DataFrame({"v": [value + h for h in range(n)], "ts": ts, "k": [f"k{h % 3}" for h in range(n)]})


@pytest.fixture
def con(warehouse_path: Path) -> duckdb.DuckDBPyConnection:
    c = warehouse.connect(warehouse_path)
    c.execute(f"CREATE TABLE {TABLE} (ts TIMESTAMP NOT NULL, k VARCHAR NOT NULL, v DOUBLE, PRIMARY KEY (ts, k))")
    yield c
    c.close()


def dump(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(f"SELECT ts, k, v FROM {TABLE} ORDER BY ts, k").fetchall()


# --- migrations ----------------------------------------------------------------------------------------------

def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    names = [m.name for m in warehouse.migrations()]
    assert names == sorted(names) and names[:2] == ["0001_core", "0002_raw"]
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    recorded = con.execute("SELECT name, applied_at FROM meta.schema_version ORDER BY applied_at, name").fetchall()
    assert [r[0] for r in recorded] == names
    con.close()

    con = warehouse.connect(path)  # second open: nothing re-applied, records unchanged
    assert warehouse.pending_migrations(con) == []
    assert warehouse.migrate_to_latest(con) == []
    assert con.execute("SELECT name, applied_at FROM meta.schema_version ORDER BY applied_at, name"
                       ).fetchall() == recorded
    schemas = {r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    assert set(warehouse.SCHEMAS) <= schemas
    con.close()


def test_stop_before_then_continue(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb", migrate=False)
    assert warehouse.migrate_to_latest(con, stop_before="0002_raw") == ["0001_core"]
    assert warehouse.applied_migrations(con) == ["0001_core"]
    rest = warehouse.migrate_to_latest(con)
    assert rest == [m.name for m in warehouse.migrations()][1:]


def test_failing_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = warehouse.migrations()
    bad = warehouse.Migration("9999_bad", "CREATE TABLE raw.half_done (a INTEGER);\nSELECT * FROM no_such_table;")
    monkeypatch.setattr(warehouse, "migrations", lambda: [*real, bad])
    path = tmp_path / "w.duckdb"
    with pytest.raises(WarehouseError, match="migration 9999_bad failed and was rolled back"):
        warehouse.connect(path)
    con = warehouse.connect(path, migrate=False)
    assert warehouse.applied_migrations(con) == [m.name for m in real]  # the good ones committed
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half_done'"
                       ).fetchone()[0] == 0
    assert [m.name for m in warehouse.pending_migrations(con)] == ["9999_bad"]
    con.close()


def test_migration_names_are_well_formed() -> None:
    assert all(warehouse._MIGRATION_NAME.match(m.name + ".sql") for m in warehouse.migrations())


# --- read-only -----------------------------------------------------------------------------------------------

def test_read_only_cannot_write(warehouse_path: Path) -> None:
    con = warehouse.connect(warehouse_path, read_only=True)
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("INSERT INTO meta.watermark VALUES ('x', '', now()::TIMESTAMP, now()::TIMESTAMP)")
    con.close()


def test_read_only_refuses_unmigrated_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    warehouse.connect(empty, migrate=False).close()
    with pytest.raises(WarehouseError, match=r"needs migrations \['0001_core'.*neocost db migrate"):
        warehouse.connect(empty, read_only=True)
    with pytest.raises(WarehouseError, match="does not exist yet"):
        warehouse.connect(tmp_path / "nope.duckdb", read_only=True)
    assert not (tmp_path / "nope.duckdb").exists()


# --- replace_window ------------------------------------------------------------------------------------------

def test_replace_window_is_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    day0, day1 = rows(0, 1.0), rows(1, 100.0)
    for df, d in ((day0, 0), (day1, 1)):
        with warehouse.transaction(con):
            assert warehouse.replace_window(con, TABLE, df, start=T0 + timedelta(days=d),
                                            end=T0 + timedelta(days=d + 1)) == 24
    first = dump(con)
    assert len(first) == 48
    with warehouse.transaction(con):  # the same window again: identical table
        warehouse.replace_window(con, TABLE, day1, start=T0 + timedelta(days=1), end=T0 + timedelta(days=2))
    assert dump(con) == first

    # a corrected re-load replaces only its window
    with warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, rows(1, 500.0, n=12), start=T0 + timedelta(days=1),
                                 end=T0 + timedelta(days=2))
    after = dump(con)
    assert after[:24] == first[:24] and len(after) == 36
    assert con.execute(f"SELECT sum(v) FROM {TABLE} WHERE ts >= ?", [T0 + timedelta(days=1)]).fetchone()[0] \
        == sum(500.0 + h for h in range(12))


def test_replace_window_with_where_clause(con: duckdb.DuckDBPyConnection) -> None:
    with warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, rows(0, 1.0), start=T0, end=T0 + timedelta(days=1))
    only_k0 = rows(0, 1000.0).filter(pl.col("k") == "k0")
    with warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, only_k0, start=T0, end=T0 + timedelta(days=1), where="k = ?",
                                 params=["k0"])
    got = con.execute(f"SELECT k, count(*), min(v) FROM {TABLE} GROUP BY k ORDER BY k").fetchall()
    assert got == [("k0", 8, 1000.0), ("k1", 8, 2.0), ("k2", 8, 3.0)]


def test_failure_inside_transaction_keeps_previous_rows(con: duckdb.DuckDBPyConnection) -> None:
    with warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, rows(0, 1.0), start=T0, end=T0 + timedelta(days=1))
        warehouse.set_watermark(con, "harness", "", T0 + timedelta(days=1))
    before = dump(con)
    with pytest.raises(RuntimeError, match="collector crashed"), warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, rows(0, 9.0, n=3), start=T0, end=T0 + timedelta(days=1))
        warehouse.set_watermark(con, "harness", "", T0 + timedelta(days=5))
        assert len(dump(con)) == 3  # visible inside the transaction ...
        raise RuntimeError("collector crashed")
    assert dump(con) == before  # ... and gone after the rollback
    assert warehouse.get_watermark(con, "harness") == T0 + timedelta(days=1)


def test_duplicate_keys_roll_back_the_whole_window(con: duckdb.DuckDBPyConnection) -> None:
    with warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, rows(0, 1.0), start=T0, end=T0 + timedelta(days=1))
    before = dump(con)
    dup = pl.concat([rows(0, 5.0), rows(0, 5.0)])
    with pytest.raises(duckdb.ConstraintException, match="[Dd]uplicate key"), warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, dup, start=T0, end=T0 + timedelta(days=1))
    assert dump(con) == before
    with warehouse.transaction(con):  # the connection stays usable
        assert warehouse.replace_window(con, TABLE, rows(0, 7.0), start=T0, end=T0 + timedelta(days=1)) == 24
    assert dump(con)[0][2] == 7.0


def test_identifiers_are_whitelisted(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(WarehouseError, match="refusing identifier"):
        warehouse.replace_window(con, "stg.x; DROP TABLE meta.run", rows(0, 1.0))
    assert warehouse.ident("raw.container_usage") == "raw.container_usage"


# --- watermarks ----------------------------------------------------------------------------------------------

def test_watermark_never_moves_back(con: duckdb.DuckDBPyConnection) -> None:
    assert warehouse.get_watermark(con, "prometheus", "usage") is None
    warehouse.set_watermark(con, "prometheus", "usage", T0 + timedelta(hours=6))
    warehouse.set_watermark(con, "prometheus", "usage", T0 + timedelta(hours=2))
    assert warehouse.get_watermark(con, "prometheus", "usage") == T0 + timedelta(hours=6)
    warehouse.set_watermark(con, "prometheus", "usage", T0 + timedelta(hours=9))
    assert warehouse.get_watermark(con, "prometheus", "usage") == T0 + timedelta(hours=9)
    warehouse.set_watermark(con, "prometheus", "requests", T0)  # streams are independent
    assert warehouse.get_watermark(con, "prometheus", "requests") == T0
    assert warehouse.get_watermark(con, "prometheus", "usage") == T0 + timedelta(hours=9)


def test_table_counts(con: duckdb.DuckDBPyConnection) -> None:
    with warehouse.transaction(con):
        warehouse.replace_window(con, TABLE, rows(0, 1.0, n=5))
    counts = warehouse.table_counts(con)
    assert counts[TABLE] == 5
    assert all(k.split(".")[0] in ("raw", "stg", "model", "mart") for k in counts)
    assert "raw.container_requests" in counts and counts["raw.container_requests"] == 0


def test_cost_star_migration_keeps_existing_rows(tmp_path: Path) -> None:
    """0006 moves mart.cost_hourly rows into the fact tables + cost_dim; the view returns them unchanged."""
    con = warehouse.connect(tmp_path / "w.duckdb", migrate=False)
    warehouse.migrate_to_latest(con, stop_before="0006_cost_star")
    cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                      "'mart' AND table_name = 'cost_hourly' ORDER BY ordinal_position").fetchall()]
    strings = {"namespace", "pod", "container", "node", "node_pool", "capacity_type", "bucket", "team", "project",
               "model", "env", "cost_center", "job", "pvc"}
    container = dict(gpu_hours=1.0, gpu_used_hours=0.5, cpu_core_hours=2.0, cpu_request_core_hours=2.0,
                     cpu_usage_core_hours=1.0, ram_gib_hours=4.0, ram_request_gib_hours=4.0,
                     ram_usage_gib_hours=3.0, gpu_cost=2.0, cpu_cost=0.1, ram_cost=0.04, idle_gpu_cost=0.2,
                     idle_cpu_cost=0.01, idle_ram_cost=0.02, shared_cost=0.3, usage_cost=2.14,
                     allocation_cost=2.67)
    egress = dict(tx_bytes=2.0**30, egress_cost=0.09, shared_cost=-0.09, usage_cost=0.09, allocation_cost=0.0)
    idle = {c: 1.5 for c in cols if c not in strings | {"hour", "kind", "is_shared"}}
    rows = []
    for i, (kind, pod, nums) in enumerate([("container", "p1", container), ("container", "p1", container),
                                           ("egress", "p1", egress), ("idle", "", idle)]):
        row = {c: (pod if c == "pod" else f"team-{pod}" if c == "team" else "") if c in strings else 0.0
               for c in cols}
        row.update(nums, hour=datetime(2026, 1, 1, i), kind=kind, is_shared=False)
        rows.append(tuple(row[c] for c in cols))
        con.execute(f"INSERT INTO mart.cost_hourly VALUES ({', '.join('?' * len(cols))})", rows[-1])
    warehouse.migrate_to_latest(con)
    assert con.execute("SELECT count(*) FROM mart.cost_dim").fetchone() == (2,)  # p1 (container, egress) and idle
    got = con.execute(f"SELECT {', '.join(cols)} FROM mart.cost_hourly ORDER BY hour").fetchall()
    assert [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in got] == rows


def _block_memory(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting('block_allocator_memory')").fetchall()[0][0]


def test_a_writer_keeps_the_configured_block_memory_and_a_reader_does_not(tmp_path: Path) -> None:
    """``[warehouse] block_memory`` reaches DuckDB for writing jobs; it cannot shrink, so a smaller value on the
    same database instance is left as it is rather than failing the job."""
    path = tmp_path / "w.duckdb"
    con = warehouse.open_writer(WarehouseSettings(path=path, block_memory="64MiB"))
    assert _block_memory(con) == "64.0 MiB"
    again = warehouse.connect(path, block_memory="32MiB")  # same file, same process: the same DuckDB instance
    assert _block_memory(again) == "64.0 MiB"
    again.close()
    con.close()
    assert _block_memory(warehouse.connect(path, block_memory="off")) == "0 bytes"
    assert _block_memory(warehouse.connect(path, read_only=True, block_memory="64MiB")) == "0 bytes"
    with pytest.raises(WarehouseError, match="block_memory = 'lots'"):
        warehouse.connect(":memory:", block_memory="lots")
    auto = warehouse.connect(":memory:", block_memory="auto")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert warehouse.setting_bytes(auto, "block_allocator_memory") == pytest.approx(ram / 4, rel=0.02)  # to 0.1


def test_memory_limit_bytes_reads_duckdbs_printed_limit() -> None:
    con = duckdb.connect()
    con.execute("SET memory_limit = '3GiB'")
    assert warehouse.memory_limit_bytes(con) == 3 * 2**30
    con.execute("SET memory_limit = '256MB'")  # printed as 244.1 MiB
    assert warehouse.memory_limit_bytes(con) == pytest.approx(256e6, rel=1e-3)
    con.execute("SET memory_limit = '-1'")  # no limit
    assert warehouse.memory_limit_bytes(con) > 2**60


def test_temporary_setting_restores_the_default_exactly_and_a_custom_value() -> None:
    """The block sees the value; afterwards the setting is back, also after an exception: the default exactly
    (RESET, not DuckDB's rounded print of it) and a caller's own value."""
    con = duckdb.connect()
    default = con.execute("SELECT current_setting('memory_limit')").fetchall()
    with warehouse.temporary_setting(con, "memory_limit", "256MB"):
        assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("244.1 MiB",)]
    assert con.execute("SELECT current_setting('memory_limit')").fetchall() == default
    con.execute("SET memory_limit = '2GiB'")  # a caller's value comes back as DuckDB prints it
    with pytest.raises(RuntimeError, match="boom"), warehouse.temporary_setting(con, "memory_limit", "1GB"):
        raise RuntimeError("boom")
    assert con.execute("SELECT current_setting('memory_limit')").fetchall() == [("2.0 GiB",)]
    with warehouse.temporary_setting(con, "preserve_insertion_order", False):
        assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(False,)]
    # nothing left unfinished on the connection: a relation runs right after the block
    assert con.sql("SELECT $x::INTEGER AS a", params={"x": 42}).to_arrow_table()["a"].to_pylist() == [42]
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(True,)]
    with pytest.raises(WarehouseError, match="refusing identifier"):
        with warehouse.temporary_setting(con, "threads; DROP TABLE x", 1):
            pass

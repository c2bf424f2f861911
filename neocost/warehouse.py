"""The DuckDB warehouse: opening, numbered migrations, idempotent window writes and watermarks.

- Schemas ``raw`` (normalised source data), ``stg`` (cleaned and joined), ``model`` (cost model results),
  ``mart`` (what reports, the exporter and the explorer read), plus ``meta`` (bookkeeping).
- Migrations are ``neocost/migrations/NNNN_slug.sql``, applied in lexical order on open, each in one
  transaction together with its ``meta.schema_version`` row. A merged migration is never edited.
- Views are not migrated: packages keep ``CREATE OR REPLACE VIEW`` files and apply them with
  :func:`apply_sql_dir` so they cannot drift from the code.
- One writer at a time (DuckDB holds a file lock); readers open with ``read_only=True``.
- Every write is idempotent: :func:`replace_window` deletes a key range and inserts it again inside one
  transaction, so re-collecting a window replaces it and a failure leaves the previous rows.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from neocost.errors import WarehouseError

if TYPE_CHECKING:
    from neocost.settings import WarehouseSettings

SCHEMAS = ("meta", "raw", "stg", "model", "mart")
_MIGRATION_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def migrations() -> list[Migration]:
    """All packaged migrations in the order they apply."""
    root = resources.files("neocost") / "migrations"
    found = sorted(p.name for p in root.iterdir() if p.name.endswith(".sql"))
    bad = [n for n in found if not _MIGRATION_NAME.match(n)]
    if bad:
        raise WarehouseError(f"migration file names must look like 0001_slug.sql: {bad}")
    return [Migration(n.removesuffix(".sql"), (root / n).read_text()) for n in found]


def connect(path: Path | str, *, read_only: bool = False, migrate: bool = True,
            threads: int | None = None, memory_limit: str | None = None,
            block_memory: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse. A writer applies pending migrations; a reader never writes.

    ``path`` may be ``":memory:"`` for tests. ``block_memory`` (a writer's): see :func:`keep_block_memory`.
    """
    path = str(path)
    if read_only and path != ":memory:" and not Path(path).exists():
        raise WarehouseError(f"warehouse {path} does not exist yet; run `neocost collect` or `neocost demo` first, "
                             "or point --warehouse / NEOCOST_WAREHOUSE__PATH at an existing file")
    config: dict[str, Any] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    try:
        con = duckdb.connect(path, read_only=read_only, config=config)
    except duckdb.IOException as exc:
        msg = str(exc)
        if "lock" in msg.lower():
            raise WarehouseError(f"warehouse {path} is open for writing by another process (one writer at a "
                                 f"time); wait for it to finish or open read-only. DuckDB said: {msg}") from exc
        raise WarehouseError(f"cannot open warehouse {path}: {msg}") from exc
    con.execute("SET TimeZone = 'UTC'")
    if block_memory and not read_only:
        try:
            keep_block_memory(con, block_memory)
        except WarehouseError:
            con.close()
            raise
    if read_only:
        _check_schema_current(con, path)
    elif migrate:
        migrate_to_latest(con)
    return con


def open_writer(settings: WarehouseSettings) -> duckdb.DuckDBPyConnection:
    """The warehouse for a job that writes, as ``[warehouse]`` configures it."""
    return connect(settings.path, threads=settings.threads, memory_limit=settings.memory_limit,
                   block_memory=settings.block_memory)


def keep_block_memory(con: duckdb.DuckDBPyConnection, size: str) -> None:
    """Let DuckDB keep up to ``size`` ('auto': a quarter of the RAM; 'off') of freed buffer memory for reuse.

    DuckDB otherwise returns freed buffers to the OS and faults fresh pages in for the next ones: a cost
    build spent a sixth of its CPU in the kernel doing so. The memory is touched only as it is used and is
    released when the database closes; the setting belongs to the database instance and cannot shrink, so a
    smaller value than one already set is left as it is. 'auto' is best effort: if DuckDB refuses it, its
    default stays; an explicit size it refuses is an error."""
    if size == "off":
        return
    auto = size == "auto"
    if auto:
        try:
            size = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 4}B"
        except (ValueError, OSError):  # no sysconf figure on this platform: leave DuckDB's default
            return
    try:
        con.execute("SET block_allocator_memory = ?", [size])
    except duckdb.Error as exc:
        if "cannot be reduced" in str(exc) or auto:  # already larger; or 'auto' refused (e.g. strict overcommit)
            return
        raise WarehouseError(f"warehouse.block_memory = {size!r}: {exc} (use 'auto', 'off' or e.g. '4GB')") from exc


_SIZE_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def setting_bytes(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    """A DuckDB size setting in bytes (DuckDB reports sizes as text, e.g. '18.8 GiB'); None if unreadable."""
    shown = con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]
    number, _, unit = str(shown).partition(" ")
    try:
        return int(float(number) * _SIZE_UNITS[unit])
    except (ValueError, KeyError):
        return None


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's memory limit in bytes; a very large number when it reports none."""
    return setting_bytes(con, "memory_limit") or 2**62


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'meta' AND table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    return [r[0] for r in con.execute("SELECT name FROM meta.schema_version ORDER BY name").fetchall()]


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    done = set(applied_migrations(con))
    return [m for m in migrations() if m.name not in done]


def migrate_to_latest(con: duckdb.DuckDBPyConnection, stop_before: str | None = None) -> list[str]:
    """Apply pending migrations, each in its own transaction with its version row. Returns the names applied."""
    applied: list[str] = []
    for m in pending_migrations(con):
        if stop_before is not None and m.name >= stop_before:
            break
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(m.sql)
            con.execute("INSERT INTO meta.schema_version (name, applied_at) VALUES (?, now()::TIMESTAMP)", [m.name])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WarehouseError(f"migration {m.name} failed and was rolled back: {exc}") from exc
        applied.append(m.name)
    return applied


def _check_schema_current(con: duckdb.DuckDBPyConnection, path: str) -> None:
    pending = [m.name for m in migrations() if m.name not in set(applied_migrations(con))]
    if pending:
        raise WarehouseError(f"warehouse {path} needs migrations {pending}; open it once for writing "
                             "(e.g. `neocost db migrate`) before reading")


def sql_files(package: str, folder: str = "sql") -> list[Traversable]:
    """The ``.sql`` files shipped in ``package/folder``, sorted by name (prefix names with NN_ to order them)."""
    root = resources.files(package) / folder
    return sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)


def apply_sql_dir(con: duckdb.DuckDBPyConnection, package: str, folder: str = "sql") -> list[str]:
    """Run every ``CREATE OR REPLACE VIEW/MACRO`` file of a package folder, in name order."""
    names = []
    for f in sql_files(package, folder):
        try:
            con.execute(f.read_text())
        except duckdb.Error as exc:
            raise WarehouseError(f"{package}/{folder}/{f.name}: {exc}") from exc
        names.append(f.name)
    return names


def read_sql(package: str, relpath: str) -> str:
    """Text of a packaged SQL file, e.g. ``read_sql("costmodel", "sql/allocate.sql")``."""
    return (resources.files(package) / relpath).read_text()


def ident(name: str) -> str:
    """Whitelist a (schema-qualified) identifier built from constants; refuse anything else."""
    if not _IDENT.match(name):
        raise WarehouseError(f"refusing identifier {name!r}")
    return name


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (which is re-raised)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def temporary_setting(con: duckdb.DuckDBPyConnection, name: str, value: object) -> Iterator[None]:
    """DuckDB setting ``name`` = ``value`` for the block, then back to what it was (also on an exception).

    Restored with RESET when the old value was the default (exactly: DuckDB prints sizes to one decimal, so
    setting the printed memory_limit back could shift it), else with the old value as DuckDB prints it."""
    ident(name)
    # fetchall, not fetchone: an unfinished result blocks the caller's next relation on this connection
    before = con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]
    con.execute(f"SET {name} = ?", [value])
    try:
        yield
    finally:
        con.execute(f"RESET {name}")
        if con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0] != before:
            con.execute(f"SET {name} = ?", [before])


def replace_window(con: duckdb.DuckDBPyConnection, table: str, relation: Any, *, ts_column: str = "ts",
                   start: datetime | None = None, end: datetime | None = None,
                   where: str | None = None, params: Sequence[Any] = ()) -> int:
    """Delete ``[start, end)`` (and/or ``where``) from ``table`` and insert ``relation`` — call inside
    :func:`transaction` to combine several tables atomically.

    ``relation`` is anything DuckDB can scan: a polars/pandas DataFrame, an Arrow table or a relation. Columns
    are matched by name, so the frame may hold them in any order. Returns the number of rows inserted.
    """
    table = ident(table)
    clauses: list[str] = []
    args: list[Any] = []
    if start is not None and end is not None:
        clauses.append(f"{ident(ts_column)} >= ? AND {ident(ts_column)} < ?")
        args += [start, end]
    if where:
        clauses.append(where)
        args += list(params)
    if clauses:
        con.execute(f"DELETE FROM {table} WHERE " + " AND ".join(f"({c})" for c in clauses), args)
    con.register("_neocost_incoming", relation)
    try:
        # INSERT reports its row count: no second scan of the incoming frame
        n = con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _neocost_incoming").fetchall()[0][0]
    finally:
        # after a failed INSERT the transaction is aborted and unregister raises too, hiding the real error
        with contextlib.suppress(duckdb.Error):
            con.unregister("_neocost_incoming")
    return int(n)


def get_watermark(con: duckdb.DuckDBPyConnection, source: str, stream: str = "") -> datetime | None:
    row = con.execute("SELECT watermark FROM meta.watermark WHERE source = ? AND stream = ?",
                      [source, stream]).fetchone()
    return row[0] if row else None


def set_watermark(con: duckdb.DuckDBPyConnection, source: str, stream: str, watermark: datetime) -> None:
    """Move a watermark forward (never back). Call in the same transaction as the window's rows."""
    con.execute(
        """INSERT INTO meta.watermark (source, stream, watermark, updated_at) VALUES (?, ?, ?, now()::TIMESTAMP)
           ON CONFLICT (source, stream) DO UPDATE
           SET watermark = greatest(meta.watermark.watermark, excluded.watermark), updated_at = excluded.updated_at""",
        [source, stream, watermark])


def table_counts(con: duckdb.DuckDBPyConnection, schemas: Sequence[str] = ("raw", "stg", "model", "mart")
                 ) -> dict[str, int]:
    """Row count per base table in the given schemas (for summaries and `neocost db status`)."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2", [list(schemas)]).fetchall()
    out = {}
    for schema, name in rows:
        q = ident(f"{schema}.{name}")
        out[q] = int(con.execute(f"SELECT count(*) FROM {q}").fetchone()[0])  # type: ignore[index]
    return out

"""A commit window's rows spooled to Parquet files, inserted by DuckDB in one statement per table at commit.

Why not insert each fetch batch as it is built: DuckDB keeps many small appends of one open transaction in
memory until COMMIT (~130 MB per large-scale 4 h batch, 1.5 GB per window), whereas one ``INSERT ... SELECT
FROM read_parquet(...)`` per table streams the files (optimistic writes straight to the database file) and
stays near the size of one row group. The files live in a private temporary directory and are deleted after
the window committed or failed; the raw tables and the watermark only change inside the commit transaction.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb
import polars as pl

from neocost import warehouse


class Spool:
    """Parquet files per table for one commit window (thread-safe: batches are built off the main thread)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def add(self, table: str, df: pl.DataFrame) -> None:
        """Spool one batch's rows of ``table`` (empty frames too: the commit still replaces the window)."""
        with self._lock:
            files = self._files.setdefault(table, [])
            path = self.dir / f"{table}.{len(files)}.parquet"
            files.append(str(path))
        # lz4, no statistics: written once, read once, right away
        df.write_parquet(path, compression="lz4", statistics=False)

    def tables(self) -> list[str]:
        return list(self._files)

    def replace(self, con: duckdb.DuckDBPyConnection, table: str, start: object, end: object) -> int:
        """Replace ``[start, end)`` of ``table`` with the spooled rows (call inside the window's transaction)."""
        rel = con.read_parquet(self._files[table], union_by_name=True)
        return warehouse.replace_window(con, table, rel, start=start, end=end)  # type: ignore[arg-type]

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

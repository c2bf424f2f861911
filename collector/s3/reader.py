"""DuckDB side of the S3 collector: expose one snapshot's objects as ``_s3_objects`` and aggregate them.

Inventory data files are scanned by DuckDB (``read_csv`` / ``read_parquet``; ORC through pyarrow.dataset)
and aggregated in SQL, so a 10-million-row inventory never becomes 10 million Python objects. Listing pages
are appended to a temp table as Arrow batches and aggregated by the same ``aggregate.sql``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from collector.s3.inventory import Manifest
from neocost.errors import InputFormatError

OBJECTS_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("size", pa.int64()),
        ("last_modified", pa.timestamp("us")),
        ("storage_class", pa.string()),
        ("is_latest", pa.bool_()),
        ("is_delete_marker", pa.bool_()),
    ]
)
_AGGREGATE = (resources.files("collector.s3") / "aggregate.sql").read_text()
# Canonical column -> SQL over the raw inventory columns; fragments are constants, only chosen by presence.
_CSV_EXPR = {
    # CSV keys are URL-encoded with '+' for space (a literal '+' is %2B).
    "key": "url_decode(replace(key, '+', ' '))",
    "size": "CAST(nullif(size, '') AS BIGINT)",
    "last_modified": "CAST(nullif(last_modified_date, '') AS TIMESTAMPTZ)::TIMESTAMP",
    "storage_class": "storage_class",
    "is_latest": "coalesce(lower(is_latest) = 'true', TRUE)",
    "is_delete_marker": "coalesce(lower(is_delete_marker) = 'true', FALSE)",
}
_COLUMNAR_EXPR = {
    "key": "key",
    "size": "CAST(size AS BIGINT)",
    "last_modified": "CAST(last_modified_date AS TIMESTAMPTZ)::TIMESTAMP",
    "storage_class": "storage_class",
    "is_latest": "coalesce(CAST(is_latest AS BOOLEAN), TRUE)",
    "is_delete_marker": "coalesce(CAST(is_delete_marker AS BOOLEAN), FALSE)",
}
_DEFAULTS = {
    "last_modified": "NULL::TIMESTAMP",
    "storage_class": "'STANDARD'",
    "is_latest": "TRUE",
    "is_delete_marker": "FALSE",
}
_SOURCE_COLUMN = {
    "key": "key",
    "size": "size",
    "last_modified": "last_modified_date",
    "storage_class": "storage_class",
    "is_latest": "is_latest",
    "is_delete_marker": "is_delete_marker",
}


def _projection(columns: Sequence[str], exprs: dict[str, str]) -> str:
    return ", ".join(
        f"{exprs[c] if _SOURCE_COLUMN[c] in columns else _DEFAULTS[c]} AS {c}" for c in OBJECTS_SCHEMA.names
    )


@contextmanager
def inventory_objects(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    paths: Sequence[Path],
    rename: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Create the temp view ``_s3_objects`` over verified local copies of a report's data files.

    ``rename`` maps local temp paths back to S3 URIs for error messages (as in :func:`aggregate`)."""
    files = [str(p) for p in paths]
    if manifest.file_format == "CSV":
        # Column names are whitelisted in inventory.parse_file_schema, so they are safe as identifiers.
        cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in manifest.columns) + "}"
        source = (
            f"read_csv($files, columns={cols}, header=false, delim=',', quote='\"', escape='\"', "
            "compression='gzip', auto_detect=false, null_padding=false, strict_mode=true)"
        )
        sql = f"SELECT {_projection(manifest.columns, _CSV_EXPR)} FROM {source}"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _s3_objects AS {sql.replace('$files', _literal_list(files))}"
        )
    elif manifest.file_format == "Parquet":
        sql = f"SELECT {_projection(manifest.columns, _COLUMNAR_EXPR)} FROM read_parquet($files)"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _s3_objects AS {sql.replace('$files', _literal_list(files))}"
        )
    else:
        con.register("_s3_orc", _orc_dataset(files, manifest.key, rename or {}))
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _s3_objects AS "
            f"SELECT {_projection(manifest.columns, _COLUMNAR_EXPR)} FROM _s3_orc"
        )
    try:
        yield
    finally:
        con.execute("DROP VIEW IF EXISTS _s3_objects")
        if manifest.file_format == "ORC":
            con.unregister("_s3_orc")


def _orc_dataset(files: Sequence[str], where: str, rename: Mapping[str, str]) -> Any:
    """A pyarrow dataset over the ORC files, each opened first: a truncated or non-ORC file fails here, named
    (the dataset itself reads only the first file's schema; a bad later file would fail mid-scan)."""
    import pyarrow.dataset as ds
    import pyarrow.orc as orc

    for f in files:
        try:
            orc.ORCFile(f)  # reads the postscript, footer and schema
        except (pa.ArrowException, OSError, ValueError) as exc:
            msg = str(exc)
            for local, remote in rename.items():
                msg = msg.replace(local, remote)
            raise InputFormatError(
                f"{where}: {rename.get(f, f)} is not a readable ORC file ({msg}) — nothing from this report "
                "was stored; check that the inventory configuration's format is ORC and the file is complete"
            ) from exc
    return ds.dataset(files, format="orc")


def _literal_list(files: Sequence[str]) -> str:
    # DDL cannot take bound parameters; paths are our own temp-dir names (part-00001.csv.gz), quoted anyway.
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


@contextmanager
def listed_objects(con: duckdb.DuckDBPyConnection, batches: Iterator[pa.RecordBatch]) -> Iterator[None]:
    """Fill the temp table ``_s3_objects`` from listing pages (one Arrow batch each, never all in RAM)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _s3_objects (key VARCHAR, size BIGINT, last_modified TIMESTAMP, "
        "storage_class VARCHAR, is_latest BOOLEAN, is_delete_marker BOOLEAN)"
    )
    try:
        for batch in batches:
            con.register("_s3_page", pa.Table.from_batches([batch], schema=OBJECTS_SCHEMA))
            try:
                con.execute("INSERT INTO _s3_objects SELECT * FROM _s3_page")
            finally:
                con.unregister("_s3_page")
        yield
    finally:
        con.execute("DROP TABLE IF EXISTS _s3_objects")


def aggregate(
    con: duckdb.DuckDBPyConnection,
    *,
    snapshot_at: datetime,
    depth: int,
    stale_after_days: int,
    checkpoint_patterns: Sequence[str],
    where: str = "",
    rename: Mapping[str, str] | None = None,
) -> pa.Table:
    """Run aggregate.sql over ``_s3_objects``: one row per (prefix, storage_class, is_latest).

    ``where`` names the source in error messages; ``rename`` maps local temp paths back to S3 URIs there.
    """
    # RE2 has no lookahead: with no patterns, match a NUL, which never occurs in a key.
    names = "|".join(re.escape(p.lower()) for p in checkpoint_patterns) or r"\x00"
    params: dict[str, Any] = {
        "prefix_re": f"^((?:[^/]*/){{0,{int(depth)}}})",
        "checkpoint_re": f"(^|/)({names})([-_.]?[0-9]+)?/",
        "cutoff": snapshot_at - timedelta(days=stale_after_days),
    }
    try:
        return con.sql(_AGGREGATE, params=params).to_arrow_table()
    except duckdb.Error as exc:
        msg = str(exc)
        for local, remote in (rename or {}).items():
            msg = msg.replace(local, remote)
        raise InputFormatError(
            f"{where}: cannot read the data files: {msg} — nothing from this report was stored"
        ) from exc


__all__ = ["OBJECTS_SCHEMA", "aggregate", "inventory_objects", "listed_objects"]

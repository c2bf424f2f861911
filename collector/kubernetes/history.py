"""SCD type 2 merge of listed objects into raw.k8s_namespace / k8s_pod / k8s_node (source = 'api').

Per object key, at collection time ``now``:

- same content as the open version -> nothing changes (collecting twice leaves identical tables);
- different content (labels, node, node pool, phase, ...) -> the open version gets ``valid_to = now`` and a
  new version opens at ``now``;
- no longer listed -> the open version is closed at ``now``;
- never seen before -> a version opens at the object's ``creationTimestamp`` (so metrics from before the
  first collection still find their labels), or after the key's last closed version if that is later.

Identifiers below come only from the constant :data:`SPECS`; values are bound. Call inside
``warehouse.transaction`` so all three tables change together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from neocost.warehouse import ident

SOURCE = "api"
_LABELS = pa.map_(pa.string(), pa.string())


@dataclass(frozen=True)
class Spec:
    table: str
    keys: tuple[str, ...]
    schema: pa.Schema  # keys + content columns (+ created, which is not stored)

    @property
    def content(self) -> tuple[str, ...]:
        return tuple(n for n in self.schema.names if n not in self.keys and n != "created")


SPECS: dict[str, Spec] = {
    "namespaces": Spec(
        "raw.k8s_namespace",
        ("namespace",),
        pa.schema([("namespace", pa.string()), ("labels", _LABELS), ("created", pa.timestamp("us"))]),
    ),
    "pods": Spec(
        "raw.k8s_pod",
        ("namespace", "pod"),
        pa.schema(
            [
                ("namespace", pa.string()),
                ("pod", pa.string()),
                ("uid", pa.string()),
                ("node", pa.string()),
                ("owner_kind", pa.string()),
                ("owner_name", pa.string()),
                ("controller_kind", pa.string()),
                ("controller_name", pa.string()),
                ("phase", pa.string()),
                ("requests", pa.map_(pa.string(), pa.float64())),
                ("labels", _LABELS),
                ("created", pa.timestamp("us")),
            ]
        ),
    ),
    "nodes": Spec(
        "raw.k8s_node",
        ("node",),
        pa.schema(
            [
                ("node", pa.string()),
                ("instance_type", pa.string()),
                ("capacity_type", pa.string()),
                ("node_pool", pa.string()),
                ("region", pa.string()),
                ("zone", pa.string()),
                ("gpu_product", pa.string()),
                ("gpu_count", pa.int32()),
                ("gpu_replicas", pa.int32()),
                ("mig_strategy", pa.string()),
                ("cpu_cores", pa.float64()),
                ("memory_bytes", pa.float64()),
                ("labels", _LABELS),
                ("created", pa.timestamp("us")),
            ]
        ),
    ),
}


@dataclass(frozen=True)
class MergeStats:
    current: int  # open versions after the merge
    opened: int
    closed: int


def to_arrow(kind: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows from :mod:`normalize` as an Arrow table with the exact column types of the raw table."""
    schema = SPECS[kind].schema
    cols = {}
    for f in schema:
        values = [r.get(f.name) for r in rows]
        if pa.types.is_map(f.type):
            values = [list(v.items()) if v is not None else None for v in values]
        cols[f.name] = pa.array(values, type=f.type)
    return pa.table(cols, schema=schema)


def merge(con: duckdb.DuckDBPyConnection, kind: str, incoming: pa.Table, now: datetime) -> MergeStats:
    """Apply one complete listing of ``kind`` as of ``now`` (see the module docstring)."""
    spec = SPECS[kind]
    table = ident(spec.table)
    keys = " AND ".join(f"t.{ident(k)} = i.{ident(k)}" for k in spec.keys)
    same = " AND ".join(f"t.{ident(c)} IS NOT DISTINCT FROM i.{ident(c)}" for c in spec.content)
    cols = ", ".join(ident(c) for c in (*spec.keys, *spec.content))
    open_ = f"t.source = '{SOURCE}' AND t.valid_to IS NULL"
    unchanged = f"EXISTS (SELECT 1 FROM _k8s_incoming i WHERE {keys} AND {same})"
    con.register("_k8s_incoming", incoming)
    try:
        # A version opened at this very instant would close as [now, now): drop it instead.
        con.execute(f"DELETE FROM {table} t WHERE {open_} AND t.valid_from = ? AND NOT {unchanged}", [now])
        closed = _count(con, f"SELECT count(*) FROM {table} t WHERE {open_} AND NOT {unchanged}")
        con.execute(f"UPDATE {table} t SET valid_to = ? WHERE {open_} AND NOT {unchanged}", [now])
        opened = _count(
            con,
            f"SELECT count(*) FROM _k8s_incoming i WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} t WHERE {open_} AND {keys})",
        )
        con.execute(
            f"""INSERT INTO {table} (source, {cols}, valid_from, valid_to)
                SELECT '{SOURCE}', {", ".join("i." + ident(c) for c in (*spec.keys, *spec.content))},
                       least(?::TIMESTAMP, greatest(coalesce(i.created, ?::TIMESTAMP),
                             coalesce((SELECT max(t.valid_to) FROM {table} t
                                       WHERE t.source = '{SOURCE}' AND {keys}), i.created, ?::TIMESTAMP))),
                       NULL
                FROM _k8s_incoming i
                WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {open_} AND {keys})""",
            [now, now, now],
        )
        current = _count(con, f"SELECT count(*) FROM {table} t WHERE {open_}")
    finally:
        con.unregister("_k8s_incoming")
    return MergeStats(current=current, opened=opened, closed=closed)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # fetchall: DuckDB 2 refuses unregister() after a partial fetch
    return int(rows[0][0]) if rows else 0


__all__ = ["SOURCE", "SPECS", "MergeStats", "merge", "to_arrow"]

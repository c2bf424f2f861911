"""Build the cost model for a window: resolve node prices, run the allocation SQL, replace the window's hours.

The allocation is DuckDB SQL over the raw tables (``costmodel/sql/alloc/NN_*.sql``, run in name order with
bound parameters). Everything is computed per interval and rolled up to hours, so building ``[a, c)`` equals
building ``[a, b)`` and ``[b, c)``; an incremental update rebuilds just the affected hours (delete and insert
in one transaction).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from costmodel import pricebook as pb
from neocost.errors import WarehouseError
from neocost.labels import sanitize_label_key
from neocost.settings import TAGS, CostModelSettings, LabelSettings
from neocost.warehouse import ident, memory_limit_bytes, set_watermark, temporary_setting, transaction

HOUR = timedelta(hours=1)
# request rows per build chunk: ~125 bytes of intermediate state each, two chunks in flight. Fewer, larger chunks
# are faster (the year: 8 M rows 57.7 s, 16 M 55.4 s, 24 M 56.3 s); the chunk is smaller when DuckDB's memory
# limit would not hold two of them in half of it
CHUNK_ROWS = 16_000_000
CHUNK_ROW_BYTES = 125
_PARAM = re.compile(r"\$([a-z_]+)")
# an hourly roll-up in the SQL (`SELECT keys, sum(COLUMNS(* EXCLUDE (keys))) FROM x GROUP BY keys`): when the
# intervals are hours every group is one row, so the roll-up is dropped (the hash aggregation was ~a quarter of
# an hourly build)
_ROLLUP = re.compile(r"SELECT ([\w, ]+), sum\(COLUMNS\(\* EXCLUDE \(\1\)\)\) FROM (\w+) GROUP BY \1")

_FACT_TABLES = ("mart.cost_fact_container", "mart.cost_fact_egress", "mart.cost_fact_other")
_WRITE_TABLES = (*_FACT_TABLES, "model.node_hourly", "mart.inference_hourly")
_VERSION_TABLES = ("cm_pod_v", "cm_ns_v", "cm_node_v")
# metadata history tables merged per object (10_versions.sql): output, source, keys, content, derived columns
# a tag from the chosen version's labels, else from the covering API version's (fb_labels)
_TAGS = ", ".join(f"coalesce(cm_tag(labels, $k_{t}), cm_tag(fb_labels, $k_{t})) AS {t}" for t in TAGS)
_VERSIONS = (
    ("cm_pod_v", "raw.k8s_pod", ("namespace", "pod"), ("node", "owner_kind", "owner_name", "labels"),
     f"node, {_TAGS}, CASE WHEN owner_kind = 'Job' AND coalesce(owner_name, '') <> '' THEN owner_name "
     "ELSE coalesce(cm_tag(labels, ['batch_kubernetes_io_job_name', 'job_name']), "
     "cm_tag(fb_labels, ['batch_kubernetes_io_job_name', 'job_name'])) END AS job"),
    ("cm_ns_v", "raw.k8s_namespace", ("namespace",), ("labels",), _TAGS),
    ("cm_node_v", "raw.k8s_node", ("node",),
     ("instance_type", "capacity_type", "node_pool", "gpu_product", "gpu_count", "gpu_replicas", "cpu_cores",
      "memory_bytes", "labels"),
     "instance_type, capacity_type, node_pool, gpu_product, gpu_count, gpu_replicas, cpu_cores, "
     f"memory_bytes, {_TAGS}"),
)


@dataclass
class BuildResult:
    start: datetime
    end: datetime
    hours: int
    rows: int
    seconds: float
    defaulted_nodes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _phase(name: str) -> str:
    """A step's phase from its number: 00-19 metadata versions (before the prices, once per build), 20-59 temp
    tables (outside the write transaction), 60-99 writes (inside it)."""
    n = int(name[:2])
    return "meta" if n < 20 else "temp" if n < 60 else "write"


def _steps() -> list[tuple[str, str]]:
    root = resources.files("costmodel") / "sql" / "alloc"
    files = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    out = []
    for f in files:
        text = f.read_text()
        if f.name.startswith("10_"):
            text = "".join(_versions_sql(text, *spec) for spec in _VERSIONS)
        out.append((f.name, text))
    return out


def _versions_sql(template: str, out: str, table: str, keys: tuple[str, ...], cols: tuple[str, ...],
                  select: str) -> str:
    """Render 10_versions.sql for one metadata table (identifiers are the constants in _VERSIONS)."""
    def eq(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in keys)

    body = template[template.index("CREATE OR REPLACE"):]
    return body.format(out=out, table=table, keys=", ".join(keys), cols=", ".join(cols),
                       a_keys=", ".join(f"a.{k}" for k in keys), ak_eq=eq("a", "k"), vt_eq=eq("v", "t"),
                       s_keys=", ".join(f"s.{k}" for k in keys), c_cols=", ".join(f"c.{c}" for c in cols),
                       sc_eq=eq("s", "c"), p_keys=", ".join(f"p.{k}" for k in keys), pf_eq=eq("p", "f"),
                       merged=", ".join(f"p.labels, f.labels AS fb_labels" if c == "labels" else
                                        f"coalesce(p.{c}, f.{c}) AS {c}" for c in cols),
                       select=select) + "\n"


def _run(con: duckdb.DuckDBPyConnection, name: str, sql: str, params: dict[str, object]) -> None:
    try:
        for stmt in (s for s in sql.split(";\n") if s.strip()):
            con.execute(stmt, {k: params[k] for k in set(_PARAM.findall(stmt)) if k in params})
    except duckdb.Error as exc:
        raise WarehouseError(f"costmodel/sql/alloc/{name}: {exc}") from exc


def collected_window(con: duckdb.DuckDBPyConnection, step_seconds: int = 300) -> tuple[datetime, datetime] | None:
    """Everything collected: [first interval, last interval + step), widened to whole hours."""
    row = con.execute("""SELECT min(lo), max(hi) FROM (
        SELECT min(ts) AS lo, max(ts) AS hi FROM raw.node_capacity
        UNION ALL SELECT min(ts), max(ts) FROM raw.container_requests)""").fetchone()
    if not row or row[0] is None:
        return None
    return floor_hour(row[0]), ceil_hour(row[1] + timedelta(seconds=step_seconds))


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_hour(t: datetime) -> datetime:
    f = floor_hour(t)
    return f if f == t else f + HOUR


def _slices_per_card(product: str | None) -> int:
    # MIG compute slices of one card: A30 has 4, A100/H100/H200/B200 have 7.
    return 4 if product and "A30" in product.upper() else 7


@dataclass
class Columns:
    """A small table as typed Python lists (node prices, price book rows), loaded into a temp table with
    ``unnest`` of bound lists: no Arrow/pandas scan (registering a Python object imports pandas, ~0.45 s of a
    one-hour rebuild)."""
    data: dict[str, list[object]]
    types: dict[str, str]

    def __len__(self) -> int:
        return len(next(iter(self.data.values()), []))

    def to_temp_table(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} ("
                    + ", ".join(f"{ident(c)} {t}" for c, t in self.types.items()) + ")")
        if len(self):
            con.execute(f"INSERT INTO {name} SELECT "
                        + ", ".join(f"unnest(${c}::{t}[])" for c, t in self.types.items()), self.data)


# nid: the node's integer key in the build (rows come in node order)
_PRICE_TYPES = {"nid": "INTEGER", "node": "VARCHAR", "instance_type": "VARCHAR", "capacity_type": "VARCHAR",
                "node_pool": "VARCHAR", "gpu_product": "VARCHAR", "gpus": "DOUBLE", "gpu_replicas": "INTEGER",
                "mig_slices": "INTEGER", "gpu_hourly": "DOUBLE", "cpu_core_hourly": "DOUBLE",
                "ram_gib_hourly": "DOUBLE", "source": "VARCHAR", "as_of": "VARCHAR", "defaulted": "BOOLEAN"}


def resolve_node_prices(con: duckdb.DuckDBPyConnection, book: pb.PriceBook, start: datetime, end: datetime
                        ) -> tuple[Columns, list[str]]:
    """Unit prices for every node seen in the window (in node order); returns them and the defaulted nodes.

    Needs the temp table ``cm_node_v`` (10_versions.sql)."""
    rows = con.execute("""
        WITH nodes AS (
            SELECT DISTINCT node FROM raw.node_capacity WHERE ts >= ? AND ts < ?
            UNION SELECT DISTINCT node FROM raw.container_requests WHERE ts >= ? AND ts < ? AND node <> ''),
        cap AS (
            SELECT node, max(capacity) FILTER (WHERE resource = 'cpu') AS cores,
                   max(capacity) FILTER (WHERE resource = 'memory') AS mem,
                   max(capacity) FILTER (WHERE resource = 'nvidia_com_gpu') AS gpu_cap,
                   max(capacity * TRY_CAST(regexp_extract(resource, '^nvidia_com_mig_(\\d+)g', 1) AS DOUBLE))
                       FILTER (WHERE resource LIKE 'nvidia_com_mig_%') AS mig_cap
            FROM raw.node_capacity WHERE ts >= ? AND ts < ? GROUP BY node),
        facts AS (  -- the node's metadata segment (cm_node_v: API or ksm per node) newest in the window
            SELECT node, instance_type, capacity_type, node_pool, gpu_product, gpu_count, gpu_replicas,
                   cpu_cores, memory_bytes FROM cm_node_v
            QUALIFY row_number() OVER (PARTITION BY node ORDER BY (vf < ? AND vt > ?) DESC, vf DESC) = 1)
        SELECT n.node, f.instance_type, f.capacity_type, f.node_pool, f.gpu_product, f.gpu_count, f.gpu_replicas,
               coalesce(c.cores, f.cpu_cores, 0), coalesce(c.mem, f.memory_bytes, 0), c.gpu_cap, c.mig_cap
        FROM nodes n LEFT JOIN cap c USING (node) LEFT JOIN facts f USING (node) ORDER BY n.node""",
                       [start, end, start, end, start, end, end, start]).fetchall()
    out: dict[str, list[object]] = {k: [] for k in _PRICE_TYPES}
    defaulted = []
    for node, itype, ctype, pool, product, gcount, replicas, cores, mem, gpu_cap, mig_cap in rows:
        replicas = int(replicas) if replicas and replicas > 0 else 1
        slices = _slices_per_card(product)
        if gcount is not None:
            gpus = float(gcount)
        elif gpu_cap:
            gpus = float(gpu_cap) / replicas
        else:
            gpus = float(mig_cap or 0) / slices
        ct = pb.normalise_capacity_type(ctype, where=f"node {node!r} (raw.k8s_node.capacity_type)")
        price = book.resolve(node=node, instance_type=itype, capacity_type=ct, gpu_product=product, gpus=gpus,
                             cores=float(cores), ram_gib=float(mem) / 2**30)
        if price.defaulted:
            defaulted.append(node)
        for k, v in (("nid", len(out["nid"]) + 1), ("node", node), ("instance_type", itype),
                     ("capacity_type", ct), ("node_pool", pool), ("gpu_product", product), ("gpus", gpus),
                     ("gpu_replicas", replicas), ("mig_slices", slices), ("gpu_hourly", price.gpu_hourly),
                     ("cpu_core_hourly", price.cpu_core_hourly), ("ram_gib_hourly", price.ram_gib_hourly),
                     ("source", price.source), ("as_of", price.as_of), ("defaulted", price.defaulted)):
            out[k].append(v)
    return Columns(out, _PRICE_TYPES), defaulted


def storage_rules(settings: CostModelSettings) -> Columns:
    """``costmodel.storage_tags`` as rows: bucket, prefix ('' = the whole bucket) and the tags each rule sets."""
    out: dict[str, list[object]] = {k: [] for k in ("bucket", "prefix", *TAGS)}
    for where, values in settings.storage_tags.items():
        bucket, _, prefix = where.strip("/").partition("/")
        out["bucket"].append(bucket)
        out["prefix"].append(prefix + "/" if prefix else "")
        for t in TAGS:
            out[t].append(values.get(t) or None)
    return Columns(out, dict.fromkeys(out, "VARCHAR"))


def tag_key_params(labels: LabelSettings) -> dict[str, list[str]]:
    """``$k_<tag>`` per tag: the configured label key, then every key ``labels.renames`` renames to it (in the
    sanitised spelling kube-state-metrics uses); cm_tag takes the first one present."""
    out = {}
    for tag, key in labels.tag_keys().items():
        target = sanitize_label_key(key)
        sources = [sanitize_label_key(s) for s, t in labels.renames.items() if sanitize_label_key(t) == target]
        out[f"k_{tag}"] = [target, *dict.fromkeys(s for s in sources if s != target)]
    return out


def _params(settings: CostModelSettings, labels: LabelSettings, book: pb.PriceBook, start: datetime,
            end: datetime, step_seconds: int) -> dict[str, object]:
    split = settings.egress_fallback_split
    egress_gib = sum(share * book.egress_price(klass) for klass, share in split.items())
    keys = tag_key_params(labels)
    return {"start": start, "end": end, "dt": step_seconds / 3600.0, "step": step_seconds,
            "shared": list(settings.shared_namespaces),
            "idle_mode": settings.share_idle, "shared_mode": settings.share_shared, "egress_gib": egress_gib,
            "volume_gib_month": book.defaults.volume_gib_month, **keys}


def build(con: duckdb.DuckDBPyConnection, *, costmodel: CostModelSettings | None = None,
          labels: LabelSettings | None = None, book: pb.PriceBook | None = None,
          start: datetime | None = None, end: datetime | None = None, step_seconds: int = 300,
          hourly_chunks: bool = False, chunk_rows: int | None = None) -> BuildResult:
    """(Re)build ``[start, end)`` (whole hours; default everything collected) of the cost model marts.

    Long windows are built in chunks of whole hours holding about ``chunk_rows`` request rows each (default
    :data:`CHUNK_ROWS`, less under a small memory limit; everything is per interval, so the result is the same);
    ``hourly_chunks`` builds hour by hour."""
    t0 = time.perf_counter()
    costmodel = costmodel or CostModelSettings()
    labels = labels or LabelSettings()
    if book is None:
        book = pb.load(costmodel.base_pricebook, costmodel.pricebook)
    if start is None or end is None:
        window = collected_window(con, step_seconds)
        if window is None:
            raise WarehouseError("nothing collected yet (raw.node_capacity is empty); run `neocost collect` first")
        start = start or window[0]
        end = end or window[1]
    start, end = floor_hour(start), ceil_hour(end)
    if end <= start:
        raise WarehouseError(f"empty window [{start}, {end}); --end must be after --start")
    chunk_rows = chunk_rows or default_chunk_rows(con)
    chunks = [(t, t + HOUR) for t in _hours(start, end)] if hourly_chunks else _chunks(con, start, end, chunk_rows)
    # no ordering needed in the temp tables; DuckDB's threads stay as configured (`warehouse.threads`, default
    # every core)
    with temporary_setting(con, "preserve_insertion_order", False):
        rows, defaulted, unmatched = _build_chunks(con, chunks, costmodel, labels, book, step_seconds)
    warnings = []
    if defaulted:
        warnings.append(f"{len(defaulted)} node(s) have no price book row and use the default unit prices: "
                        f"{', '.join(sorted(defaulted))}")
    if unmatched:
        warnings.append(f"costmodel.storage_tags {', '.join(sorted(unmatched))} matched no stored prefix (prefixes "
                        "are collected to s3.prefix_depth levels; check the bucket name and the depth)")
    return BuildResult(start, end, int((end - start) / HOUR), rows, time.perf_counter() - t0, sorted(defaulted),
                       warnings)


def default_chunk_rows(con: duckdb.DuckDBPyConnection) -> int:
    """:data:`CHUNK_ROWS`, or fewer when two chunks in flight would take more than half of DuckDB's memory
    limit."""
    return max(1, min(CHUNK_ROWS, memory_limit_bytes(con) // (4 * CHUNK_ROW_BYTES)))


def _chunks(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, chunk_rows: int
            ) -> list[tuple[datetime, datetime]]:
    """Whole-hour pieces of ``[start, end)`` with about ``chunk_rows`` request rows each."""
    hours = int((end - start) / HOUR)
    n = con.execute("SELECT count(*) FROM raw.container_requests WHERE ts >= ? AND ts < ?", [start, end]).fetchall()
    pieces = max(1, -(-int(n[0][0]) // max(chunk_rows, 1)))
    step = max(1, -(-hours // pieces))
    return [(start + i * HOUR, min(end, start + (i + step) * HOUR)) for i in range(0, hours, step)]


def _hours(start: datetime, end: datetime) -> list[datetime]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += HOUR
    return out


def prepare_versions(con: duckdb.DuckDBPyConnection, labels: LabelSettings | None = None) -> None:
    """Create the temp tables cm_pod_v / cm_ns_v / cm_node_v (metadata merged per object, tags extracted)."""
    params = tag_key_params(labels or LabelSettings())
    for name, sql in _steps():
        if _phase(name) == "meta":
            _run(con, name, sql, params)


def _build_chunks(con: duckdb.DuckDBPyConnection, chunks: list[tuple[datetime, datetime]],
                  settings: CostModelSettings, labels: LabelSettings, book: pb.PriceBook, step_seconds: int
                  ) -> tuple[int, set[str], set[str]]:
    """Build the chunks in order; returns (fact rows, defaulted nodes, unmatched storage rules).

    One chunk is built in place. Several are pipelined over two cursors of ``con`` (each its own connection
    with its own temp tables): while one cursor writes chunk k in its transaction, the other computes chunk
    k + 1's temp tables. Writes stay one at a time and in chunk order (dim ids, watermark); the compute
    phase reads only the raw tables and its own temp tables. The overlap fills the cores a single chunk
    leaves idle in its single-threaded parts (commit, small statements)."""
    if len(chunks) == 1:
        try:
            prepare_versions(con, labels)
            work = _compute_window(con, settings, labels, book, *chunks[0], step_seconds)
            return _write_window(con, work), set(work.defaulted), set(work.unmatched)
        finally:
            _drop_temp_tables(con)  # also what a failed build left behind
    turn = threading.Condition()
    # next: the chunk whose turn it is to write; failed: the first chunk that failed (the chunks before it are
    # still written, as a sequential build would have; none after it)
    state: dict[str, Any] = {"next": 0, "failed": None, "error": None}
    out: list[tuple[int, _ChunkWork]] = []

    def stop_at(k: int) -> bool:
        return state["failed"] is not None and state["failed"] < k

    def worker(lane: int) -> None:
        cur = con.cursor()
        k = lane
        try:
            prepare_versions(cur, labels)  # window-independent: once per cursor
            for k in range(lane, len(chunks), 2):
                work = _compute_window(cur, settings, labels, book, *chunks[k], step_seconds)
                with turn:
                    turn.wait_for(lambda: state["next"] == k or stop_at(k))
                    if stop_at(k):
                        return
                try:
                    out.append((_write_window(cur, work), work))
                finally:
                    with turn:
                        state["next"] = k + 1
                        turn.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            with turn:
                if state["failed"] is None or k < state["failed"]:
                    state["failed"], state["error"] = k, exc
                turn.notify_all()
        finally:
            cur.close()  # drops its temp tables

    lanes = [threading.Thread(target=worker, args=(i,), name=f"neocost-cost-{i}") for i in range(2)]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    if state["error"] is not None:
        raise state["error"]
    return (sum(n for n, _ in out), {d for _, w in out for d in w.defaulted},
            {u for _, w in out for u in w.unmatched})


@dataclass
class _ChunkWork:
    """A chunk whose temp tables are computed (on one cursor) and not yet written."""
    start: datetime
    end: datetime
    steps: list[tuple[str, str]]
    params: dict[str, object]
    defaulted: list[str]
    unmatched: list[str]


def _compute_window(con: duckdb.DuckDBPyConnection, settings: CostModelSettings, labels: LabelSettings,
                    book: pb.PriceBook, start: datetime, end: datetime, step_seconds: int) -> _ChunkWork:
    steps = _steps()
    if step_seconds == 3600:
        steps = [(name, _ROLLUP.sub(r"SELECT * FROM \2", sql)) for name, sql in steps]
    params = _params(settings, labels, book, start, end, step_seconds)
    prices, defaulted = resolve_node_prices(con, book, start, end)
    prices.to_temp_table(con, "cm_price")
    Columns({"class": list(book.storage) or ["STANDARD"],
             "gib_month": [v[0] for v in book.storage.values()] or [0.023]},
            {"class": "VARCHAR", "gib_month": "DOUBLE"}).to_temp_table(con, "cm_storage_price")
    # volume prices by StorageClass and (OpenCost CSV pv rows) by PersistentVolume name
    Columns({"kind": ["class"] * len(book.volumes) + ["volume"] * len(book.volume_names),
             "name": [*book.volumes, *book.volume_names],
             "gib_month": [v[0] for v in (*book.volumes.values(), *book.volume_names.values())]},
            {"kind": "VARCHAR", "name": "VARCHAR", "gib_month": "DOUBLE"}).to_temp_table(con, "cm_volume_price")
    storage_rules(settings).to_temp_table(con, "cm_storage_rule")
    for name, sql in steps:
        if _phase(name) == "temp":
            _run(con, name, sql, params)
    unmatched = [f"{b}/{p}" for b, p in con.execute(
        "SELECT x.bucket, x.prefix FROM cm_storage_rule x WHERE NOT EXISTS (SELECT 1 FROM cm_storage s "
        "WHERE s.bucket = x.bucket AND starts_with(s.prefix, x.prefix)) ORDER BY ALL").fetchall()]
    return _ChunkWork(start, end, steps, params, defaulted, unmatched)


def _write_window(con: duckdb.DuckDBPyConnection, work: _ChunkWork) -> int:
    """Replace the chunk's hours in one transaction; returns the fact rows written."""
    start, end, steps, params = work.start, work.end, work.steps, work.params
    with transaction(con):
        for table in _WRITE_TABLES:
            con.execute(f"DELETE FROM {table} WHERE hour >= ? AND hour < ?", [start, end])
        con.execute("DELETE FROM model.node_price WHERE node IN (SELECT node FROM cm_price)")
        con.execute("INSERT INTO model.node_price BY NAME "
                    "SELECT * EXCLUDE (nid), now()::TIMESTAMP AS updated_at FROM cm_price")
        con.execute("DELETE FROM mart.storage_snapshot")
        con.execute("INSERT INTO mart.storage_snapshot BY NAME SELECT * EXCLUDE (project, env, cost_center) "
                    "FROM cm_storage")
        for name, sql in steps:
            if _phase(name) == "write":
                _run(con, name, sql, params)
        set_watermark(con, "costmodel", "", end)
    n = con.execute("SELECT " + " + ".join(f"(SELECT count(*) FROM {t} WHERE hour >= $1 AND hour < $2)"
                                           for t in _FACT_TABLES), [start, end]).fetchall()
    _drop_temp_tables(con, keep=_VERSION_TABLES)
    return int(n[0][0]) if n else 0


def _drop_temp_tables(con: duckdb.DuckDBPyConnection, keep: tuple[str, ...] = ()) -> None:
    """Drop the build's temp tables (every ``cm_*`` one, read from the catalog) except ``keep``."""
    names = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, 'cm_')"
                        ).fetchall()
    for (t,) in names:
        if t not in keep:
            con.execute(f"DROP TABLE {t}")


def load_book(settings: CostModelSettings, extra: tuple[Path, ...] | list[Path] = ()) -> pb.PriceBook:
    return pb.load(settings.base_pricebook, [*settings.pricebook, *extra])

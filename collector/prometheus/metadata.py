"""Kubernetes metadata from kube-state-metrics series -> ``raw.k8s_{pod,namespace,node}`` history, source 'ksm'.

Used when the Kubernetes API is not configured (as OpenCost does), so a user with only Prometheus still gets
labels, owners, nodes and node facts. Per interval the state of each object (labels, node, owner, phase,
node facts) is read; consecutive intervals with the same state form one version ``[valid_from, valid_to)``.

Versions end where the object was last seen, or at the collected window's end: ksm rows never use
``valid_to = NULL`` because presence is only known up to the watermark. Writing a window replaces the ksm
history inside ``[W0, W1)`` (versions crossing the edges are cut there), inserts the window's versions, then
merges adjacent identical versions, so re-collecting a window, or collecting it in halves, leaves the same
rows as collecting it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from collector.kubernetes.normalize import (CAPACITY_TYPE_LABELS, INSTANCE_TYPE_LABELS, NODE_POOL_LABELS,
                                            REGION_LABELS, ZONE_LABELS, capacity_type)
from collector.prometheus.parts import Grid, Part, label_columns, part_of
from neocost.labels import sanitize_label_key
from neocost.settings import Settings
from neocost.warehouse import ident

Parts = Mapping[str, Part]
SOURCE = "ksm"
_RS_HASH = r"^(.+)-[a-z0-9]{5,10}$"
_CRON_SUFFIX = r"^(.+)-\d{8,}$"
TABLES = {  # table -> (entity keys, content columns)
    "raw.k8s_pod": (("namespace", "pod"), ("uid", "node", "owner_kind", "owner_name", "controller_kind",
                                          "controller_name", "phase", "labels")),
    "raw.k8s_namespace": (("namespace",), ("labels",)),
    "raw.k8s_node": (("node",), ("instance_type", "capacity_type", "node_pool", "region", "zone", "gpu_product",
                                 "gpu_count", "gpu_replicas", "mig_strategy", "cpu_cores", "memory_bytes",
                                 "labels")),
}


def _labels_json(df: pl.DataFrame) -> pl.Series:
    """Per row of ``df`` its ``label_*`` columns as one sorted JSON object (absent and empty labels left out);
    computed once per distinct label set."""
    label_cols = sorted(c for c in df.columns if c.startswith("label_"))
    if not label_cols:
        return pl.Series("labels", ["{}"] * df.height, dtype=pl.String)
    uniq = df.select(label_cols).unique()
    jsons = [json.dumps({c[6:]: v for c, v in zip(label_cols, row) if v}, sort_keys=True)
             for row in uniq.iter_rows()]
    lut = uniq.with_columns(labels=pl.Series(jsons, dtype=pl.String))
    return df.select(label_cols).join(lut, on=label_cols, how="left", nulls_equal=True,
                                      maintain_order="left")["labels"]


def _label_maps(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """(ts, *keys, labels_json): the ``label_*`` columns as one sorted JSON object per row."""
    if df.is_empty():
        return pl.DataFrame(schema={"ts": pl.Int64, **{k: pl.String for k in keys}, "labels": pl.String})
    # two label sets inside one interval (a relabel): keep one deterministically
    return (df.with_columns(labels=_labels_json(df)).group_by(["ts", *keys]).agg(pl.col("labels").max()))


def _rows(parts: Parts, name: str, cols: list[str]) -> pl.DataFrame:
    """Per point the labels of query ``name`` (small queries), with at least ``cols`` (null when the query has
    no such label: a query without series, no kube-state-metrics, has no label columns at all)."""
    part = parts.get(name)
    df = part.rows() if part is not None else pl.DataFrame(schema={"ts": pl.Int64, "v": pl.Float64})
    return df.with_columns(pl.lit(None, pl.String).alias(c) for c in cols if c not in df.columns)


def _owners(parts: Parts, name: str, key: str, kind: str, owner: str) -> pl.DataFrame:
    """A ReplicaSet's or Job's own owner (the last one reported in the batch)."""
    return (_rows(parts, name, ["namespace", key, "owner_kind", "owner_name"])
            .filter(pl.col("owner_kind").is_in(["", "<none>"]).not_()).sort("ts").group_by(["namespace", key])
            .agg(pl.col("owner_kind").last().alias(kind), pl.col("owner_name").last().alias(owner))
            .rename({key: "owner_name"}))


_POD_CONTENT = {"uid": ("info", "uid"), "node": ("info", "node"), "owner": ("owner", "owner_is_controller"),
                "phase": ("phase", "phase"), "labels": ("labels", "labels")}


def pod_versions(parts: Parts, step_s: int) -> pl.DataFrame:
    """``raw.k8s_pod`` versions of the batch (ms bounds), straight from the cells of a (namespace, pod) grid:
    per interval the pod's info, owner, phase and labels series are picked (the greatest value when two label
    sets share an interval, e.g. a relabel), and runs of the same picks over consecutive intervals are one
    version; label strings are read once per version."""
    step = step_s * 1000
    labels = part_of(parts, "ksm_pod_labels")
    g = Grid({"info": part_of(parts, "ksm_pod_info"), "owner": part_of(parts, "ksm_pod_owner"),
              "phase": part_of(parts, "ksm_pod_phase"),
              "labels": labels.with_labels(labels=_labels_json(labels.labels))},
             ["namespace", "pod"], step, keep=pl.col("pod") != "")
    at = np.flatnonzero(g.present("info"))
    picks = {c: g.pick(part, label)[at] for c, (part, label) in _POD_CONTENT.items()}
    # a new version where the pod, the interval run or any picked content changes
    new = np.ones(len(at), dtype=bool)
    if len(at):
        same = (g.kid[at][1:] == g.kid[at][:-1]) & (g.ti[at][1:] == g.ti[at][:-1] + 1)
        for c, (part, label) in _POD_CONTENT.items():
            code = _codes(g.parts[part], ["owner_kind", "owner_name"] if c == "owner" else [label], picks[c])
            same &= code[1:] == code[:-1]
        new[1:] = ~same
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(at))[:len(first)] - 1
    mask = np.zeros(g.size, dtype=bool)
    mask[at[first]] = True
    own = picks["owner"][first]
    out = g.frame(mask, {}).with_columns(
        uid=g.label("info", picks["uid"][first], "uid"), node=g.label("info", picks["node"][first], "node"),
        owner_kind=g.label("owner", own, "owner_kind").fill_null(""),
        owner_name=g.label("owner", own, "owner_name").fill_null(""),
        phase=g.label("phase", picks["phase"][first], "phase"),
        labels=g.label("labels", picks["labels"][first], "labels").fill_null("{}"),
        valid_to=pl.Series(g.t0 + (g.ti[at[last]] + 1) * step, dtype=pl.Int64))
    out = (out.join(_owners(parts, "ksm_rs_owner", "replicaset", "rs_kind", "rs_name"),
                    on=["namespace", "owner_name"], how="left")
           .join(_owners(parts, "ksm_job_owner", "job_name", "job_kind", "job_owner"),
                 on=["namespace", "owner_name"], how="left"))
    ok, on = pl.col("owner_kind"), pl.col("owner_name")
    ctrl_kind = (pl.when((ok == "ReplicaSet") & pl.col("rs_kind").is_not_null()).then(pl.col("rs_kind"))
                 .when((ok == "ReplicaSet") & on.str.contains(_RS_HASH)).then(pl.lit("Deployment"))
                 .when((ok == "Job") & pl.col("job_kind").is_not_null()).then(pl.col("job_kind"))
                 .when((ok == "Job") & on.str.contains(_CRON_SUFFIX)).then(pl.lit("CronJob"))
                 .otherwise(ok))
    ctrl_name = (pl.when((ok == "ReplicaSet") & pl.col("rs_kind").is_not_null()).then(pl.col("rs_name"))
                 .when((ok == "ReplicaSet") & on.str.contains(_RS_HASH)).then(on.str.extract(_RS_HASH, 1))
                 .when((ok == "Job") & pl.col("job_kind").is_not_null()).then(pl.col("job_owner"))
                 .when((ok == "Job") & on.str.contains(_CRON_SUFFIX)).then(on.str.extract(_CRON_SUFFIX, 1))
                 .otherwise(on))
    keys, content = TABLES["raw.k8s_pod"]
    return out.select(*keys, "uid", "node", "owner_kind", "owner_name", controller_kind=ctrl_kind,
                      controller_name=ctrl_name, phase=pl.col("phase"), labels=pl.col("labels"),
                      valid_from=pl.col("ts"), valid_to=pl.col("valid_to"))


def _codes(part: Part, cols: list[str], sids: np.ndarray) -> np.ndarray:
    """Per entry of ``sids`` (series of ``part``, -1 for none) a code that is equal exactly when the ``cols``
    values are (-1 for none)."""
    out = np.full(len(sids), -1, dtype=np.int64)
    if part.series:
        have = label_columns(part.labels, cols, part.series)
        code = have.select(pl.concat_str(cols, separator="\x00").rank("dense"))[:, 0].cast(pl.Int64).to_numpy()
        out[sids >= 0] = code[sids[sids >= 0]]
    return out


def namespace_states(parts: Parts) -> pl.DataFrame:
    return _label_maps(_rows(parts, "ksm_namespace_labels", ["namespace"]).filter(pl.col("namespace") != ""),
                       ["namespace"])


def _node_facts(labels_json: str, cap: dict[str, float], settings: Settings) -> dict[str, Any]:
    lab: dict[str, str] = json.loads(labels_json)

    def first(keys: tuple[str | None, ...]) -> str | None:
        for k in keys:
            if k and lab.get(sanitize_label_key(k)):
                return lab[sanitize_label_key(k)]
        return None

    real = {k: lab[sanitize_label_key(k)] for k in CAPACITY_TYPE_LABELS if lab.get(sanitize_label_key(k))}
    extra = settings.kubernetes.capacity_type_label
    if extra and lab.get(sanitize_label_key(extra)):
        real[extra] = lab[sanitize_label_key(extra)]
    gpu_count = _int(first(("nvidia.com/gpu.count",)))
    replicas = _int(first(("nvidia.com/gpu.replicas",)))
    if gpu_count is None and cap.get("nvidia_com_gpu"):
        gpu_count = int(cap["nvidia_com_gpu"] // (replicas or 1))
    product = first(("nvidia.com/gpu.product",))
    mig = first(("nvidia.com/mig.strategy",)) or ("none" if product else None)
    return {"instance_type": first(INSTANCE_TYPE_LABELS), "capacity_type": capacity_type(real, extra),
            "node_pool": first((settings.kubernetes.node_pool_label, *NODE_POOL_LABELS)),
            "region": first(REGION_LABELS), "zone": first(ZONE_LABELS), "gpu_product": product,
            "gpu_count": gpu_count, "gpu_replicas": replicas or (1 if gpu_count else None), "mig_strategy": mig,
            "cpu_cores": cap.get("cpu"), "memory_bytes": cap.get("memory")}


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v else None
    except ValueError:
        return None


_NODE_SCHEMA = {"ts": pl.Int64, "node": pl.Utf8, "labels": pl.Utf8, "instance_type": pl.Utf8,
                "capacity_type": pl.Utf8, "node_pool": pl.Utf8, "region": pl.Utf8, "zone": pl.Utf8,
                "gpu_product": pl.Utf8, "gpu_count": pl.Int32, "gpu_replicas": pl.Int32, "mig_strategy": pl.Utf8,
                "cpu_cores": pl.Float64, "memory_bytes": pl.Float64}
_CAP = {"cpu": "cap_cpu", "memory": "cap_memory", "nvidia_com_gpu": "cap_gpu"}


def node_states(parts: Parts, settings: Settings) -> pl.DataFrame:
    """Per (ts, node): labels and the node facts. The facts are derived in Python once per distinct
    (labels, capacity) combination (a handful per window), then joined back to the intervals."""
    labels = _label_maps(_rows(parts, "ksm_node_labels", ["node"]).filter(pl.col("node") != ""), ["node"])
    cap = (_rows(parts, "node_capacity", ["node", "resource"])
           .filter(pl.col("resource").is_in(list(_CAP)))
           .group_by(["ts", "node"])
           .agg(*[pl.col("v").filter(pl.col("resource") == r).max().alias(c) for r, c in _CAP.items()]))
    base = labels.join(cap, on=["ts", "node"], how="left")
    combos = base.select("labels", *_CAP.values()).unique()
    facts = [_node_facts(lj, {r: v for r, v in zip(_CAP, caps, strict=True) if v is not None}, settings)
             for lj, *caps in combos.iter_rows()]
    fact_schema = {k: t for k, t in _NODE_SCHEMA.items() if k not in ("ts", "node", "labels")}
    combos = combos.hstack(pl.DataFrame(facts, schema=fact_schema))
    out = base.join(combos, on=["labels", *_CAP.values()], how="left", nulls_equal=True)
    return out.select(*(pl.col(k).cast(t) for k, t in _NODE_SCHEMA.items()))


def versions(states: pl.DataFrame, keys: tuple[str, ...], content: tuple[str, ...], step_ms: int) -> pl.DataFrame:
    """Collapse per-interval states into versions ``[valid_from, valid_to)`` (ms)."""
    if states.is_empty():
        return states.with_columns(valid_from=pl.col("ts"), valid_to=pl.col("ts")).drop("ts")
    s = states.sort([*keys, "ts"])
    same_key = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(c).shift(1)) for c in content])
    contiguous = pl.col("ts") == pl.col("ts").shift(1) + step_ms
    new = (same_key & same & contiguous).fill_null(False).not_()
    s = s.with_columns(_grp=new.cum_sum())
    return (s.group_by("_grp", maintain_order=True)
            .agg(*[pl.col(k).first() for k in keys], *[pl.col(c).first() for c in content],
                 valid_from=pl.col("ts").min(), valid_to=pl.col("ts").max() + step_ms).drop("_grp"))


def build(parts: Parts, start: datetime, end: datetime, step_s: int, settings: Settings) -> dict[str, pa.Table]:
    """The batch's ksm versions per table, as Arrow tables ready to insert (labels as MAP)."""
    step_ms = step_s * 1000
    out = {"raw.k8s_pod": _arrow(pod_versions(parts, step_s))}
    for table, df in (("raw.k8s_namespace", namespace_states(parts)), ("raw.k8s_node", node_states(parts, settings))):
        keys, content = TABLES[table]
        out[table] = _arrow(versions(df, keys, content, step_ms))
    return out


def _arrow(df: pl.DataFrame) -> pa.Table:
    maps = [sorted(json.loads(x).items()) for x in df["labels"].to_list()]
    df = df.with_columns(pl.from_epoch("valid_from", time_unit="ms").cast(pl.Datetime("us")),
                         pl.from_epoch("valid_to", time_unit="ms").cast(pl.Datetime("us"))).drop("labels")
    t = df.to_arrow()
    return t.append_column("labels", pa.array(maps, type=pa.map_(pa.string(), pa.string())))


def _sql(name: str) -> str:
    return (resources.files("collector.prometheus") / "sql" / name).read_text()


def write(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], start: datetime, end: datetime
          ) -> dict[str, int]:
    """Replace the ksm history inside ``[start, end)`` with the window's versions (call in a transaction)."""
    counts = {}
    for table, rows in tables.items():
        keys, content = TABLES[table]
        fmt = {"table": ident(table), "keys": ", ".join(ident(k) for k in keys),
               "content": ", ".join(ident(c) for c in content),
               "first_content": ", ".join(f"first({ident(c)}) AS {ident(c)}" for c in content),
               "same": " AND ".join(f"p_{ident(c)} IS NOT DISTINCT FROM {ident(c)}" for c in content),
               "lags": ", ".join(f"lag({ident(c)}) OVER w AS p_{ident(c)}" for c in content)}
        params = {"source": SOURCE, "w0": start, "w1": end}
        sql = "\n".join(line for line in _sql("ksm_history.sql").splitlines() if not line.startswith("--"))
        con.register("_ksm_incoming", rows)
        for stmt in sql.format(**fmt).split(";"):
            if stmt.strip():
                con.execute(stmt, {k: v for k, v in params.items() if f"${k}" in stmt})
        con.unregister("_ksm_incoming")
        counts[table] = rows.num_rows
    return counts

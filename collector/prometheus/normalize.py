"""Pure normalisation: decoded ``query_range`` matrices -> polars frames -> rows of the raw tables.

No I/O here. The flow per query and shard is :func:`frame_from_matrix` (labels + ``sid`` + eval time ``t`` in ms
+ value ``v``), then :func:`gauge_rows` or :func:`counter_deltas` (both give ``ts`` = the interval start in ms),
then the table builders join the named frames into the exact columns of ``neocost/migrations/0002_raw.sql``.
The collector runs the first two steps as :func:`rows_from_matrix` (labels attached after the filters).

Counters: per series (``sid``), ``delta = v - prev`` when ``v >= prev`` else ``v`` (a reset restarts from 0); a
series' first point at the shard's baseline evaluation only sets ``prev``; a series first seen later was born
inside the range and counts from 0. Summing happens after the deltas, so per-cpu, per-interface,
per-``finished_reason`` and per-container-restart series never mask each other's resets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from collector.prometheus.catalog import DCGM_SENTINEL_ABOVE, Query, label_expr
from collector.prometheus.fastmatrix import Matrix
from collector.prometheus.shards import EPS_MS, Shard

Frames = Mapping[str, pl.DataFrame]


# --- matrix -> frame -------------------------------------------------------------------------------------------

def matrix_to_frame(result: Sequence[dict[str, Any]], labels: Sequence[str] | None, step_ms: int,
                    fold: Sequence[str] = ()) -> pl.DataFrame:
    """:func:`frame_from_matrix` of an orjson-decoded ``result`` list (``step_ms`` is kept for callers; the
    evaluation times come from the points). Call with the cyclic GC paused."""
    return frame_from_matrix(Matrix.from_result(result), labels, fold)


def frame_from_matrix(m: Matrix, labels: Sequence[str] | None, fold: Sequence[str] = (), *,
                      categorical: bool = False) -> pl.DataFrame:
    """Columns: one per label ('' when absent; all labels but ``__name__`` when ``labels`` is None),
    ``sid`` (series index), ``t`` (eval time, ms), ``v`` (float). The labels in ``fold`` take their aliases'
    values (:func:`catalog.label_expr`: the last non-empty alias, else the label itself). ``categorical``: label
    columns as ``pl.Categorical`` (the collector: a u32 code per point instead of a string per point, ~1/3 of a
    batch's memory; the table builders group and join on the codes and cast back to strings at the end, :func:`_ts`)."""
    per_series = series_labels(m, labels, fold, categorical=categorical)
    points = _points(m)
    return pl.DataFrame([*per_series[points["sid"]].get_columns(), *points.get_columns()])


def series_labels(m: Matrix, labels: Sequence[str] | None, fold: Sequence[str] = (), *,
                  categorical: bool = False) -> pl.DataFrame:
    """One row per series: the label columns of :func:`frame_from_matrix`."""
    have = set(m.labels.columns)
    if labels is None:
        labels = sorted((have | set(fold)) - {"__name__"})
    dtype = pl.Categorical if categorical else pl.Utf8
    # with_columns broadcasts the '' of a label no series has to every series (a select would give one row)
    base = m.labels if m.labels.width else pl.DataFrame({"_": pl.Series([None] * len(m.lens), dtype=pl.Utf8)})
    return (base.with_columns(label_expr(lab, have, lab in fold).cast(dtype).alias(lab) for lab in labels)
            .select(labels))


def _points(m: Matrix) -> pl.DataFrame:
    sid = np.repeat(np.arange(len(m.lens), dtype=np.int32), m.lens)
    return pl.DataFrame([pl.Series("sid", sid), pl.Series("t", m.t_ms, dtype=pl.Int64),
                         pl.Series("v", m.v, dtype=pl.Float64)])


def rows_from_matrix(query: Query, m: Matrix, shard: Shard, *, categorical: bool = False) -> pl.DataFrame:
    """``to_rows(query, frame_from_matrix(m, ...), shard)``, computed on the narrow ``(sid, t, v)`` points and
    only then given the label columns (gathered per kept row): the filters and deltas copy three columns instead
    of every label column, and dropped points never get labels."""
    per_series = series_labels(m, query.labels, query.fold, categorical=categorical)
    rows = _rows(query, _points(m).lazy(), shard).collect()
    return pl.DataFrame([*per_series[rows["sid"]].get_columns(), rows["v"], rows["ts"]])


def empty_frame(labels: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame({**{lab: pl.Series(lab, [], dtype=pl.Utf8) for lab in labels},
                         "ts": pl.Series("ts", [], dtype=pl.Int64), "v": pl.Series("v", [], dtype=pl.Float64)})


def gauge_rows(frame: pl.DataFrame, shard: Shard, scale: float = 1.0) -> pl.DataFrame:
    """Gauge values per interval: ``ts`` = interval start (ms), ``v`` scaled; NaN and sentinels dropped."""
    return _gauge(frame.lazy(), shard, scale).drop("t", "sid").collect()


def counter_deltas(frame: pl.DataFrame, shard: Shard, scale: float = 1.0) -> pl.DataFrame:
    """Exact per-interval increases of the shard's intervals (see the module docstring)."""
    return _counter(frame.lazy(), shard, scale).drop("t", "sid").collect()


def to_rows(query: Query, frame: pl.DataFrame, shard: Shard) -> pl.DataFrame:
    return _rows(query, frame.lazy(), shard).drop("t", "sid").collect()


def _rows(query: Query, lf: pl.LazyFrame, shard: Shard) -> pl.LazyFrame:
    return _counter(lf, shard, query.scale) if query.counter else _gauge(lf, shard, query.scale)


def _gauge(lf: pl.LazyFrame, shard: Shard, scale: float) -> pl.LazyFrame:
    v = pl.col("v") * scale if scale != 1.0 else pl.col("v")
    return (lf.filter(pl.col("v").is_finite() & (pl.col("v").abs() < DCGM_SENTINEL_ABOVE))
            .with_columns(ts=pl.col("t") + (EPS_MS - shard.step_ms), v=v))


def _counter(lf: pl.LazyFrame, shard: Shard, scale: float) -> pl.LazyFrame:
    baseline, _ = shard.eval_range(counter=True)
    sid = pl.col("sid")
    prev = pl.col("v").shift(1)
    first = sid != sid.shift(1)
    delta = (pl.when(first.fill_null(True)).then(pl.col("v"))
             .when(pl.col("v") >= prev).then(pl.col("v") - prev)
             .otherwise(pl.col("v")))
    out = lf.filter(pl.col("v").is_finite()).with_columns(v=delta * scale if scale != 1.0 else delta)
    return out.filter(pl.col("t") != baseline).with_columns(ts=pl.col("t") + (EPS_MS - shard.step_ms))


# --- table builders --------------------------------------------------------------------------------------------

def _ts(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.from_epoch(pl.col("ts"), time_unit="ms").cast(pl.Datetime("us")),
                           pl.col(pl.Categorical).cast(pl.Utf8))


def _cat(df: pl.DataFrame, cols: Sequence[str]) -> pl.DataFrame:
    """Dictionary-encode key labels: polars groups and joins u32 codes ~3x faster than multi-column strings
    (categorical order is lexical, so max/sort/first give the same answers; :func:`_ts` casts them back)."""
    return df.with_columns(pl.col(c).cast(pl.Categorical) for c in cols)


def _str(df: pl.DataFrame) -> pl.DataFrame:
    """Categorical label columns back to strings (before string functions)."""
    return df.with_columns(pl.col(pl.Categorical).cast(pl.Utf8))


def _get(frames: Frames, name: str, labels: Sequence[str]) -> pl.DataFrame:
    df = frames.get(name)
    return df if df is not None else empty_frame(labels)


def container_requests(frames: Frames) -> pl.DataFrame:
    key = ["ts", "namespace", "pod", "container", "resource"]
    labels = ("namespace", "pod", "container", "node", "resource")
    parts = []
    for name, col in (("k8s_requests", "request"), ("k8s_limits", "limit")):
        df = _cat(_get(frames, name, labels).filter(pl.col("pod") != ""), labels)
        parts.append(df.group_by(key).agg(pl.col("v").max().alias(col), pl.col("node").max().alias(f"node_{col}")))
    req, lim = parts
    both = req.join(lim, on=key, how="full", coalesce=True)
    run = (_cat(_get(frames, "k8s_running", ("namespace", "pod", "container")), ("namespace", "pod", "container"))
           .group_by(["ts", "namespace", "pod", "container"]).agg(pl.col("v").max().alias("running")))
    out = (both.join(run, on=["ts", "namespace", "pod", "container"], how="left")
           .with_columns(node=pl.coalesce(pl.col("node_request"), pl.col("node_limit"), pl.lit("")))
           .select("ts", "namespace", "pod", "container", "node", "resource", "request", "limit", "running"))
    return _ts(out)


def node_capacity(frames: Frames) -> pl.DataFrame:
    key = ["ts", "node", "resource"]
    cap = _get(frames, "node_capacity", ("node", "resource")).group_by(key).agg(pl.col("v").max().alias("capacity"))
    alloc = (_get(frames, "node_allocatable", ("node", "resource")).group_by(key)
             .agg(pl.col("v").max().alias("allocatable")))
    out = cap.join(alloc, on=key, how="full", coalesce=True).filter(pl.col("node") != "")
    return _ts(out.select("ts", "node", "resource", "capacity", "allocatable"))


DCGM_EXPORTER_POD = r"dcgm-exporter"
_GPU_ATTRS = ("gpu", "modelName", "GPU_I_PROFILE", "namespace", "pod", "container")


def _unassign_exporter(df: pl.DataFrame) -> pl.DataFrame:
    """With the Helm ServiceMonitor (honorLabels false) an unassigned GPU keeps only the scrape target's own
    pod/namespace/container labels, i.e. the dcgm-exporter pod: that is not an assignment."""
    own = pl.col("pod").str.contains(DCGM_EXPORTER_POD) | pl.col("container").str.contains(DCGM_EXPORTER_POD)
    return df.with_columns(*[pl.when(own).then(pl.lit("")).otherwise(pl.col(c)).alias(c)
                             for c in ("namespace", "pod", "container")])


def gpu_usage(frames: Frames) -> pl.DataFrame:
    labels = ("node", "gpu_uuid", "gpu", "modelName", "GPU_I_PROFILE", "GPU_I_ID", "namespace", "pod", "container")
    key = ["ts", "node", "gpu_uuid", "GPU_I_ID"]
    parts = []
    for name, col in (("dcgm_gr_active", "prof"), ("dcgm_util", "dev"), ("dcgm_fb_used", "fb_used_mib"),
                      ("dcgm_power", "power_w")):
        df = _unassign_exporter(_str(_get(frames, name, labels)).filter(pl.col("gpu_uuid") != ""))
        # a GPU re-assigned inside an interval has two label sets: keep the assigned pod's
        parts.append(df.sort("pod", descending=True).group_by(key).agg(
            pl.col("v").mean().alias(col), *[pl.col(a).first().alias(f"{a}__{col}") for a in _GPU_ATTRS]))
    out = parts[0]
    for p in parts[1:]:
        out = out.join(p, on=key, how="full", coalesce=True)
    attrs = [pl.coalesce(*[pl.col(f"{a}__{c}") for c in ("prof", "dev", "fb_used_mib", "power_w")]).alias(a)
             for a in _GPU_ATTRS]
    out = out.with_columns(*attrs, util=pl.coalesce("prof", "dev"))
    out = out.rename({"gpu_uuid": "gpu_uuid", "gpu": "gpu_index", "modelName": "gpu_model",
                      "GPU_I_PROFILE": "mig_profile", "GPU_I_ID": "mig_instance"})
    return _ts(out.select("ts", "node", "gpu_uuid", "gpu_index", "gpu_model", "mig_profile", "mig_instance",
                          "namespace", "pod", "container", "util", "fb_used_mib", "power_w"))


def container_usage(frames: Frames, step_s: int) -> pl.DataFrame:
    key = ["ts", "namespace", "pod", "container"]
    labels = ("namespace", "pod", "container")
    cpu = (_cat(_get(frames, "cadvisor_cpu", labels), labels).group_by(key)
           .agg((pl.col("v").sum() / step_s).alias("cpu_cores")))
    mem = (_cat(_get(frames, "cadvisor_memory", labels), labels).group_by(key)
           .agg(pl.col("v").mean().alias("memory_bytes")))
    out = cpu.join(mem, on=key, how="full", coalesce=True).filter(pl.col("pod") != "")
    return _ts(out.select(*key, "cpu_cores", "memory_bytes"))


def pod_network(frames: Frames) -> pl.DataFrame:
    key = ["ts", "namespace", "pod"]
    labels = ("namespace", "pod")
    tx = _cat(_get(frames, "cadvisor_tx", labels), labels).group_by(key).agg(pl.col("v").sum().alias("tx_bytes"))
    rx = _cat(_get(frames, "cadvisor_rx", labels), labels).group_by(key).agg(pl.col("v").sum().alias("rx_bytes"))
    out = tx.join(rx, on=key, how="full", coalesce=True).filter(pl.col("pod") != "")
    return _ts(out.select(*key, "tx_bytes", "rx_bytes"))


INFERENCE_COLUMNS = ("requests", "successes", "errors", "input_tokens", "output_tokens", "cached_tokens",
                     "prefill_seconds", "decode_seconds")


def _model_expr(query: Query, df: pl.DataFrame) -> pl.Expr:
    ml = query.extra.get("model_label", "")
    if not ml:
        return pl.lit("")
    exprs = [pl.col(ml).cast(pl.Utf8)]
    if "gen_ai_response_model" in df.columns and ml != "gen_ai_response_model":
        exprs.append(pl.col("gen_ai_response_model").cast(pl.Utf8))
    return pl.coalesce(*[pl.when(e != "").then(e) for e in exprs], pl.lit(""))


def inference(queries: Sequence[Query], frames: Frames) -> pl.DataFrame:
    """One row per (ts, server, namespace, pod, model) whatever server produced it."""
    key = ["ts", "server", "namespace", "pod", "model"]
    per_server: dict[str, list[pl.DataFrame]] = {}
    for q in queries:
        if q.family != "inference" or q.extra.get("histogram") or q.name not in frames:
            continue
        df = frames[q.name]
        part = (df.with_columns(model=_model_expr(q, df), server=pl.lit(q.server))
                .group_by(key).agg(pl.col("v").sum().alias(q.column)))
        per_server.setdefault(q.server, []).append(part)
    outs = []
    for server, parts in per_server.items():
        out = parts[0]
        for p in parts[1:]:
            out = out.join(p, on=key, how="full", coalesce=True)
        for c in INFERENCE_COLUMNS:
            if c not in out.columns:
                out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
        if server == "vllm":  # request_success_total counts every finished request, by finished_reason
            out = out.with_columns(errors=pl.col("errors").fill_null(0.0)).with_columns(
                successes=pl.col("requests") - pl.col("errors"))
        elif server in ("triton", "otel"):  # no total: requests = successes + failures
            out = out.with_columns(requests=pl.col("successes").fill_null(0.0) + pl.col("errors").fill_null(0.0))
        outs.append(out.select(*key, *INFERENCE_COLUMNS))
    if not outs:
        return _ts(pl.DataFrame(schema={"ts": pl.Int64, "server": pl.Utf8, "namespace": pl.Utf8,
                                        "pod": pl.Utf8, "model": pl.Utf8,
                                        **{c: pl.Float64 for c in INFERENCE_COLUMNS}}))
    return _ts(pl.concat(outs).filter(pl.col("pod") != ""))


def inference_latency(queries: Sequence[Query], frames: Frames) -> pl.DataFrame:
    key = ["ts", "server", "namespace", "pod", "model", "metric", "le"]
    parts = []
    for q in queries:
        if not q.extra.get("histogram") or q.name not in frames:
            continue
        df = frames[q.name]
        parts.append(df.with_columns(model=_model_expr(q, df), server=pl.lit(q.server), metric=pl.lit(q.column),
                                     le=pl.col("le").cast(pl.Utf8).str.replace(r"^\+Inf$", "inf").cast(pl.Float64))
                     .group_by(key).agg(pl.col("v").sum().alias("count")))
    if not parts:
        return _ts(pl.DataFrame(schema={"ts": pl.Int64, "server": pl.Utf8, "namespace": pl.Utf8, "pod": pl.Utf8,
                                        "model": pl.Utf8, "metric": pl.Utf8, "le": pl.Float64,
                                        "count": pl.Float64}))
    return _ts(pl.concat(parts).filter(pl.col("pod") != ""))

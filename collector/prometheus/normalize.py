"""Pure normalisation: decoded ``query_range`` matrices -> per-query parts -> rows of the raw tables.

No I/O here. Per query and shard, :func:`rows_from_matrix` turns a decoded matrix into a :class:`Part` (labels
once per series; points ``sid``, ``ts`` = the interval start in ms, ``v``) through :func:`gauge_rows`'s or
:func:`counter_deltas`'s logic; the table builders aggregate and join a batch's parts on a :class:`Grid` of
(key, interval) cells into the exact columns of ``neocost/migrations/0002_raw.sql``. :func:`frame_from_matrix`
and :func:`to_rows` are the same steps with the labels on every row (for tests and small inputs).

Counters: per series (``sid``), ``delta = v - prev`` when ``v >= prev`` else ``v`` (a reset restarts from 0); a
series' first point at the shard's baseline evaluation only sets ``prev``; a series first seen later was born
inside the range and counts from 0. Summing happens after the deltas, so per-cpu, per-interface,
per-``finished_reason`` and per-container-restart series never mask each other's resets.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from collector.prometheus.catalog import DCGM_SENTINEL_ABOVE, Query, label_expr
from collector.prometheus.fastmatrix import Matrix, decode_labels
from collector.prometheus.parts import Grid, Part, as_timestamps, part_of
from collector.prometheus.shards import EPS_MS, Shard

Parts = Mapping[str, Part]


# --- matrix -> frame -------------------------------------------------------------------------------------------

def matrix_to_frame(result: Sequence[dict[str, Any]], labels: Sequence[str] | None, step_ms: int,
                    fold: Sequence[str] = ()) -> pl.DataFrame:
    """:func:`frame_from_matrix` of an orjson-decoded ``result`` list (``step_ms`` is kept for callers; the
    evaluation times come from the points). Call with the cyclic GC paused."""
    return frame_from_matrix(Matrix.from_result(result), labels, fold)


def frame_from_matrix(m: Matrix, labels: Sequence[str] | None, fold: Sequence[str] = ()) -> pl.DataFrame:
    """Columns: one per label ('' when absent; all labels but ``__name__`` when ``labels`` is None),
    ``sid`` (series index), ``t`` (eval time, ms), ``v`` (float). The labels in ``fold`` take their aliases'
    values (:func:`catalog.label_expr`: the last non-empty alias, else the label itself)."""
    per_series = series_labels(m, labels, fold)
    points = _points(m)
    return pl.DataFrame([*per_series[points["sid"]].get_columns(), *points.get_columns()])


def series_labels(m: Matrix, labels: Sequence[str] | None, fold: Sequence[str] = ()) -> pl.DataFrame:
    """One row per series: the label columns of :func:`frame_from_matrix`."""
    return fold_labels(m.labels, len(m.lens), labels, fold)


def fold_labels(decoded: pl.DataFrame, n: int, labels: Sequence[str] | None, fold: Sequence[str] = ()
                ) -> pl.DataFrame:
    """The label columns of ``n`` series from their decoded labels (see :func:`frame_from_matrix`)."""
    have = set(decoded.columns)
    if labels is None:
        labels = sorted((have | set(fold)) - {"__name__"})
    # with_columns broadcasts the '' of a label no series has to every series (a select would give one row)
    base = decoded if decoded.width else pl.DataFrame({"_": pl.Series([None] * n, dtype=pl.Utf8)})
    return (base.with_columns(label_expr(lab, have, lab in fold).cast(pl.String).alias(lab) for lab in labels)
            .select(labels))


def decoded_labels(query: Query, texts: pl.Series) -> pl.DataFrame:
    """The label columns of ``query`` for the ``metric`` object texts of its series."""
    return fold_labels(decode_labels(texts, query.fields), texts.len(), query.labels, query.fold)


class LabelCache:
    """Per query, the folded label columns of each ``metric`` object text seen so far: the same series come
    back in every shard and batch, and decoding and folding their labels again was ~10 % of the collector's
    CPU. Thread-safe. Holds at most twice the series of the shard at hand (plus ``spare``) per query: beyond
    that it restarts from that shard's series, so series that went away do not pile up over a long backfill."""

    def __init__(self, spare: int = 1024) -> None:
        self.spare = spare
        self._known: dict[str, pl.DataFrame] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def labels(self, query: Query, texts: pl.Series) -> pl.DataFrame:
        """One row per entry of ``texts``: the label columns of ``query`` (``query.labels`` must not be None)."""
        assert query.labels is not None, "label sets that vary per series are not cached"
        cols = list(query.labels)
        # looked up by a 64-bit hash of the text (stored, so the cached side is not hashed again on every
        # lookup), and a hit is confirmed by comparing the texts themselves
        frame = pl.DataFrame([texts.alias("_m"), texts.hash().alias("_h")])
        got = self._lookup(query.name, frame)
        if got is not None and got["_hit"].all():
            return got.select(cols)
        with self._guard:
            lock = self._locks.setdefault(query.name, threading.Lock())
        with lock:  # shards of one query learn one after the other: no text is stored twice
            got = self._lookup(query.name, frame)
            hit = got["_hit"] if got is not None else pl.repeat(False, frame.height, eager=True)
            new = frame.filter(hit.not_()).unique("_m")
            learnt = pl.concat([new, decoded_labels(query, new["_m"])], how="horizontal")
            self._store(query.name, learnt, frame.height)
        missed = (frame.with_row_index("_i").filter(hit.not_())
                  .join(learnt.drop("_h"), on="_m", how="left", maintain_order="left"))
        if got is None:
            return missed.select(cols)
        return got.select(cols).with_row_index("_i").update(missed.select("_i", *cols), on="_i").select(cols)

    def _store(self, name: str, learnt: pl.DataFrame, height: int) -> None:
        # a text whose hash collides with a stored one's is decoded every time, never stored
        learnt = learnt.unique("_h", keep="first")
        known = self._known.get(name)
        if known is None or known.height + learnt.height > 2 * height + self.spare:
            known = learnt  # start again from the series at hand: those that went away do not pile up
        else:
            known = pl.concat([known, learnt.join(known.select("_h"), on="_h", how="anti")])
        self._known[name] = known

    def _lookup(self, name: str, frame: pl.DataFrame) -> pl.DataFrame | None:
        known = self._known.get(name)
        if known is None:
            return None
        got = frame.join(known.rename({"_m": "_known"}), on="_h", how="left", maintain_order="left")
        return got.with_columns(_hit=(pl.col("_m") == pl.col("_known")).fill_null(False))


def _points(m: Matrix) -> pl.DataFrame:
    return pl.DataFrame([pl.Series("sid", _sids(m)), pl.Series("t", m.t_ms, dtype=pl.Int64),
                         pl.Series("v", m.v, dtype=pl.Float64)])


def _sids(m: Matrix) -> np.ndarray:
    return np.repeat(np.arange(len(m.lens), dtype=np.int32), m.lens)


def rows_from_matrix(query: Query, m: Matrix, shard: Shard, cache: LabelCache | None = None) -> Part:
    """``to_rows(query, frame_from_matrix(m, ...), shard)`` as a :class:`Part`: the labels stay one row per
    series. With ``cache`` and a matrix parsed with ``decode=False``, the labels come through the cache."""
    sid = _sids(m)
    keep, ts, v = _reduce(sid, m.t_ms, m.v, query.counter, shard, query.scale)
    points = pl.DataFrame([pl.Series("sid", sid[keep], dtype=pl.UInt32), pl.Series("ts", ts, dtype=pl.Int64),
                           pl.Series("v", v, dtype=pl.Float64)])
    if m.texts is None:
        labels = series_labels(m, query.labels, query.fold)
    else:
        labels = cache.labels(query, m.texts) if cache else decoded_labels(query, m.texts)
    return Part(labels, points)


def gauge_rows(frame: pl.DataFrame, shard: Shard, scale: float = 1.0) -> pl.DataFrame:
    """Gauge values per interval: ``ts`` = interval start (ms), ``v`` scaled; NaN and sentinels dropped."""
    return _frame_rows(frame, False, shard, scale)


def counter_deltas(frame: pl.DataFrame, shard: Shard, scale: float = 1.0) -> pl.DataFrame:
    """Exact per-interval increases of the shard's intervals (see the module docstring)."""
    return _frame_rows(frame, True, shard, scale)


def to_rows(query: Query, frame: pl.DataFrame, shard: Shard) -> pl.DataFrame:
    return _frame_rows(frame, query.counter, shard, query.scale)


def _frame_rows(frame: pl.DataFrame, counter: bool, shard: Shard, scale: float) -> pl.DataFrame:
    keep, ts, v = _reduce(frame["sid"].to_numpy(), frame["t"].to_numpy(), frame["v"].to_numpy(), counter, shard,
                          scale)
    return frame[keep].drop("t", "sid").with_columns(pl.Series("ts", ts, dtype=pl.Int64),
                                                     pl.Series("v", v, dtype=pl.Float64))


def _reduce(sid: np.ndarray, t: np.ndarray, v: np.ndarray, counter: bool, shard: Shard, scale: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points ``(sid, t, v)`` in series order -> (positions kept, ``ts`` = interval start in ms, value).
    Gauges drop NaN, ±Inf and DCGM's blank sentinel; counters become increases (module docstring). numpy, not
    polars: a handful of vectorised passes, no query plan per shard."""
    if counter:
        keep = np.flatnonzero(np.isfinite(v))
        s, x = sid[keep], v[keep]
        first = np.ones(len(x), dtype=bool)
        first[1:] = s[1:] != s[:-1]
        prev = np.concatenate([x[:1], x[:-1]])
        out = np.where(first | (x < prev), x, x - prev)
        not_baseline = t[keep] != shard.eval_range(counter=True)[0]
        keep, out = keep[not_baseline], out[not_baseline]
    else:
        keep = np.flatnonzero(np.isfinite(v) & (np.abs(v) < DCGM_SENTINEL_ABOVE))
        out = v[keep]
    return keep, t[keep] + (EPS_MS - shard.step_ms), out * scale if scale != 1.0 else out


# --- table builders --------------------------------------------------------------------------------------------
# Each builder takes the batch's parts by query name and the resolution, aggregates them on a Grid of
# (key, interval) cells and returns the exact columns of its raw table (``ts`` as a timestamp).

def _table(df: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """The columns of ``schema`` in its order and types, ``ts`` (ms) as the raw tables' timestamp."""
    return as_timestamps(df.select(pl.col(c).cast(t) for c, t in schema.items()))


_CONTAINER = ["namespace", "pod", "container"]
_REQUESTS = {"ts": pl.Int64, "namespace": pl.String, "pod": pl.String, "container": pl.String, "node": pl.String,
             "resource": pl.String, "request": pl.Float64, "limit": pl.Float64, "running": pl.Float64}


def container_requests(parts: Parts, step_s: int) -> pl.DataFrame:
    """Per container, resource and interval: the request, the limit and the running ratio (per container)."""
    g = Grid({"req": part_of(parts, "k8s_requests"), "lim": part_of(parts, "k8s_limits"),
              "run": part_of(parts, "k8s_running")}, [*_CONTAINER, "resource"], step_s * 1000,
             keep=pl.col("pod") != "", on={"run": _CONTAINER})
    node = pl.coalesce(g.label("req", g.pick("req", "node"), "node"), g.label("lim", g.pick("lim", "node"), "node"),
                       pl.lit(""))
    out = g.frame(g.present("req") | g.present("lim"),
                  {"request": g.values("req", "max"), "limit": g.values("lim", "max"),
                   "running": g.values("run", "max"), "node": pl.select(node).to_series()})
    return _table(out, _REQUESTS)


def node_capacity(parts: Parts, step_s: int) -> pl.DataFrame:
    g = Grid({"cap": part_of(parts, "node_capacity"), "alloc": part_of(parts, "node_allocatable")},
             ["node", "resource"], step_s * 1000, keep=pl.col("node") != "")
    out = g.frame(g.present("cap") | g.present("alloc"),
                  {"capacity": g.values("cap", "max"), "allocatable": g.values("alloc", "max")})
    return _table(out, {"ts": pl.Int64, "node": pl.String, "resource": pl.String, "capacity": pl.Float64,
                        "allocatable": pl.Float64})


DCGM_EXPORTER_POD = r"dcgm-exporter"
_GPU_ATTRS = {"gpu": "gpu_index", "modelName": "gpu_model", "GPU_I_PROFILE": "mig_profile", "namespace": "namespace",
              "pod": "pod", "container": "container"}
_GPU_PARTS = {"prof": "dcgm_gr_active", "dev": "dcgm_util", "fb_used_mib": "dcgm_fb_used", "power_w": "dcgm_power"}


def _unassign_exporter(part: Part) -> Part:
    """With the Helm ServiceMonitor (honorLabels false) an unassigned GPU keeps only the scrape target's own
    pod/namespace/container labels, i.e. the dcgm-exporter pod: that is not an assignment."""
    cols = ("namespace", "pod", "container")
    labels = part.labels.with_columns(pl.lit("").alias(c) for c in cols if c not in part.labels.columns)
    own = pl.col("pod").str.contains(DCGM_EXPORTER_POD) | pl.col("container").str.contains(DCGM_EXPORTER_POD)
    return Part(labels, part.points).with_labels(*[pl.when(own).then(pl.lit("")).otherwise(pl.col(c)).alias(c)
                                                   for c in cols])


def gpu_usage(parts: Parts, step_s: int) -> pl.DataFrame:
    """Per GPU (or MIG instance) and interval: utilisation (the profiling ratio where reported, else the device
    percentage), framebuffer, power, and the pod it is assigned to."""
    g = Grid({col: _unassign_exporter(part_of(parts, name)) for col, name in _GPU_PARTS.items()},
             ["node", "gpu_uuid", "GPU_I_ID"], step_s * 1000, keep=pl.col("gpu_uuid") != "")
    # a GPU re-assigned inside an interval has two label sets: keep the assigned pod's (the greatest pod name)
    picks = {col: g.pick(col, "pod") for col in _GPU_PARTS}
    attrs = {out: pl.select(pl.coalesce(*[g.label(col, picks[col], a) for col in _GPU_PARTS])).to_series()
             for a, out in _GPU_ATTRS.items()}
    values = {col: g.values(col, "mean") for col in _GPU_PARTS}
    out = g.frame(np.logical_or.reduce([g.present(col) for col in _GPU_PARTS]),
                  {**values, **attrs, "util": pl.select(pl.coalesce(values["prof"], values["dev"])).to_series()})
    out = out.rename({"GPU_I_ID": "mig_instance"})
    return _table(out, {"ts": pl.Int64, "node": pl.String, "gpu_uuid": pl.String, "gpu_index": pl.String,
                        "gpu_model": pl.String, "mig_profile": pl.String, "mig_instance": pl.String,
                        "namespace": pl.String, "pod": pl.String, "container": pl.String, "util": pl.Float64,
                        "fb_used_mib": pl.Float64, "power_w": pl.Float64})


def container_usage(parts: Parts, step_s: int) -> pl.DataFrame:
    g = Grid({"cpu": part_of(parts, "cadvisor_cpu"), "mem": part_of(parts, "cadvisor_memory")}, _CONTAINER,
             step_s * 1000, keep=pl.col("pod") != "")
    cpu = g.values("cpu", "sum") / step_s
    out = g.frame(g.present("cpu") | g.present("mem"), {"cpu_cores": cpu, "memory_bytes": g.values("mem", "mean")})
    return _table(out, {"ts": pl.Int64, **{c: pl.String for c in _CONTAINER}, "cpu_cores": pl.Float64,
                        "memory_bytes": pl.Float64})


def pod_network(parts: Parts, step_s: int) -> pl.DataFrame:
    g = Grid({"tx": part_of(parts, "cadvisor_tx"), "rx": part_of(parts, "cadvisor_rx")}, ["namespace", "pod"],
             step_s * 1000, keep=pl.col("pod") != "")
    out = g.frame(g.present("tx") | g.present("rx"), {"tx_bytes": g.values("tx", "sum"),
                                                       "rx_bytes": g.values("rx", "sum")})
    return _table(out, {"ts": pl.Int64, "namespace": pl.String, "pod": pl.String, "tx_bytes": pl.Float64,
                        "rx_bytes": pl.Float64})


INFERENCE_COLUMNS = ("requests", "successes", "errors", "input_tokens", "output_tokens", "cached_tokens",
                     "prefill_seconds", "decode_seconds")
_INFERENCE = {"ts": pl.Int64, "server": pl.String, "namespace": pl.String, "pod": pl.String, "model": pl.String,
              **{c: pl.Float64 for c in INFERENCE_COLUMNS}}
_LATENCY = {"ts": pl.Int64, "server": pl.String, "namespace": pl.String, "pod": pl.String, "model": pl.String,
            "metric": pl.String, "le": pl.Float64, "count": pl.Float64}


def _with_model(query: Query, part: Part) -> Part:
    """The part with a ``model`` label: the query's model label, else the OTel response model, else ''."""
    ml = query.extra.get("model_label", "")
    cols = part.labels.columns
    exprs = [pl.col(c) for c in (ml, "gen_ai_response_model") if c and c in cols]
    model = pl.coalesce(*[pl.when(e != "").then(e) for e in exprs], pl.lit("")) if exprs else pl.lit("")
    return part.with_labels(model=model)


def inference(queries: Sequence[Query], parts: Parts, step_s: int) -> pl.DataFrame:
    """One row per (ts, server, namespace, pod, model) whatever server produced it."""
    per_server: dict[str, dict[str, Part]] = {}
    for q in queries:
        if q.family != "inference" or q.extra.get("histogram") or q.name not in parts:
            continue
        per_server.setdefault(q.server, {})[q.column] = _with_model(q, parts[q.name])
    outs = []
    for server, named in per_server.items():
        g = Grid(named, ["namespace", "pod", "model"], step_s * 1000, keep=pl.col("pod") != "")
        out = g.frame(np.logical_or.reduce([g.present(c) for c in named]),
                      {c: g.values(c, "sum") for c in named}).with_columns(server=pl.lit(server))
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in INFERENCE_COLUMNS if c not in named)
        if server == "vllm":  # request_success_total counts every finished request, by finished_reason
            out = out.with_columns(errors=pl.col("errors").fill_null(0.0)).with_columns(
                successes=pl.col("requests") - pl.col("errors"))
        elif server in ("triton", "otel"):  # no total: requests = successes + failures
            out = out.with_columns(requests=pl.col("successes").fill_null(0.0) + pl.col("errors").fill_null(0.0))
        outs.append(_table(out, _INFERENCE))
    return pl.concat(outs) if outs else _table(pl.DataFrame(schema=_INFERENCE), _INFERENCE)


def inference_latency(queries: Sequence[Query], parts: Parts, step_s: int) -> pl.DataFrame:
    """Histogram bucket increases per (ts, server, namespace, pod, model, metric, le): every histogram query's
    part, tagged with its server and metric, on one grid."""
    tagged = [_with_model(q, parts[q.name]).with_labels(server=pl.lit(q.server), metric=pl.lit(q.column))
              for q in queries if q.extra.get("histogram") and q.name in parts]
    if not tagged:
        return _table(pl.DataFrame(schema=_LATENCY), _LATENCY)
    g = Grid({"b": Part.concat(tagged)}, ["server", "metric", "namespace", "pod", "model", "le"], step_s * 1000,
             keep=pl.col("pod") != "")
    out = g.frame(g.present("b"), {"count": g.values("b", "sum")})
    le = pl.col("le").str.replace(r"^\+Inf$", "inf").cast(pl.Float64)
    return _table(out.with_columns(le=le), _LATENCY)

"""Orchestration: windows -> (query × time shard) tasks on a small worker pool -> tables -> one transaction.

Per commit window (``prometheus.window``, default 1 day) every query of the catalog is fetched, decoded and
reduced to rows; only when **all** of them succeeded are the raw tables replaced for the window and the
watermark moved, together, in one ``warehouse.transaction``. A window that still fails after retries and
splitting leaves nothing behind, the run stops there, and the summary names what was not collected.

Pipeline (memory is bounded by about two fetch batches, :data:`FETCH_BATCH_S`, not by the window): the
worker pool fetches and decodes batch k+1 (``prometheus.workers`` requests in flight, twice as many shards
being decoded; each shard becomes a :class:`~collector.prometheus.parts.Part`, labels once per series through
the run's :class:`~collector.prometheus.normalize.LabelCache`) while the build thread turns batch k into table
rows (on a :class:`~collector.prometheus.parts.Grid`), inserted into the window's open transaction through a
Parquet file (:mod:`spool`), and ksm versions; the main thread gathers batches, and at the window's end writes
the ksm versions and the watermark and commits. Large scale: peak RSS ~0.8 GB over 1 day, ~0.9 GB over 7.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from collector.prometheus import fastmatrix, metadata, normalize, volumes
from collector.prometheus.catalog import Query, catalog
from collector.prometheus.client import PromClient, QueryFailed, QueryTooLarge, decode_matrix, gc_paused
from collector.prometheus.parts import Part
from collector.prometheus.shards import Shard, split_window, windows
from collector.prometheus.spool import Spool
from collector.result import CollectResult
from neocost import warehouse
from neocost.errors import CollectError
from neocost.settings import Settings, parse_duration
from neocost.timeutil import floor_time, utcnow

SOURCE = "prometheus"
# A commit window is fetched and written in batches of at most this span, inside the window's one transaction:
# the client's memory grows with series x points in flight (large scale, ~75 k series: ~3 GB for a 1 d batch).
FETCH_BATCH_S = 4 * 3600
Progress = Callable[[dict[str, Any]], None]


@dataclass
class WindowData:
    start: datetime
    end: datetime
    parts: dict[str, Part] = field(default_factory=dict)
    samples: int = 0
    splits: int = 0


def _add(counts: Counter[str], built: tuple[dict[str, int], dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Add a built batch's row counts to ``counts``; return its ksm versions."""
    counts.update(built[0])
    return built[1]


def plan(settings: Settings, con: duckdb.DuckDBPyConnection, start: datetime | None, end: datetime | None,
         now: datetime | None = None) -> tuple[datetime, datetime]:
    """The run's ``[start, end)`` on the resolution grid: explicit, else watermark - overlap .. now."""
    p = settings.prometheus
    step = parse_duration(p.resolution)
    now = now or utcnow()
    if end is None:
        end = floor_time(now, step)
    if start is None:
        wm = warehouse.get_watermark(con, SOURCE)
        start = (wm - timedelta(seconds=parse_duration(p.overlap)) if wm
                 else end - timedelta(seconds=parse_duration(p.initial_lookback)))
    return floor_time(start, step), floor_time(end, step)


def fetch_shard(client: PromClient, query: Query, shard: Shard, resolution: str,
                slots: threading.Semaphore | None = None, cache: normalize.LabelCache | None = None
                ) -> tuple[Part, int, int]:
    """Rows of one query over one shard; halves the shard while the server says it is too large.
    ``slots`` bounds the requests in flight (the decoding happens outside it); ``cache`` remembers the labels
    of series seen in earlier shards.

    Returns (rows, samples fetched, number of extra splits)."""
    first, last = shard.eval_range(query.counter)
    try:
        with slots or contextlib.nullcontext():
            body = client.fetch_range(query.promql(resolution), first / 1000, last / 1000, shard.step_ms / 1000,
                                      name=query.name)
    except QueryTooLarge:
        if shard.points <= 1:
            raise
        a, b = shard.halves()
        ra, na, sa = fetch_shard(client, query, a, resolution, slots, cache)
        rb, nb, sb = fetch_shard(client, query, b, resolution, slots, cache)
        return Part.concat([ra, rb]), na + nb, sa + sb + 1
    with gc_paused():
        # the columnar decoder, or orjson when the body is laid out differently (same result either way)
        # labels that vary per series (labels=None) are decoded with each body, the others through the cache
        matrix = (fastmatrix.parse(body, query.fields, decode=cache is None or query.labels is None)
                  or fastmatrix.Matrix.from_result(decode_matrix(body, query.name)))
        del body
        rows = normalize.rows_from_matrix(query, matrix, shard, cache)
    return rows, len(matrix.v), 0


class Collector:
    """One run against one Prometheus; ``run`` collects ``[start, end)`` window by window."""

    def __init__(self, settings: Settings, con: duckdb.DuckDBPyConnection, *, client: PromClient | None = None,
                 progress: Progress | None = None) -> None:
        self.settings = settings
        self.con = con
        self.client = client or PromClient(settings.prometheus)
        self.progress = progress or (lambda event: None)
        p = settings.prometheus
        self.step = parse_duration(p.resolution)
        # ksm metadata also when the Kubernetes API is used: the cost model falls back to it per object for
        # nodes and pods gone before the API listing (spot interruptions, finished Jobs)
        self.use_ksm = True
        self.queries = catalog(metadata=self.use_ksm, model_labels=p.model_labels)
        # ``workers`` requests in flight, as configured; twice as many tasks, so that a shard is decoded while
        # the next request is already waiting on the server (the server, not the client, is the bottleneck)
        self.slots = threading.Semaphore(p.workers)
        self.labels = normalize.LabelCache()
        # samples per query in the last batch: the next batch's largest queries are submitted first, so that a
        # batch does not end on a large query running alone (the catalog lists the large ksm queries last)
        self.samples: dict[str, int] = {}

    def _submit(self, pool: ThreadPoolExecutor, ws: datetime, we: datetime
                ) -> list[tuple[Query, Future[tuple[Part, int, int]]]]:
        p = self.settings.prometheus
        shards = split_window(ws, we, self.step, max_points=p.max_points_per_series, parts=p.shards_per_query)
        largest_first = sorted(self.queries, key=lambda q: -self.samples.get(q.name, 0))
        return [(q, pool.submit(fetch_shard, self.client, q, s, p.resolution, self.slots, self.labels))
                for q in largest_first for s in shards]

    def _gather(self, ws: datetime, we: datetime, tasks: list[tuple[Query, Future[Any]]]) -> WindowData:
        data = WindowData(ws, we)
        parts: dict[str, list[Part]] = {}
        fetched: Counter[str] = Counter()
        for i, (q, fut) in enumerate(tasks):
            rows, samples, splits = fut.result()
            parts.setdefault(q.name, []).append(rows)
            fetched[q.name] += samples
            data.samples += samples
            data.splits += splits
            self.progress({"event": "query", "window": (ws, we), "done": i + 1, "total": len(tasks),
                           "query": q.name, "samples": samples})
        data.parts = {k: Part.concat(v) for k, v in parts.items()}
        self.samples = fetched
        return data

    def tables(self, data: WindowData) -> dict[str, pl.DataFrame]:
        p, step = data.parts, self.step
        return {
            "raw.container_requests": normalize.container_requests(p, step),
            "raw.node_capacity": normalize.node_capacity(p, step),
            "raw.gpu_usage": normalize.gpu_usage(p, step),
            "raw.container_usage": normalize.container_usage(p, step),
            "raw.pod_network": normalize.pod_network(p, step),
            "raw.inference": normalize.inference(self.queries, p, step),
            "raw.inference_latency": normalize.inference_latency(self.queries, p, step),
            "raw.pvc": volumes.pvc(p, step),
            "raw.pod_pvc": volumes.pod_pvc(p, step),
        }

    def build(self, data: WindowData, spool: Spool, replace: tuple[datetime, datetime] | None
              ) -> tuple[dict[str, int], dict[str, pa.Table]]:
        """One fetch batch -> rows inserted into every raw table (the window's first batch passes its commit
        window as ``replace``, which the rows then replace), and its ksm versions. Runs on the build thread,
        inside the window's open transaction (the main thread touches the connection only before and after):
        polars and DuckDB release the GIL, so it overlaps the next batch's fetches."""
        window = {"start": replace[0], "end": replace[1]} if replace else {}
        counts = {table: spool.insert(self.con, table, df, **window) for table, df in self.tables(data).items()}
        meta = metadata.build(data.parts, data.start, data.end, self.step, self.settings) if self.use_ksm else {}
        return counts, meta

    def _finish(self, ws: datetime, we: datetime, metas: list[dict[str, pa.Table]]) -> dict[str, int]:
        """The window's ksm versions, written together (the history's merge step joins versions that touch at
        batch edges, exactly as writing batch by batch would), and the watermark (inside the transaction)."""
        counts: dict[str, int] = {}
        if metas and metas[0]:
            meta = {t: pa.concat_tables([m[t] for m in metas], promote_options="permissive") for t in metas[0]}
            counts = metadata.write(self.con, meta, ws, we)
        warehouse.set_watermark(self.con, SOURCE, "", we)
        return counts

    def batches(self, ws: datetime, we: datetime) -> list[tuple[datetime, datetime]]:
        """The fetch batches of a commit window (see :data:`FETCH_BATCH_S`)."""
        return windows(ws, we, max(self.step, FETCH_BATCH_S // self.step * self.step))

    def run(self, start: datetime, end: datetime) -> CollectResult:
        t0 = time.perf_counter()
        result = CollectResult(source=SOURCE, window_start=start, window_end=end)
        wins = windows(start, end, parse_duration(self.settings.prometheus.window))
        plan = [b for w in wins for b in self.batches(*w)]
        samples = 0
        nxt = 0
        # exit order: the build thread and the fetch pool finish before the spool directory goes
        with tempfile.TemporaryDirectory(prefix="neocost-prom-") as tmp, \
                ThreadPoolExecutor(max_workers=2 * self.settings.prometheus.workers,
                                   thread_name_prefix="neocost-prom") as pool, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="neocost-prom-build") as builder:
            spool = Spool(Path(tmp))
            pending = self._submit(pool, *plan[0]) if plan else []
            for k, (ws, we) in enumerate(wins):
                counts: Counter[str] = Counter()
                win_samples = 0
                try:
                    # the window's batches and its watermark commit together: a failure leaves nothing behind
                    with warehouse.transaction(self.con):
                        metas: list[dict[str, pa.Table]] = []
                        building: Future[tuple[dict[str, int], dict[str, pa.Table]]] | None = None
                        try:
                            for i, (bs, be) in enumerate(self.batches(ws, we)):
                                data = self._gather(bs, be, pending)
                                nxt += 1  # the next batch is fetched while this one is built
                                pending = self._submit(pool, *plan[nxt]) if nxt < len(plan) else []
                                if building is not None:  # one batch in the build step at a time (memory)
                                    metas.append(_add(counts, building.result()))
                                win_samples += data.samples
                                building = builder.submit(self.build, data, spool, (ws, we) if i == 0 else None)
                                del data
                            if building is not None:
                                metas.append(_add(counts, building.result()))
                        except BaseException:
                            # the build thread must be done with the connection before the ROLLBACK
                            if building is not None and not building.cancel():
                                with contextlib.suppress(BaseException):
                                    building.result()
                            raise
                        counts.update(self._finish(ws, we, metas))
                except (QueryFailed, CollectError) as exc:
                    for _, fut in pending:
                        fut.cancel()
                    result.status = "partial" if k else "failed"
                    result.window_end = ws if k else None
                    result.skipped.append(f"prometheus {ws:%Y-%m-%dT%H:%MZ}..{end:%Y-%m-%dT%H:%MZ}: {exc} "
                                          "(nothing from it was stored; the watermark did not move)")
                    break
                samples += win_samples
                for t, n in counts.items():
                    result.tables[t] = result.tables.get(t, 0) + n
                self.progress({"event": "window", "window": (ws, we), "rows": sum(counts.values()),
                               "samples": win_samples, "index": k + 1, "windows": len(wins)})
        result.seconds = time.perf_counter() - t0
        result.samples = samples
        return result


def collect_prometheus(settings: Settings, con: duckdb.DuckDBPyConnection, *, start: datetime | None = None,
                       end: datetime | None = None, progress: Progress | None = None,
                       client: PromClient | None = None) -> CollectResult:
    """Collect ``[start, end)`` (default: incremental from the watermark) into the raw tables."""
    start, end = plan(settings, con, start, end)
    if end <= start:
        return CollectResult(source=SOURCE, window_start=start, window_end=end,
                             skipped=[f"prometheus: nothing to collect ({start} >= {end})"])
    collector = Collector(settings, con, client=client, progress=progress)
    # cap DuckDB's cache of the committed raw rows (else it grows with every window: a 7-day backfill at large
    # scale passed 1.5 GB); the user's own warehouse.memory_limit wins
    cap = (contextlib.nullcontext() if settings.warehouse.memory_limit else
           warehouse.temporary_setting(con, "memory_limit", settings.prometheus.duckdb_memory_limit))
    # one DuckDB thread, unless warehouse.threads says otherwise: a batch's inserts are small, a second thread
    # added ~40 % to their CPU (large scale), and the cores are better spent fetching and decoding
    threads = (contextlib.nullcontext() if settings.warehouse.threads else
               warehouse.temporary_setting(con, "threads", 1))
    try:
        with cap, threads:
            return collector.run(start, end)
    finally:
        if client is None:
            collector.client.close()

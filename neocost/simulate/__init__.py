"""``neocost simulate``: a realistic neocloud cluster with exactly recoverable ground truth.

:func:`simulate` writes ``metrics.om`` (OpenMetrics for promtool backfill), ``k8s/*.json`` (List objects),
``s3/`` (inventory reports), ``embeddings/`` (Parquet), ``pricebook.toml`` and ``truth.json``.
See docs/simulator.md for the cluster, the timing contract and the decisions behind the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from neocost.timeutil import floor_time, to_unix, utcnow

SCALES = ("small", "medium", "large")
DEFAULT_SCRAPE = {"small": 60, "medium": 60, "large": 300}


@dataclass
class SimSummary:
    out: Path
    start: datetime
    end: datetime
    scale: str
    seed: int
    nodes: int
    pods: int
    gpus: int
    series: int
    samples: int
    seconds: dict[str, float] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)


def simulate(out: Path, *, days: int = 7, seed: int = 1, scale: str = "small", end: datetime | None = None,
             scrape_interval: int | None = None, embeddings_hours: int = 48, embeddings_rows_per_hour: int = 250,
             progress: Callable[[str], None] | None = None, metrics_chunk_days: int | None = None,
             on_chunk: Callable[[Path], None] | None = None) -> SimSummary:
    """Simulate ``days`` ending at ``end`` (naive UTC, default today 00:00) and write everything under ``out``.

    ``metrics_chunk_days``: instead of ``metrics.om``, write ``metrics/<YYYY-MM-DD>.om``, one OpenMetrics file
    per that many days (each ends in ``# EOF``), so large simulations can be backfilled one chunk per promtool
    run with bounded memory (promtool maps and re-parses its whole input per output block).

    ``on_chunk`` (with ``metrics_chunk_days``): the chunks are written one after another and each finished file
    is handed to ``on_chunk`` before the next is started (e.g. backfill it and delete it), so the disk holds one
    chunk at a time instead of the whole run (large scale: 6.3 GB of text a day). The metric families are then
    generated once per chunk instead of once; they are a pure function of the cluster, so the files are the
    same either way."""
    from neocost.simulate import embeddings, k8s_objects, s3_inventory
    from neocost.simulate.exporters import cadvisor_families, dcgm_families, ksm_families
    from neocost.simulate.openmetrics import OpenMetricsWriter
    from neocost.simulate.prices import write_pricebook
    from neocost.simulate.servers import server_families
    from neocost.simulate.truth import build_truth
    from neocost.simulate.volumes import volume_families
    from neocost.simulate.workloads import build_cluster

    if on_chunk is not None and metrics_chunk_days is None:
        raise ValueError("on_chunk needs metrics_chunk_days")
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    if days < 1:
        raise ValueError("days must be at least 1")
    end = end if end is not None else floor_time(utcnow(), 86400)
    if to_unix(end) % 300:
        raise ValueError(f"end {end} must be on the 5-minute grid (e.g. on the hour)")
    start = end - timedelta(days=days)
    scrape = scrape_interval or DEFAULT_SCRAPE[scale]
    say = progress or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = int(to_unix(start))
    n = days * 288
    secs: dict[str, float] = {}

    tic = time.perf_counter()
    say("building the cluster")
    cluster = build_cluster(scale, seed, t0, n)
    secs["cluster"] = time.perf_counter() - tic

    tic = time.perf_counter()
    groups = (("kube-state-metrics", ksm_families), ("cAdvisor", cadvisor_families), ("DCGM", dcgm_families),
              ("inference servers", server_families), ("volume", volume_families))
    if metrics_chunk_days is None:
        with open(out / "metrics.om", "wb", buffering=1 << 22) as fh:
            w = OpenMetricsWriter(fh, t0, scrape)
            for group, fams in groups:
                say(f"writing {group} metrics")
                for fam in fams(cluster):
                    w.write(fam)
            w.close()
        series, samples = w.series, w.samples
    else:
        series, samples = _write_chunks(out / "metrics", cluster, groups, start, t0, n, scrape,
                                        metrics_chunk_days, say, on_chunk)
    secs["metrics"] = time.perf_counter() - tic

    tic = time.perf_counter()
    say("writing Kubernetes objects, S3 inventory, embeddings")
    k8s_objects.write_k8s(cluster, out / "k8s")
    buckets = s3_inventory.write_s3(out / "s3", end=end, seed=seed, scale=scale)
    drift = embeddings.write_embeddings(out / "embeddings", end=end, seed=seed, hours=min(embeddings_hours, n // 12),
                                        rows_per_hour=embeddings_rows_per_hour)
    write_pricebook(out / "pricebook.toml", {(nd.instance_type, nd.capacity_type) for nd in cluster.nodes})
    secs["objects"] = time.perf_counter() - tic

    tic = time.perf_counter()
    say("computing truth.json")
    meta = {"seed": seed, "scale": scale, "days": days, "scrape_interval_seconds": scrape, "version": _version()}
    truth = build_truth(cluster, buckets, meta, drift)
    (out / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    secs["truth"] = time.perf_counter() - tic

    return SimSummary(out=out, start=start, end=end, scale=scale, seed=seed, nodes=len(cluster.nodes),
                      pods=len(cluster.pods), gpus=sum(nd.gpus for nd in cluster.nodes), series=series,
                      samples=samples, seconds=secs, totals=truth["totals"])


def _write_chunks(folder: Path, cluster, groups, start: datetime, t0: int, n: int, scrape: int,  # type: ignore[no-untyped-def]
                  chunk_days: int, say: Callable[[str], None],
                  on_chunk: Callable[[Path], None] | None = None) -> tuple[int, int]:
    """One OpenMetrics file per ``chunk_days``: all at once (families generated once and split by interval), or
    with ``on_chunk`` one after another (families generated once per chunk), each handed over when finished."""
    from neocost.simulate.openmetrics import OpenMetricsWriter

    if chunk_days < 1:
        raise ValueError("metrics_chunk_days must be at least 1")
    folder.mkdir(parents=True, exist_ok=True)
    per = chunk_days * 288
    bounds = [(lo, min(n, lo + per)) for lo in range(0, n, per)]
    paths = [folder / f"{start + timedelta(minutes=5 * lo):%Y-%m-%d}.om" for lo, _ in bounds]
    series = samples = 0
    batches = [list(range(len(bounds)))] if on_chunk is None else [[i] for i in range(len(bounds))]
    for k, batch in enumerate(batches):
        which = f"{len(bounds)} chunks" if on_chunk is None else f"chunk {k + 1} of {len(bounds)}"
        handles = [open(paths[i], "wb", buffering=1 << 22) for i in batch]
        writers = [OpenMetricsWriter(fh, t0, scrape) for fh in handles]
        try:
            for group, fams in groups:
                say(f"writing {group} metrics ({which})")
                for fam in fams(cluster):
                    if k == 0:
                        series += sum(1 for s in fam.series if s.values.size)
                    for w, i in zip(writers, batch):
                        w.write(fam, intervals=bounds[i])
            for w in writers:
                w.close()
        finally:
            for fh in handles:
                fh.close()
        samples += sum(w.samples for w in writers)
        if on_chunk is not None:
            on_chunk(paths[batch[0]])
    return series, samples


def _version() -> str:
    from neocost import __version__

    return __version__

"""``neocost collect``: read Prometheus, the Kubernetes API and S3 into the warehouse, then print a summary."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from collector.result import CollectResult, record_run
from neocost import warehouse
from neocost.cli import CliState, time_option
from neocost.errors import NeocostError
from neocost.settings import Settings
from neocost.timeutil import utcnow

SOURCES = ("prometheus", "kubernetes", "s3")
# source -> (module, function): the Kubernetes and S3 collectors live in their own packages, loaded lazily.
COLLECTORS = {"kubernetes": ("collector.kubernetes", "collect_kubernetes"), "s3": ("collector.s3", "collect_s3")}


def _wanted(source: str, s: Settings) -> tuple[bool, str]:
    """Whether ``--source all`` runs a source, and why not."""
    if source == "prometheus":
        return (bool(s.prometheus.url), "no Prometheus URL (--prometheus or prometheus.url)")
    if source == "kubernetes":
        return (s.kubernetes.enabled, "Kubernetes API not configured (--kubeconfig or kubernetes.enabled); "
                "metadata comes from kube-state-metrics")
    return (bool(s.s3.inventory or s.s3.buckets), "no S3 inventory or bucket configured (--s3-inventory, --s3-bucket)")


def run_source(source: str, s: Settings, con: Any, start: datetime | None, end: datetime | None,
               progress: Any, *, invocation: str = "") -> CollectResult:
    """Collect one source, then record the run in ``meta.run`` (its own transaction, after the data's), also
    when the collector fails: a failed run leaves the data unchanged but is on record for the stale alert."""
    started, t0 = utcnow(), time.perf_counter()
    try:
        result = _collect_one(source, s, con, start, end, progress)
    except NeocostError as exc:
        result = CollectResult(source=source, status="failed", skipped=[f"{source}: {exc}"])
    except Exception as exc:  # a bug: record the failed run, then let the CLI's error boundary report it
        failed = CollectResult(source=source, status="failed", seconds=time.perf_counter() - t0,
                               skipped=[f"{source}: {type(exc).__name__}: {exc}"])
        record_run(con, failed, started=started, finished=utcnow(), requested=(start, end), invocation=invocation,
                   after_error=True)
        raise
    result.seconds = result.seconds or time.perf_counter() - t0
    record_run(con, result, started=started, finished=utcnow(), requested=(start, end), invocation=invocation,
               after_error=result.status == "failed")
    return result


def _collect_one(source: str, s: Settings, con: Any, start: datetime | None, end: datetime | None,
                 progress: Any) -> CollectResult:
    if source == "prometheus":
        from collector.prometheus.collect import collect_prometheus
        return collect_prometheus(s, con, start=start, end=end, progress=progress)
    module, attr = COLLECTORS[source]
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        return CollectResult(source=source, status="failed",
                             skipped=[f"{source}: collector not available in this build ({exc})"])
    return fn(s, con, progress=progress)  # type: ignore[no-any-return]


def summary_rows(results: list[CollectResult]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for r in results:
        window = (f"{r.window_start:%Y-%m-%dT%H:%MZ} .. {r.window_end:%Y-%m-%dT%H:%MZ}"
                  if r.window_start and r.window_end else "-")
        tables = sorted(r.tables.items()) or [("-", 0)]
        for i, (t, n) in enumerate(tables):
            rows.append((r.source if i == 0 else "", r.status if i == 0 else "", t, f"{n:,d}",
                         window if i == 0 else "", f"{r.seconds:.1f}s" if i == 0 else ""))
        for why in r.skipped:
            rows.append(("", "skipped", why, "", "", ""))
    return rows


def _print_summary(results: list[CollectResult], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([{"source": r.source, "status": r.status, "tables": r.tables, "seconds": r.seconds,
                                "window_start": r.window_start.isoformat() + "Z" if r.window_start else None,
                                "window_end": r.window_end.isoformat() + "Z" if r.window_end else None,
                                "skipped": r.skipped, "run_id": r.run_id or None} for r in results], indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title="neocost collect", show_lines=False)
    for col in ("source", "status", "table / skipped", "rows", "window", "time"):
        table.add_column(col, justify="right" if col in ("rows", "time") else "left", overflow="fold")
    for row in summary_rows(results):
        table.add_row(*row)
    Console(width=140).print(table)


@click.command()
@click.option("--source", type=click.Choice([*SOURCES, "all"]), default="all", show_default=True,
              help="Which source to collect; 'all' runs every configured one.")
@click.option("--start", callback=time_option, default=None, help="Backfill from (RFC 3339, date, unix s or now-7d); "
              "default: the watermark minus prometheus.overlap.")
@click.option("--end", callback=time_option, default=None, help="Backfill up to (exclusive; default now).")
@click.option("--prometheus", "prometheus_url", default=None, help="Prometheus-compatible API base URL.")
@click.option("--kubeconfig", type=click.Path(path_type=Path), default=None,
              help="kubeconfig file (enables the Kubernetes API collector).")
@click.option("--s3-endpoint", default=None, help="S3 endpoint URL (Nebius, MinIO, Ceph; empty = AWS).")
@click.option("--s3-inventory", multiple=True, help="Inventory destination s3://bucket/prefix (repeatable).")
@click.option("--s3-bucket", multiple=True, help="Bucket to list with ListObjectsV2 (repeatable).")
@click.option("--warehouse", "warehouse_path", type=click.Path(path_type=Path), default=None,
              help="DuckDB warehouse file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_obj
def collect(state: CliState, source: str, start: datetime | None, end: datetime | None,
            prometheus_url: str | None, kubeconfig: Path | None, s3_endpoint: str | None,
            s3_inventory: tuple[str, ...], s3_bucket: tuple[str, ...], warehouse_path: Path | None,
            as_json: bool, quiet: bool) -> None:
    """Collect metrics and metadata into the warehouse, then print what was collected and what was not.

    Example: neocost collect --prometheus http://127.0.0.1:9090 --start 2026-11-13 --end 2026-11-20
    """
    s = state.settings(
        prometheus={"url": prometheus_url},
        kubernetes={"kubeconfig": kubeconfig, "enabled": True if kubeconfig else None},
        s3={"endpoint_url": s3_endpoint, "inventory": list(s3_inventory) or None, "buckets": list(s3_bucket) or None},
        warehouse={"path": warehouse_path})
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--end must be after --start")
    order = SOURCES if source == "all" else (source,)
    con = warehouse.open_writer(s.warehouse)
    results: list[CollectResult] = []
    invocation = uuid.uuid4().hex
    try:
        for src in order:
            wanted, why = _wanted(src, s)
            if not wanted:
                if source != "all":
                    raise click.UsageError(f"--source {src}: {why}")
                results.append(CollectResult(source=src, status="skipped", skipped=[f"{src}: {why}"]))
                continue
            with _progress(quiet or as_json, src) as progress:
                results.append(run_source(src, s, con, start, end, progress, invocation=invocation))
    finally:
        con.close()
    _print_summary(results, as_json)
    if any(r.status in ("failed", "partial") for r in results):
        raise click.exceptions.Exit(1)


class _progress:
    """A rich progress bar fed by the collectors' progress events (stderr; silent when quiet)."""

    def __init__(self, quiet: bool, source: str) -> None:
        self.quiet, self.source = quiet, source
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _progress:
        if not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                                "{task.total}"), TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.source, total=None)
        return self

    def __call__(self, event: dict[str, Any]) -> None:
        if self.bar is None:
            return
        if event.get("event") == "query":
            ws, we = event["window"]
            self.bar.update(self.task, total=event["total"], completed=event["done"],
                            description=f"{self.source} {ws:%m-%d %H:%M}..{we:%m-%d %H:%M} {event['query']}")
        elif event.get("event") == "page":  # Kubernetes list pages
            self.bar.update(self.task, completed=event.get("done", 0),
                            description=f"{self.source} {event.get('kind', '')} page {event.get('page', '')}")
        elif "event" in event:  # S3 reports and files: show what is being read
            detail = " ".join(str(v) for k, v in event.items() if k not in ("event", "source"))
            self.bar.update(self.task, description=f"{self.source} {event['event']} {detail}"[:100])

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

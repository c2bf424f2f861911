"""``neocost demo``: the whole main job on the built-in defaults, with no cluster.

simulate -> backfill and start a real Prometheus -> serve the Kubernetes list API and S3 (moto) -> collect ->
cost model -> drift -> readable report and the comparison with the simulator's ground truth. The servers it
starts are stopped when it ends; the warehouse (``./neocost.duckdb``) stays, so ``neocost report`` and
``neocost drift status`` work afterwards in the same directory.

The packages above the core are imported inside the functions (the core never imports them at module level).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from neocost import warehouse
from neocost.cli import CliState
from neocost.errors import NeocostError, WarehouseError
from neocost.settings import Settings

DEMO_MARKER = "demo"


@dataclass
class DemoResult:
    start: datetime
    end: datetime
    truth: dict[str, Any]
    report: dict[str, Any]
    hints: list[Any]
    seconds: dict[str, float]


@contextmanager
def _step(console: Console, seconds: dict[str, float], name: str, text: str) -> Iterator[None]:
    console.print(f"[bold cyan]▶[/] {text}")
    tic = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - tic
    console.print(f"  [dim]done in {seconds[name]:.1f} s[/]")


def _check_warehouse(path: Path, force: bool) -> None:
    """Refuse to overwrite a warehouse that a demo did not create (it may hold real data)."""
    if not path.exists():
        return
    try:
        con = warehouse.connect(path, read_only=True)
        jobs = {r[0] for r in con.execute("SELECT DISTINCT job FROM meta.run").fetchall()}
        con.close()
    except Exception:  # noqa: BLE001 - any unreadable or foreign file is "not ours"
        jobs = set()
    if DEMO_MARKER not in jobs and not force:
        raise WarehouseError(f"{path} exists and was not made by `neocost demo`; use --warehouse to pick another "
                             "file, or --force to replace it")


def run_demo(settings: Settings, *, days: int, seed: int, scale: str, workdir: Path, end: datetime | None,
             force: bool, console: Console) -> DemoResult:
    from costmodel import report as cost_report
    from costmodel.allocate import build, load_book
    from costmodel.savings import hints as savings_hints
    from neocost import services
    from neocost.simulate import simulate
    from neocost.timeutil import floor_time, parse_time, utcnow

    wh_path = settings.warehouse.path
    _check_warehouse(wh_path, force)
    seconds: dict[str, float] = {}
    workdir = workdir.resolve()  # the servers run with their own working directories
    sim_dir = workdir / "sim"
    tsdb = workdir / "prometheus-data"

    end = end or floor_time(utcnow(), 86400)
    stamp = {"seed": seed, "scale": scale, "days": days, "end": end.isoformat(), "version": 1}
    stamp_file = workdir / "demo-stamp.json"
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp and (sim_dir / "truth.json").exists():
        console.print(f"[bold cyan]▶[/] reusing the simulation and TSDB in {workdir} (same seed, scale, days and end; "
                      "delete the folder to start over)")
    else:
        stamp_file.unlink(missing_ok=True)
        with _step(console, seconds, "simulate", f"simulating {days} days of a {scale} neocloud (seed {seed}) "
                   f"into {sim_dir}"):
            summary = simulate(sim_dir, days=days, seed=seed, scale=scale, end=end,
                               progress=lambda m: console.print(f"  [dim]{m}[/]"))
            console.print(f"  {summary.nodes} nodes, {summary.gpus} GPUs, {summary.pods} pods, "
                          f"{summary.series:,} series, {summary.samples:,} samples")
        with _step(console, seconds, "backfill", f"backfilling a Prometheus TSDB with promtool "
                   f"({summary.samples:,} samples)"):
            shutil.rmtree(tsdb, ignore_errors=True)
            services.backfill(sim_dir / "metrics.om", tsdb)
        stamp_file.write_text(json.dumps(stamp))
    truth = json.loads((sim_dir / "truth.json").read_text())
    start, end = parse_time(truth["window"]["start"]), parse_time(truth["window"]["end"])

    for p in (wh_path, Path(str(wh_path) + ".wal")):
        p.unlink(missing_ok=True)
    con = warehouse.open_writer(settings.warehouse)
    # mark the file as the demo's at once, so a demo that fails part-way can be re-run without --force
    run_id = con.execute(
        "INSERT INTO meta.run (run_id, job, started_at, window_start, window_end, status) "
        "VALUES (gen_random_uuid()::VARCHAR, ?, now()::TIMESTAMP, ?, ?, 'running') RETURNING run_id",
        [DEMO_MARKER, start, end]).fetchall()[0][0]
    try:
        _collect(settings, con, sim_dir, workdir, tsdb, start, end, console, seconds)
        with _step(console, seconds, "cost", "building the cost model with the simulator's price book"):
            book = load_book(settings.costmodel, [sim_dir / "pricebook.toml"])
            res = build(con, costmodel=settings.costmodel, labels=settings.labels, book=book,
                        start=start, end=end)
            for w in res.warnings:
                console.print(f"  [yellow]warning:[/] {w}")
        drift_note = _run_drift(settings, con, sim_dir, console, seconds)
        report = cost_report.truth_report(con, start, end,
                                          output_input_weight=settings.costmodel.output_input_weight,
                                          currency=book.currency)
        report["drift"] = drift_note
        hints = savings_hints(con, start, end)
        con.execute("UPDATE meta.run SET status = 'ok', finished_at = now()::TIMESTAMP WHERE run_id = ?", [run_id])
    finally:
        con.close()
    return DemoResult(start, end, truth, report, hints, seconds)


def _collect(settings: Settings, con: Any, sim_dir: Path, workdir: Path, tsdb: Path, start: datetime,
             end: datetime, console: Console, seconds: dict[str, float]) -> None:
    """Serve the simulated sources on 127.0.0.1, collect all three into ``con``, stop the servers."""
    from collector.cli import run_source
    from neocost import services
    from neocost.simulate.k8s_api import K8sListServer
    from neocost.simulate.s3_inventory import DEST, PREFIX

    # moto accepts any credentials; set dummy ones for this process only if none are configured.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "neocost-demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "neocost-demo")
    with ExitStack() as stack:
        with _step(console, seconds, "servers", "starting Prometheus, the Kubernetes list API and S3 (moto) on "
                   "127.0.0.1"):
            prom = stack.enter_context(services.PrometheusServer(tsdb))
            s3 = stack.enter_context(services.MotoS3Server())
            services.upload_tree(s3.client(), sim_dir / "s3")
            k8s = stack.enter_context(K8sListServer(sim_dir / "k8s"))
            kubeconfig = k8s.write_kubeconfig(workdir / "kubeconfig")
            console.print(f"  Prometheus {prom.url} · Kubernetes {k8s.url} · S3 {s3.endpoint_url}")
        run = settings.model_copy(deep=True)
        run.prometheus.url = prom.url
        run.kubernetes.enabled = True
        run.kubernetes.kubeconfig = kubeconfig
        run.s3.endpoint_url = s3.endpoint_url
        run.s3.inventory = [f"s3://{DEST}/{PREFIX}"]
        with _step(console, seconds, "collect", "collecting Prometheus, Kubernetes and S3 into the warehouse"):
            # run_source records each run in meta.run, as `neocost collect` does
            results = [run_source("prometheus", run, con, start, end, None, invocation="demo"),
                       run_source("kubernetes", run, con, None, None, None, invocation="demo"),
                       run_source("s3", run, con, None, None, None, invocation="demo")]
            for r in results:
                rows = sum(r.tables.values())
                console.print(f"  {r.source:<11} {r.status:<8} {rows:>12,} rows in {r.seconds:.1f} s"
                              + (f"  skipped: {'; '.join(r.skipped)}" if r.skipped else ""))
            failed = [r.source for r in results if r.status == "failed"]
            if failed:
                raise NeocostError(f"collection failed for {', '.join(failed)}; see the lines above")


def _run_drift(settings: Settings, con: Any, sim_dir: Path, console: Console, seconds: dict[str, float]
               ) -> dict[str, Any]:
    """Score the simulator's embeddings; return the truth-shaped ``drift`` section (onset per model)."""
    from drift.job import run_drift

    run = settings.model_copy(deep=True)
    run.drift.embeddings = str(sim_dir / "embeddings")
    with _step(console, seconds, "drift", "scoring embedding drift per model and segment"):
        result = run_drift(run, con)
        for issue in result.issues:
            console.print(f"  [yellow]skipped:[/] {issue}")
    models: dict[str, dict[str, Any]] = {}
    for row in result.status_json():
        onset = row.get("onset")
        cur = models.setdefault(row["model"], {"onset": None, "state": row.get("state")})
        if onset and (cur["onset"] is None or onset < cur["onset"]):
            cur["onset"], cur["state"] = onset, row.get("state")
    return {"window": settings.drift.window, "models": models}


@click.command()
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 60), help="Simulated days.")
@click.option("--seed", default=1, show_default=True, type=int, help="Simulator seed (same seed, same cluster).")
@click.option("--scale", default="small", show_default=True, type=click.Choice(["small", "medium", "large"]))
@click.option("--dir", "workdir", default=Path("demo"), show_default=True, type=click.Path(path_type=Path),
              help="Where the simulator output and the Prometheus TSDB go.")
@click.option("--end", default=None, help="End of the simulated window (RFC 3339, on the hour; default today "
              "00:00 UTC).")
@click.option("--force", is_flag=True, help="Replace a warehouse file that a demo did not create.")
@click.option("--json", "as_json", is_flag=True, help="Print the truth-shaped report as JSON instead of tables.")
@click.pass_obj
def demo(state: CliState, days: int, seed: int, scale: str, workdir: Path, end: str | None, force: bool,
         as_json: bool) -> None:
    """Run the whole pipeline on a simulated cluster: no cluster or cloud account needed.

    Simulates a neocloud (GPU training on spot, inference on vLLM/Triton/TGI/OTel, storage, drift), starts a
    real Prometheus (backfilled), the Kubernetes list API and S3 on 127.0.0.1, collects, builds the cost model,
    scores drift, prints the report next to the simulator's ground truth, and stops the servers. The warehouse
    stays (./neocost.duckdb), so afterwards `neocost report --by team,model` and `neocost drift status` work.

    Example: neocost demo --days 7 --seed 1
    """
    from neocost.demo_report import render
    from neocost.timeutil import parse_time

    console = Console(stderr=as_json)
    if not console.is_terminal:  # piped or logged: wide enough that the tables do not wrap
        console = Console(stderr=as_json, width=160)
    settings = state.settings()
    end_t = parse_time(end) if end else None
    workdir.mkdir(parents=True, exist_ok=True)
    result = run_demo(settings, days=days, seed=seed, scale=scale, workdir=workdir, end=end_t, force=force,
                      console=console)
    if as_json:
        click.echo(json.dumps(result.report, indent=2))
        return
    render(console, result.report, result.truth, result.hints)
    total = sum(result.seconds.values())
    console.print(f"\n[bold]Done in {total:.0f} s.[/] Warehouse: {settings.warehouse.path}. Try next:")
    for cmd in ("neocost report --by team,model", "neocost report --by model --basis usage --format csv",
                "neocost drift status", "neocost export focus --out focus.parquet"):
        console.print(f"  {cmd}")


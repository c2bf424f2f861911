"""``neocost drift``: run the drift job, show the status, save named baselines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import orjson

from neocost.cli import CliState, time_option
from neocost.timeutil import rfc3339


def _open(state: CliState, **drift: Any) -> tuple[Any, Any]:
    from neocost import warehouse

    settings = state.settings(drift={k: v for k, v in drift.items() if v is not None})
    con = warehouse.open_writer(settings.warehouse)
    return settings, con


@click.group()
def drift() -> None:
    """Embedding drift per model and segment: scores, p-values, calibrated alerts."""


@drift.command("run")
@click.option("--model", help="Only this model.")
@click.option("--start", callback=time_option, help="First window (RFC 3339, date, or now-7d).")
@click.option("--end", callback=time_option, help="End of the last window (exclusive).")
@click.option("--embeddings", help="Parquet directory, glob or s3://bucket/prefix (setting drift.embeddings).")
@click.pass_obj
def run_cmd(state: CliState, model: str | None, start: datetime | None, end: datetime | None,
            embeddings: str | None) -> None:
    """Read embeddings, summarise windows, score them against the reference.

    Example: neocost drift run --model llama-3-8b --start 2026-11-18 --end 2026-11-20
    """
    from drift import job

    settings, con = _open(state, embeddings=embeddings)
    try:
        result = job.run(con, settings.drift, settings.s3, model=model, start=start, end=end)
    finally:
        con.close()
    click.echo(f"drift: {result.rows} rows read, {result.windows} windows summarised, {result.scores} scores "
               f"for {result.series} model/segment pairs")
    for issue in result.issues:
        click.secho(f"  skipped: {issue}", fg="yellow", err=True)


@drift.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def status_cmd(state: CliState, fmt: str) -> None:
    """Latest score, p-value, decision and drift onset per model and segment."""
    from drift import job
    from neocost import warehouse

    settings = state.settings()
    con = warehouse.connect(settings.warehouse.path, read_only=True)
    try:
        rows = job.status(con)
    finally:
        con.close()
    if fmt == "json":
        click.echo(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("no drift scores yet; run `neocost drift run` (or `neocost demo`)")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="embedding drift (latest window)")
    for col in ("model", "segment", "window", "rows", "score", "floor", "p-value", "α/S", "state", "onset"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["model"], r["segment"] or "-", rfc3339(r["latest_window"]), str(r["n"]),
                      _num(r["score"]), _num(r["threshold"]), _num(r["p_value"]), _num(r["alpha_corrected"]),
                      r["state"], rfc3339(r["onset"]) if r["onset"] else "")
    Console().print(table)


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.3g}"


@drift.group("baseline")
def baseline() -> None:
    """Named reference periods."""


@baseline.command("save")
@click.argument("name")
@click.option("--start", callback=time_option, required=True)
@click.option("--end", callback=time_option, required=True)
@click.option("--model")
@click.pass_obj
def baseline_save(state: CliState, name: str, start: datetime, end: datetime, model: str | None) -> None:
    """Freeze [start, end) as baseline NAME; use it with drift.reference = 'baseline', drift.baseline = NAME."""
    from drift import job

    _, con = _open(state)
    try:
        n = job.save_baseline(con, name, start, end, model)
    finally:
        con.close()
    click.echo(f"baseline {name!r} saved for {n} model/segment pairs ({rfc3339(start)}..{rfc3339(end)})")

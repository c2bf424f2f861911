"""``neocost cost``, ``neocost report`` and ``neocost export focus``: thin shells over the library."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import orjson

from neocost.cli import CliState, time_option
from neocost.settings import Settings, parse_duration
from neocost.warehouse import connect, open_writer

_pricebook = click.option("--pricebook", "pricebooks", multiple=True, type=click.Path(path_type=Path, exists=True),
                          help="Price book file (TOML or OpenCost CSV); repeatable, later files win.")


def _settings(ctx: click.Context) -> Settings:
    state: CliState = ctx.obj or CliState()
    return state.settings()


def _window(con, start: str | None, end: str | None, step: int) -> tuple[datetime, datetime]:  # type: ignore[no-untyped-def]
    from costmodel.allocate import ceil_hour, collected_window, floor_hour

    s, e = time_option(None, None, start), time_option(None, None, end)
    if s is None or e is None:
        w = collected_window(con, step)
        if w is None:
            raise click.UsageError("the warehouse has no collected data; give --start and --end or collect first")
        s, e = s or w[0], e or w[1]
    return floor_hour(s), ceil_hour(e)


@click.command("cost")
@click.option("--start", help="Window start (RFC 3339, date, unix seconds or now-7d); default: first collected.")
@click.option("--end", help="Window end (exclusive); default: last collected.")
@click.option("--hourly", is_flag=True, help="Build hour by hour (bounded memory; same result).")
@_pricebook
@click.pass_context
def cost(ctx: click.Context, start: str | None, end: str | None, hourly: bool, pricebooks: tuple[Path, ...]) -> None:
    """Build or refresh the cost model for a window (default: everything collected).

    Example: neocost cost --start 2026-11-13 --end 2026-11-20 --pricebook prices.toml
    """
    from costmodel.allocate import build, load_book

    settings = _settings(ctx)
    step = parse_duration(settings.prometheus.resolution)
    con = open_writer(settings.warehouse)
    try:
        s, e = _window(con, start, end, step)
        res = build(con, costmodel=settings.costmodel, labels=settings.labels,
                    book=load_book(settings.costmodel, list(pricebooks)), start=s, end=e, step_seconds=step,
                    hourly_chunks=hourly)
    finally:
        con.close()
    for w in res.warnings:
        click.secho(f"warning: {w}", fg="yellow", err=True)
    click.echo(f"cost model built for [{res.start:%Y-%m-%dT%H:%MZ}, {res.end:%Y-%m-%dT%H:%MZ}): {res.hours} h, "
               f"{res.rows:,} rows in {res.seconds:.1f} s")


@click.command("report")
@click.option("--start", help="Window start; default: first hour in the marts.")
@click.option("--end", help="Window end (exclusive); default: last hour in the marts + 1 h.")
@click.option("--by", default="team", show_default=True, help="Comma-separated tags: team, project, model, env, "
              "cost_center, namespace, node_pool.")
@click.option("--basis", type=click.Choice(["usage", "allocation"]), default="allocation", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="json prints the truth.json shape (docs/truth.md).")
@click.option("--build/--no-build", default=False, help="(Re)build the cost model for the window first.")
@_pricebook
@click.pass_context
def report(ctx: click.Context, start: str | None, end: str | None, by: str, basis: str, fmt: str, build: bool,
           pricebooks: tuple[Path, ...]) -> None:
    """Cost by tag for a window, from the marts.

    Example: neocost report --start now-7d --end now --by team,model --basis usage --format csv
    """
    from costmodel import report as rep
    from costmodel.allocate import build as do_build
    from costmodel.allocate import load_book

    settings = _settings(ctx)
    dims = [d.strip() for d in by.split(",") if d.strip()]
    bad = [d for d in dims if d not in rep.DIMENSIONS]
    if bad:
        raise click.BadParameter(f"unknown tag(s) {bad}; use {', '.join(rep.DIMENSIONS)}", param_hint="--by")
    step = parse_duration(settings.prometheus.resolution)
    con = open_writer(settings.warehouse) if build else connect(settings.warehouse.path, read_only=True)
    try:
        if build:
            s, e = _window(con, start, end, step)
            do_build(con, costmodel=settings.costmodel, labels=settings.labels,
                     book=load_book(settings.costmodel, list(pricebooks)), start=s, end=e, step_seconds=step)
        s, e = _mart_window(con, start, end)
        book = load_book(settings.costmodel, list(pricebooks))
        if fmt == "json":
            doc = rep.truth_report(con, s, e, output_input_weight=settings.costmodel.output_input_weight,
                                   currency=book.currency)
            click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
            return
        rows = rep.cost_table(con, s, e, dims, basis)
    finally:
        con.close()
    if fmt == "csv":
        click.echo(rep.render_csv(rows), nl=False)
    else:
        from rich.console import Console

        Console().print(rep.render_table(rows, dims, f"Cost by {', '.join(dims)} ({basis} basis), "
                                         f"{s:%Y-%m-%d %H:%M} - {e:%Y-%m-%d %H:%M} UTC", book.currency))


def _mart_window(con, start: str | None, end: str | None) -> tuple[datetime, datetime]:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    s, e = time_option(None, None, start), time_option(None, None, end)
    if s is None or e is None:
        lo, hi = (con.execute("SELECT min(hour), max(hour) FROM mart.cost_hourly").fetchall() or [(None, None)])[0]
        if lo is None:
            raise click.UsageError("the cost model is empty; run `neocost cost` first (or pass --build)")
        s, e = s or lo, e or hi + timedelta(hours=1)
    return s, e


@click.group("export")
def export() -> None:
    """Export marts (FOCUS)."""


@export.command("focus")
@click.option("--start", help="Window start; default: first hour in the marts.")
@click.option("--end", help="Window end (exclusive).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output file: .csv or .parquet.")
@_pricebook
@click.pass_context
def focus(ctx: click.Context, start: str | None, end: str | None, out: Path, pricebooks: tuple[Path, ...]) -> None:
    """FOCUS 1.2 rows (x_-prefixed Kubernetes and token extensions) as CSV or Parquet.

    Example: neocost export focus --start 2026-11-01 --end 2026-12-01 --out focus.parquet
    """
    from costmodel.allocate import load_book
    from costmodel.focus import export_focus

    settings = _settings(ctx)
    con = connect(settings.warehouse.path, read_only=True)
    try:
        s, e = _mart_window(con, start, end)
        n = export_focus(con, s, e, out, currency=load_book(settings.costmodel, list(pricebooks)).currency)
    finally:
        con.close()
    click.echo(f"wrote {n:,} FOCUS rows to {out}")

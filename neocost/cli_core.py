"""Core commands: ``init``, ``config show``, ``db migrate`` / ``db status``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from neocost import warehouse
from neocost.cli import CliState
from neocost.settings_example import example_toml


@click.command()
@click.option("--path", type=click.Path(path_type=Path), default=Path("neocost.toml"), show_default=True,
              help="Where to write the example settings file.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented example settings file.

    Every setting is listed with its default and what it means; uncomment what you need.
    Example: neocost init && $EDITOR neocost.toml
    """
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    path.write_text(example_toml())
    click.echo(f"wrote {path}; edit it, then run `neocost config show` to check it")


@click.group()
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@click.pass_obj
def config_show(state: CliState) -> None:
    """Print the effective settings as JSON (secrets masked).

    Example: NEOCOST_PROMETHEUS__URL=http://127.0.0.1:9090 neocost config show
    """
    settings = state.settings()
    click.echo(json.dumps(json.loads(settings.model_dump_json()), indent=2))


@click.group()
def db() -> None:
    """Manage the DuckDB warehouse (migrations, status)."""


@db.command("migrate")
@click.option("--stop-before", default=None, help="Apply migrations up to (not including) this name.")
@click.pass_obj
def db_migrate(state: CliState, stop_before: str | None) -> None:
    """Create the warehouse or apply pending migrations.

    Example: neocost --warehouse neocost.duckdb db migrate
    """
    s = state.settings()
    con = warehouse.connect(s.warehouse.path, migrate=False)
    applied = warehouse.migrate_to_latest(con, stop_before=stop_before)
    con.close()
    click.echo(f"{s.warehouse.path}: applied {', '.join(applied) if applied else 'nothing (up to date)'}")


@db.command("status")
@click.pass_obj
def db_status(state: CliState) -> None:
    """Show applied migrations, watermarks, the last run of each job and row counts per table."""
    s = state.settings()
    con = warehouse.connect(s.warehouse.path, read_only=True)
    click.echo(f"warehouse {s.warehouse.path}")
    click.echo("migrations: " + ", ".join(warehouse.applied_migrations(con)))
    for source, stream, wm in con.execute(
            "SELECT source, stream, watermark FROM meta.watermark ORDER BY 1, 2").fetchall():
        click.echo(f"watermark {source}{'/' + stream if stream else ''}: {wm:%Y-%m-%dT%H:%M:%SZ}")
    for job, status, finished, rows, wend in con.execute(
            "SELECT job, status, coalesce(finished_at, started_at), rows_written, window_end FROM meta.run "
            "QUALIFY row_number() OVER (PARTITION BY job ORDER BY started_at DESC) = 1 ORDER BY job").fetchall():
        click.echo(f"last run {job}: {status} at {finished:%Y-%m-%dT%H:%M:%SZ}, {rows:,d} rows"
                   + (f", data up to {wend:%Y-%m-%dT%H:%M:%SZ}" if wend else ""))
    for table, n in warehouse.table_counts(con).items():
        click.echo(f"{table:40s} {n:>12,d}")
    con.close()

"""The ``neocost`` command.

Commands of the packages above the core (collector, costmodel, drift, ...) are loaded lazily by name, so the
core never imports them at module level and ``neocost --help`` stays fast. Each command is a thin shell:
parse flags, build settings once (:meth:`CliState.settings`), call one library function, format the result.
:func:`main` is the only place that turns a :class:`~neocost.errors.NeocostError` into a message and exit 1.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from neocost import __version__
from neocost.errors import NeocostError
from neocost.settings import Settings, load_settings
from neocost.timeutil import parse_time

# command name -> "module:attribute"; loaded only when the command runs or --help lists it.
LAZY_COMMANDS: dict[str, str] = {
    "init": "neocost.cli_core:init",
    "config": "neocost.cli_core:config",
    "db": "neocost.cli_core:db",
    "simulate": "neocost.simulate.cli:simulate",
    "collect": "collector.cli:collect",
    "cost": "costmodel.cli:cost",
    "report": "costmodel.cli:report",
    "export": "costmodel.cli:export",
    "drift": "drift.cli:drift",
    "demo": "neocost.demo:demo",
}


@dataclass
class CliState:
    """What the top-level options give every command."""

    config: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    debug: bool = False

    def settings(self, **section_overrides: dict[str, Any]) -> Settings:
        """Settings from file + environment + global flags + the command's own flags (highest)."""
        merged: dict[str, Any] = {k: dict(v) for k, v in self.overrides.items()}
        for section, values in section_overrides.items():
            merged.setdefault(section, {}).update(values)
        return load_settings(self.config, merged)


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    return None  # command not built yet; listed nowhere
                raise
            cmd = getattr(module, attr, None)
            return cmd if isinstance(cmd, click.Command) else None
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit=formatter.width - 20)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"],
                                                                  "max_content_width": 110})
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=None,
              help="Settings file (default: $NEOCOST_CONFIG, else ./neocost.toml if present).")
@click.option("--warehouse", type=click.Path(path_type=Path), default=None,
              help="DuckDB warehouse file (default ./neocost.duckdb; setting warehouse.path).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="neocost")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, warehouse: Path | None, debug: bool) -> None:
    """neocost: what your AI workloads on Kubernetes cost, per team, model, inference and 1,000 tokens.

    \b
    Quick start (no cluster needed):
      neocost demo                      simulate a cluster, collect, cost, report
      neocost report --by team,model    spend by tag from the warehouse
    With a real cluster:
      neocost init                      write a commented neocost.toml
      neocost collect --prometheus http://prometheus:9090
      neocost cost && neocost report

    Settings come from --config / $NEOCOST_CONFIG / ./neocost.toml, overridden by NEOCOST_* environment
    variables (e.g. NEOCOST_PROMETHEUS__URL) and by flags.
    """
    overrides: dict[str, Any] = {}
    if warehouse is not None:
        overrides["warehouse"] = {"path": warehouse}
    ctx.obj = CliState(config=config, overrides=overrides, debug=debug)


def time_option(_ctx: click.Context | None, _param: click.Parameter | None, value: str | None) -> datetime | None:
    """Click callback for --start/--end: RFC 3339, a date, unix seconds or now-7d -> naive UTC datetime."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="neocost", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except NeocostError as exc:
        if debug:
            raise
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The CLI shell: help for every command, the core commands, and the error boundary."""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from neocost import __version__, warehouse
from neocost.cli import LAZY_COMMANDS, cli, main


def load_command(name: str) -> click.Command:
    """The command object, or skip when its module has not been written yet."""
    module_name, attr = LAZY_COMMANDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            pytest.skip(f"{module_name} does not exist yet")
        raise
    cmd = getattr(module, attr)
    assert isinstance(cmd, click.Command), f"{LAZY_COMMANDS[name]} is not a click command"
    return cmd


def walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for sub_name, sub in sorted(cmd.commands.items()):
            out += walk(sub, [*path, sub_name])
    return out


def test_top_level_help_lists_options_and_built_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"], catch_exceptions=False)
    assert result.exit_code == 0
    for opt in ("--config", "--warehouse", "--debug", "--version", "--help"):
        assert opt in result.output
    commands = result.output.split("Commands:")[1]
    for name in ("init", "config", "db"):
        assert f"  {name} " in commands
    for name, target in LAZY_COMMANDS.items():
        try:
            importlib.import_module(target.split(":")[0])
        except ModuleNotFoundError:
            assert f"  {name} " not in commands, f"{name} is listed but its module does not exist"


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_every_command_help_lists_its_options(name: str) -> None:
    cmd = load_command(name)
    for path, sub in walk(cmd, [name]):
        result = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: cli {' '.join(path)}" in result.output or f"Usage: neocost {' '.join(path)}" in result.output
        for param in sub.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert any(opt in result.output for opt in param.opts), (path, param.opts)
        assert (sub.help or "").strip(), f"`neocost {' '.join(path)}` has no help text"


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    assert "No such command 'no-such-command'" in capsys.readouterr().err


# --- db ------------------------------------------------------------------------------------------------------

def test_db_migrate_then_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    runner = CliRunner()
    first = runner.invoke(cli, ["--warehouse", str(path), "db", "migrate"], catch_exceptions=False)
    assert first.exit_code == 0
    names = [m.name for m in warehouse.migrations()]
    assert first.output.strip() == f"{path}: applied {', '.join(names)}"
    again = runner.invoke(cli, ["--warehouse", str(path), "db", "migrate"], catch_exceptions=False)
    assert again.output.strip() == f"{path}: applied nothing (up to date)"


def test_db_status_prints_counts_and_watermarks(warehouse_path: Path) -> None:
    con = warehouse.connect(warehouse_path)
    con.execute("CREATE TABLE mart.harness_rows AS SELECT range AS i FROM range(1234)")
    warehouse.set_watermark(con, "prometheus", "usage", datetime(2026, 11, 19, 6))
    con.close()
    result = CliRunner().invoke(cli, ["--warehouse", str(warehouse_path), "db", "status"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"warehouse {warehouse_path}"
    assert lines[1] == "migrations: " + ", ".join(m.name for m in warehouse.migrations())
    assert "watermark prometheus/usage: 2026-11-19T06:00:00Z" in lines
    counts = {ln.split()[0]: ln.split()[1] for ln in lines if ln.split()[0].count(".") == 1 and " " in ln}
    assert counts["mart.harness_rows"] == "1,234"
    assert counts["raw.container_requests"] == "0"


def test_db_status_on_missing_file_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--warehouse", str(tmp_path / "none.duckdb"), "db", "status"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: warehouse") and "does not exist yet" in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from neocost.errors import WarehouseError

    with pytest.raises(WarehouseError):
        main(["--debug", "--warehouse", str(tmp_path / "none.duckdb"), "db", "status"])


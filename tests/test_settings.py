"""Settings: precedence, validation messages, unknown keys, and the `neocost init` example (docs test)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from neocost.cli import cli, main
from neocost.errors import SettingsError
from neocost.settings import Settings, load_settings, parse_duration


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def show(args: list[str], env: dict[str, str] | None = None) -> dict:
    result = CliRunner().invoke(cli, [*args, "config", "show"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# --- precedence: file < env < flag ---------------------------------------------------------------------------

def test_precedence_file_env_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "n.toml", '[warehouse]\npath = "from-file.duckdb"\n[prometheus]\nworkers = 3\n')
    assert show(["--config", str(cfg)])["warehouse"]["path"] == "from-file.duckdb"

    monkeypatch.setenv("NEOCOST_WAREHOUSE__PATH", "from-env.duckdb")
    got = show(["--config", str(cfg)])
    assert got["warehouse"]["path"] == "from-env.duckdb"
    assert got["prometheus"]["workers"] == 3  # the env overrides one key, not the section

    got = show(["--config", str(cfg), "--warehouse", "from-flag.duckdb"])
    assert got["warehouse"]["path"] == "from-flag.duckdb"
    assert got["prometheus"]["workers"] == 3


def test_precedence_in_the_library(tmp_path: Path) -> None:
    cfg = write(tmp_path / "n.toml", '[prometheus]\nurl = "http://file:9090"\nretries = 7\n')
    env = {"NEOCOST_PROMETHEUS__URL": "http://env:9090"}
    assert load_settings(cfg, environ={}).prometheus.url == "http://file:9090"
    assert load_settings(cfg, environ=env).prometheus.url == "http://env:9090"
    s = load_settings(cfg, {"prometheus": {"url": "http://flag:9090", "workers": None}}, environ=env)
    assert (s.prometheus.url, s.prometheus.retries, s.prometheus.workers) == ("http://flag:9090", 7, 2)


def test_config_file_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).prometheus.workers == 2  # no file: defaults
    write(tmp_path / "neocost.toml", "[prometheus]\nworkers = 5\n")
    assert load_settings(environ={}).prometheus.workers == 5
    other = write(tmp_path / "other.toml", "[prometheus]\nworkers = 6\n")
    assert load_settings(environ={"NEOCOST_CONFIG": str(other)}).prometheus.workers == 6
    with pytest.raises(SettingsError, match=r"settings file .*missing\.toml does not exist.*neocost init"):
        load_settings(tmp_path / "missing.toml", environ={})


# --- validation messages -------------------------------------------------------------------------------------

def test_invalid_value_names_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    cfg = write(tmp_path / "n.toml", '[prometheus]\nworkers = 0\n[s3]\naddressing_style = "sideways"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, environ={})
    msg = str(err.value)
    assert str(cfg) in msg
    assert "prometheus.workers = 0" in msg and "greater than or equal to 1" in msg
    assert "NEOCOST_PROMETHEUS__WORKERS" in msg
    assert "s3.addressing_style = 'sideways'" in msg and "'path', 'virtual' or 'auto'" in msg


def test_block_memory_takes_auto_off_or_a_size() -> None:
    for ok in ("auto", "off", "512MB", "4 GiB", "1.5GB"):
        assert load_settings(None, environ={"NEOCOST_WAREHOUSE__BLOCK_MEMORY": ok}).warehouse.block_memory == ok
    with pytest.raises(SettingsError) as err:
        load_settings(None, environ={"NEOCOST_WAREHOUSE__BLOCK_MEMORY": "lots"})
    assert "warehouse.block_memory = 'lots'" in str(err.value) and "'auto', 'off' or a size" in str(err.value)


def test_invalid_env_duration_names_key_value_and_example() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(None, environ={"NEOCOST_PROMETHEUS__RESOLUTION": "5 minutes"})
    msg = str(err.value)
    assert "prometheus.resolution = '5 minutes'" in msg and "use e.g. 30s, 5m, 1h" in msg


def test_invalid_setting_exits_1_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path / "n.toml", "[drift]\nalpha = 2\n")
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(cfg), "config", "show"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: invalid settings") and "drift.alpha = 2" in err and "Traceback" not in err


@pytest.mark.parametrize("toml, key", [
    ('[prometheus]\nurll = "http://x"\n', "prometheus.urll"),
    ('[promethues]\nurl = "http://x"\n', "promethues"),
])
def test_unknown_key_is_rejected(tmp_path: Path, toml: str, key: str) -> None:
    cfg = write(tmp_path / "n.toml", toml)
    with pytest.raises(SettingsError, match=re.escape(f"{key}: unknown setting") + r".*neocost init"):
        load_settings(cfg, environ={})


def test_unknown_env_key_is_rejected() -> None:
    with pytest.raises(SettingsError, match=re.escape("prometheus.urll: unknown setting (value 'x')")):
        load_settings(None, environ={"NEOCOST_PROMETHEUS__URLL": "x"})


def test_not_toml_names_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "n.toml", "[prometheus\n")
    with pytest.raises(SettingsError, match=re.escape(f"{cfg}: not valid TOML")):
        load_settings(cfg, environ={})


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEOCOST_PROMETHEUS__BEARER_TOKEN", "sekrit-token")
    result = CliRunner().invoke(cli, ["config", "show"], catch_exceptions=False)
    assert result.exit_code == 0 and "sekrit-token" not in result.output
    assert json.loads(result.output)["prometheus"]["bearer_token"] == "**********"


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("1w", 604800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "0s", "1.5h", "5 m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- `neocost init` documents every setting ------------------------------------------------------------------

def test_init_writes_toml_documenting_every_setting(tmp_path: Path) -> None:
    path = tmp_path / "neocost.toml"
    result = CliRunner().invoke(cli, ["init", "--path", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert tomllib.loads(text).keys() == Settings.model_fields.keys()  # all sections, everything commented

    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", text, flags=re.M | re.S))
    for name, field in Settings.model_fields.items():
        body = sections[name]
        for key, f in field.annotation.model_fields.items():  # type: ignore[union-attr]
            assert re.search(rf"^# {key} = ", body, flags=re.M), f"{name}.{key} missing from `neocost init`"
            assert f.description and f"# {f.description}" in body, f"{name}.{key} has no description"

    # Uncommenting every key that has a default must give a valid file equal to the defaults.
    uncommented = re.sub(r"^# (\w+ = .*)$", r"\1", text, flags=re.M)
    uncommented = "\n".join(line for line in uncommented.splitlines() if not line.endswith("# unset"))
    parsed = tomllib.loads(uncommented)
    assert Settings(**parsed).model_dump() == Settings().model_dump()

    again = CliRunner().invoke(cli, ["init", "--path", str(path)])
    assert again.exit_code == 1 and "exists; use --force" in again.output

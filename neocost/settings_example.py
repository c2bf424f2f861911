"""The commented example settings file, generated from the settings model so it cannot drift from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from neocost.settings import Settings

_HEADER = """\
# neocost settings. Every key is shown with its default, commented out; uncomment what you change.
# Environment variables override this file: NEOCOST_<SECTION>__<KEY>, e.g. NEOCOST_PROMETHEUS__URL.
# Secrets (tokens, passwords) are best given through the environment, never committed.
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return '""'
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def example_toml() -> str:
    """Every section and key of :class:`Settings`, with its description and default."""
    defaults = Settings()
    out = [_HEADER]
    for section_name, section_field in Settings.model_fields.items():
        section: BaseModel = getattr(defaults, section_name)
        out.append(f"\n[{section_name}]")
        for key, f in type(section).model_fields.items():
            out.append(f"# {f.description}")
            value = getattr(section, key)
            note = "   # unset" if value is None else ""
            out.append(f"# {key} = {_toml_value(value)}{note}")
    return "\n".join(out) + "\n"

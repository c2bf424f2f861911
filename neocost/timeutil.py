"""UTC time helpers: parsing CLI times, the interval grid, RFC 3339 output."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from neocost.settings import parse_duration

_RELATIVE = re.compile(r"^now(?:-(?P<ago>(?:\d+[smhdw])+))?$")


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A naive UTC datetime from RFC 3339 (``2026-11-20T00:00:00Z``), a date, unix seconds, or ``now-7d``."""
    text = text.strip()
    now = now or utcnow()
    m = _RELATIVE.match(text)
    if m:
        return now - timedelta(seconds=parse_duration(m["ago"])) if m["ago"] else now
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC).replace(tzinfo=None)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time; use RFC 3339 (2026-11-20T00:00:00Z), a date (2026-11-20), "
                         "unix seconds, or now-7d") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def floor_time(t: datetime, seconds: int) -> datetime:
    """Round down to the grid of ``seconds`` (aligned to the unix epoch)."""
    epoch = int(t.replace(tzinfo=UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC).replace(tzinfo=None)


def to_unix(t: datetime) -> float:
    return t.replace(tzinfo=UTC).timestamp()


def rfc3339(t: datetime) -> str:
    """``2026-11-20T00:00:00Z`` for a naive UTC datetime."""
    return t.replace(tzinfo=None, microsecond=0).isoformat() + "Z"

"""What one collection run reports back to the CLI summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class CollectResult:
    """Outcome of collecting one source: rows per table, the window, time taken, and what was skipped."""

    source: str                                   # prometheus | kubernetes | s3
    tables: dict[str, int] = field(default_factory=dict)   # table -> rows written
    window_start: datetime | None = None
    window_end: datetime | None = None
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)      # "what: why", one per skipped part
    status: str = "ok"                            # ok | partial | failed

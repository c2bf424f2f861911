"""What one collection run reports back to the CLI summary, and its ``meta.run`` record."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import orjson

from neocost import warehouse

RUN_STATUSES = ("ok", "partial", "failed")  # meta.run.status; "skipped" (source not configured) is not recorded


@dataclass
class CollectResult:
    """Outcome of collecting one source: rows per table, the window, time taken, and what was skipped."""

    source: str                                   # prometheus | kubernetes | s3
    tables: dict[str, int] = field(default_factory=dict)   # table -> rows written
    window_start: datetime | None = None
    window_end: datetime | None = None
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)      # "what: why", one per skipped part
    status: str = "ok"                            # ok | partial | failed | skipped (not configured)
    samples: int = 0                              # Prometheus samples read (0 for the other sources)
    run_id: str = ""                              # the meta.run row, once recorded

    @property
    def rows_written(self) -> int:
        return sum(self.tables.values())


def record_run(con: duckdb.DuckDBPyConnection, result: CollectResult, *, started: datetime, finished: datetime,
               requested: tuple[datetime | None, datetime | None] = (None, None), invocation: str = "",
               after_error: bool = False) -> str:
    """Insert the ``meta.run`` row of one source's collection (job ``collect:<source>``); returns its run id.

    The window columns are what the collector reports (as in the summary: a failed run has no end);
    ``detail`` holds rows per table, what was skipped and why, the requested window and the samples read.
    ``after_error``: the collector raised, so roll back whatever transaction it may have left open first.
    """
    if result.status not in RUN_STATUSES:
        raise ValueError(f"meta.run status must be one of {RUN_STATUSES}, not {result.status!r}")
    if after_error:
        with contextlib.suppress(duckdb.Error):  # "no transaction is active" is the usual, harmless answer
            con.execute("ROLLBACK")
    run_id = uuid.uuid4().hex
    detail: dict[str, Any] = {
        "source": result.source,
        "tables": dict(sorted(result.tables.items())),
        "skipped": list(result.skipped),
        "seconds": round(result.seconds, 3),
        "requested": [t.isoformat() + "Z" if t else None for t in requested],
    }
    if result.samples:
        detail["samples"] = result.samples
    if invocation:
        detail["invocation"] = invocation  # groups the per-source rows of one `neocost collect`
    params = {"run_id": run_id, "job": f"collect:{result.source}", "started_at": started, "finished_at": finished,
              "window_start": result.window_start, "window_end": result.window_end, "status": result.status,
              "rows_written": result.rows_written, "detail": orjson.dumps(detail).decode()}
    with warehouse.transaction(con):
        con.execute(warehouse.read_sql("collector", "meta_run.sql"), params)
    result.run_id = run_id
    return run_id


__all__ = ["RUN_STATUSES", "CollectResult", "record_run"]

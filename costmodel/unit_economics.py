"""Cost per inference and per 1,000 tokens (docs/cost-semantics.md, "Unit economics").

Pure functions over aggregated numbers; :func:`model_rows` reads the marts for a window and any tag, and
:func:`hourly_series` gives the per-hour series (trend / regression view) and rolling windows.

Input/output split: by prefill vs decode time when the server reports both; otherwise an output token weighs
``output_input_weight`` input tokens. The default 4 follows Google's GKE inference recommender (its
``Cost`` type prices output tokens at 4x input by default) and sits between the list-price ratios of hosted
APIs (3-5x), because decode is memory-bound and produces one token per forward pass while prefill processes the
whole prompt in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

BASES = ("usage", "allocation")
ROLLING = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
_TAGS = {"team", "project", "model", "env"}


@dataclass(frozen=True)
class Volume:
    requests: float
    input_tokens: float | None
    output_tokens: float | None
    cached_tokens: float | None
    prefill_seconds: float | None
    decode_seconds: float | None


def input_share(v: Volume, output_input_weight: float = 4.0) -> float | None:
    """Share of the cost that input tokens carry."""
    if v.prefill_seconds and v.decode_seconds and v.prefill_seconds + v.decode_seconds > 0:
        return v.prefill_seconds / (v.prefill_seconds + v.decode_seconds)
    inp, out = v.input_tokens, v.output_tokens
    if inp is None or out is None or inp + output_input_weight * out <= 0:
        return None
    return inp / (inp + output_input_weight * out)


def unit_costs(cost: float, v: Volume, output_input_weight: float = 4.0) -> dict[str, float | None]:
    """Per inference, per 1K tokens (blended, input, output, cached input) for one cost figure."""
    share = input_share(v, output_input_weight)
    inp, out, cached = v.input_tokens, v.output_tokens, v.cached_tokens
    tokens = (inp or 0) + (out or 0) if inp is not None and out is not None else None
    return {
        "cost_per_inference": cost / v.requests if v.requests else None,
        "cost_per_1k_tokens": cost / tokens * 1000 if tokens else None,
        "cost_per_1k_input_tokens": cost * share / inp * 1000 if share is not None and inp else None,
        "cost_per_1k_output_tokens": cost * (1 - share) / out * 1000 if share is not None and out else None,
        "cost_per_1k_cached_input_tokens": (cost * share / (inp - cached) * 1000
                                            if share is not None and inp and cached is not None and inp > cached
                                            else None),
    }


def model_rows(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, by: str = "model",
               output_input_weight: float = 4.0) -> dict[str, dict[str, Any]]:
    """Per value of ``by`` (a tag): volume, cost on both bases and unit costs, including the storage and
    egress attributed to that value."""
    if by not in _TAGS:
        raise ValueError(f"unit economics by {by!r}: use one of {sorted(_TAGS)}")
    vol = con.execute(f"""
        SELECT {by}, sum(requests), sum(errors), sum(input_tokens), sum(output_tokens), sum(cached_tokens),
               sum(prefill_seconds), sum(decode_seconds), mode(server), mode(served_model), mode(team)
        FROM mart.inference_hourly WHERE hour >= ? AND hour < ? GROUP BY 1""", [start, end]).fetchall()
    costs = dict(((r[0], (r[1], r[2], r[3])) for r in con.execute(f"""
        SELECT CASE WHEN kind = 'idle' THEN '__idle__' WHEN is_shared THEN '__shared__' ELSE {by} END,
               sum(usage_cost), 0, sum(gpu_hours)
        FROM mart.cost_hourly WHERE hour >= ? AND hour < ? GROUP BY 1""", [start, end]).fetchall()))
    alloc = dict(con.execute(f"""
        SELECT CASE WHEN kind = 'idle' THEN '__idle__' WHEN is_shared THEN '__shared__' ELSE {by} END,
               sum(allocation_cost)
        FROM mart.cost_hourly WHERE hour >= ? AND hour < ? GROUP BY 1""", [start, end]).fetchall())
    out: dict[str, dict[str, Any]] = {}
    for key, req, err, inp, outp, cached, pre, dec, server, served, team in vol:
        if key in (None, "__unallocated__"):
            continue
        v = Volume(req or 0.0, inp, outp, cached, pre, dec)
        cost = {"usage": costs.get(key, (0.0, 0, 0.0))[0] or 0.0, "allocation": alloc.get(key, 0.0) or 0.0}
        per = {b: unit_costs(cost[b], v, output_input_weight) for b in BASES}
        row: dict[str, Any] = {
            "server": server, "served_name": served, "team": team,
            "requests": int(round(req or 0)), "errors": int(round(err or 0)),
            "input_tokens": None if inp is None else int(round(inp)),
            "output_tokens": None if outp is None else int(round(outp)),
            "cached_tokens": None if cached is None else int(round(cached)),
            "gpu_hours": costs.get(key, (0, 0, 0.0))[2] or 0.0,
            "input_share": input_share(v, output_input_weight),
            "cost": cost,
        }
        for metric in per["usage"]:
            row[metric] = {b: per[b][metric] for b in BASES}
        out[key] = row
    return out


def hourly_series(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, by: str = "model"
                  ) -> list[dict[str, Any]]:
    """Per hour and tag value: cost on both bases, requests, tokens, cost per 1K tokens."""
    if by not in _TAGS:
        raise ValueError(f"series by {by!r}: use one of {sorted(_TAGS)}")
    rows = con.execute(f"""
        WITH c AS (SELECT hour, {by} AS key, sum(usage_cost) AS usage, sum(allocation_cost) AS allocation
                   FROM mart.cost_hourly WHERE hour >= ? AND hour < ? AND kind <> 'idle' AND NOT is_shared
                   GROUP BY 1, 2),
             i AS (SELECT hour, {by} AS key, sum(requests) AS requests,
                          sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) AS tokens
                   FROM mart.inference_hourly WHERE hour >= ? AND hour < ? GROUP BY 1, 2)
        SELECT hour, key, c.usage, c.allocation, i.requests, i.tokens
        FROM i LEFT JOIN c USING (hour, key) ORDER BY hour, key""", [start, end, start, end]).fetchall()
    return [{"hour": h, by: k, "cost_usage": u or 0.0, "cost_allocation": a or 0.0, "requests": r or 0.0,
             "tokens": t or 0.0,
             "cost_per_1k_tokens_usage": (u or 0.0) / t * 1000 if t else None,
             "cost_per_1k_tokens_allocation": (a or 0.0) / t * 1000 if t else None} for h, k, u, a, r, t in rows]


def rolling(con: duckdb.DuckDBPyConnection, end: datetime, by: str = "model", output_input_weight: float = 4.0
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """Unit economics over the last 1 h, 24 h and 7 d before ``end``."""
    return {name: model_rows(con, end - span, end, by, output_input_weight) for name, span in ROLLING.items()}

"""The demo's human-readable report: spend, models, idle GPUs, savings, and the comparison with ground truth."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

TOLERANCES = {"totals.total_cost": 0.005, "cost.*.team": 0.01, "models.*.cost_per_1k_tokens": 0.02,
              "models.*.cost_per_inference": 0.02, "gpu_hours.allocated": 0.005}


def _table(title: str, columns: list[str]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    return t


def _money(x: Any, cur: str = "$") -> str:
    return "—" if x is None else f"{cur}{x:,.2f}"


def _rel(report: Any, truth: Any) -> str:
    if not isinstance(report, (int, float)) or not isinstance(truth, (int, float)) or not truth:
        return "—"
    err = (report - truth) / abs(truth)
    colour = "green" if abs(err) <= 0.01 else "yellow" if abs(err) <= 0.02 else "red"
    return f"[{colour}]{err:+.2%}[/]"


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def render(console: Console, report: dict[str, Any], truth: dict[str, Any], hints: list[Any]) -> None:
    w = report["window"]
    tot, ttot = report["totals"], truth["totals"]
    console.print(f"\n[bold]neocost report[/] {w['start']} → {w['end']} ({w['hours']:.0f} h, {report['currency']})")
    console.print(f"Total cost {_money(tot['total_cost'])} (truth {_money(ttot['total_cost'])}, "
                  f"{_rel(tot['total_cost'], ttot['total_cost'])}): nodes {_money(tot['node_cost'])} of which idle "
                  f"{_money(tot['idle_cost'])}, egress {_money(tot['egress_cost'])}, "
                  f"storage {_money(tot['storage_cost'])}, volumes {_money(tot.get('volume_cost'))}")

    t = _table("Spend by team", ["team", "allocation basis", "usage basis", "vs truth (allocation)"])
    alloc, usage = report["cost"]["allocation"]["team"], report["cost"]["usage"]["team"]
    for team in sorted(set(alloc) | set(usage), key=lambda k: -(alloc.get(k) or usage.get(k) or 0)):
        t.add_row(team, _money(alloc.get(team)), _money(usage.get(team)),
                  _rel(alloc.get(team), _get(truth, "cost", "allocation", "team", team)))
    console.print(t)

    t = _table("Node pools", ["pool", "capacity", "node cost", "idle cost", "GPU-h capacity", "GPU-h allocated"])
    for pool, p in sorted(report["node_pools"].items()):
        t.add_row(pool, str(p.get("capacity_type") or "—"), _money(p.get("node_cost")), _money(p.get("idle_cost")),
                  f"{p.get('gpu_hours_capacity') or 0:,.1f}", f"{p.get('gpu_hours_allocated') or 0:,.1f}")
    console.print(t)

    t = _table("Inference models", ["model", "server", "requests", "tokens", "$/1K inferences (alloc)",
                                    "$/1K tokens (alloc)", "$/1K tokens (usage)", "vs truth"])
    for name, m in sorted(report["models"].items()):
        per_inf = _get(m, "cost_per_inference", "allocation")
        per_tok = _get(m, "cost_per_1k_tokens", "allocation")
        has_tokens = m.get("input_tokens") is not None or m.get("output_tokens") is not None
        tokens = f"{(m.get('input_tokens') or 0) + (m.get('output_tokens') or 0):,}" if has_tokens else "—"
        t.add_row(name, str(m.get("server") or "—"), f"{m.get('requests') or 0:,}", tokens,
                  _money(per_inf * 1000 if per_inf is not None else None), f"${per_tok:.4f}" if per_tok else "—",
                  f"${_get(m, 'cost_per_1k_tokens', 'usage') or 0:.4f}",
                  _rel(per_tok, _get(truth, "models", name, "cost_per_1k_tokens", "allocation")))
    console.print(t)

    gpu = report["by_resource"]["gpu"]
    console.print(f"Idle GPU dollars: {_money(gpu['idle'])} of {_money(gpu['node'])} GPU spend "
                  f"({(gpu['idle'] or 0) / (gpu['node'] or 1):.0%}); GPU-hours allocated "
                  f"{report['gpu_hours']['allocated']:,.1f} of {report['gpu_hours']['capacity']:,.1f}")

    if hints:
        t = _table("Top savings", ["kind", "target", "$ over window", "$ per 30 days", "why"])
        for h in hints[:5]:
            t.add_row(h.kind, h.target, _money(h.dollars), _money(h.dollars_per_30d), h.detail)
        console.print(t)

    drift, tdrift = report.get("drift") or {}, truth.get("drift") or {}
    if drift.get("models"):
        t = _table(f"Embedding drift ({drift.get('window')} windows)", ["model", "state", "detected onset",
                                                                          "true onset"])
        for name in sorted(set(drift["models"]) | set(tdrift.get("models", {}))):
            m = drift["models"].get(name, {})
            t.add_row(name, str(m.get("state") or "—"), str(m.get("onset") or "none"),
                      str(_get(tdrift, "models", name, "onset") or "none"))
        console.print(t)

    render_comparison(console, report, truth)


def render_comparison(console: Console, report: dict[str, Any], truth: dict[str, Any]) -> None:
    from costmodel.compare import compare, worst

    diffs = [d for d in compare(truth, report) if d.rel_error is not None]
    within = sum(1 for d in diffs if d.rel_error <= 0.01)
    console.print(f"\n[bold]Against the simulator's ground truth[/]: {len(diffs)} numbers compared, "
                  f"{within} within 1 %, {sum(1 for d in diffs if d.rel_error <= 0.005)} within 0.5 %.")
    headline = [("total cost", "totals.total_cost"), ("GPU-hours allocated", "gpu_hours.allocated"),
                ("idle cost", "totals.idle_cost")]
    for label, key in headline:
        d = next((d for d in diffs if d.key == key), None)
        if d:
            console.print(f"  {label:<22} report {d.report:,.2f}  truth {d.truth:,.2f}  ({d.rel_error:.3%})")
    bad = [d for d in worst(diffs, n=5) if d.rel_error and d.rel_error > 0.01]
    if bad:
        console.print("  largest differences:")
        for d in bad:
            console.print(f"    {d}")

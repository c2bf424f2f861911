"""Compare a cost-model report with the simulator's truth.json key by key (relative error per number)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SKIP = ("schema", "generator", "drift", "window", "currency")


@dataclass(frozen=True)
class Diff:
    key: str                  # dotted path, e.g. cost.allocation.team.search
    truth: Any
    report: Any
    rel_error: float | None   # |report - truth| / |truth| (None: not numeric or truth is 0)
    abs_error: float | None

    def __str__(self) -> str:
        if self.rel_error is None and self.abs_error is None:
            return f"{self.key}: truth {self.truth!r}, report {self.report!r}"
        rel = "n/a" if self.rel_error is None else f"{self.rel_error:.3%}"
        return f"{self.key}: truth {self.truth}, report {self.report} (rel {rel}, abs {self.abs_error:.6g})"


def compare(truth: dict[str, Any], report: dict[str, Any], skip: tuple[str, ...] = SKIP) -> list[Diff]:
    """One Diff per numeric leaf of ``truth`` (and per key missing or differently typed in ``report``)."""
    out: list[Diff] = []
    _walk(truth, report, "", out, skip)
    return out


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _walk(t: Any, r: Any, path: str, out: list[Diff], skip: tuple[str, ...]) -> None:
    if isinstance(t, dict):
        if not isinstance(r, dict):
            out.append(Diff(path, "{...}", r, None, None))
            return
        for k, v in t.items():
            if not path and k in skip:
                continue
            _walk(v, r.get(k) if k in r else _MISSING, f"{path}.{k}" if path else str(k), out, skip)
        return
    if _num(t):
        if not _num(r):
            out.append(Diff(path, t, None if r is _MISSING else r, None, None))
            return
        err = abs(float(r) - float(t))
        out.append(Diff(path, t, r, err / abs(t) if t else (0.0 if err == 0 else None), err))
    elif t is not None and r is not _MISSING and r != t and not isinstance(t, str):
        out.append(Diff(path, t, r, None, None))


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def worst(diffs: list[Diff], prefix: str = "", n: int = 10) -> list[Diff]:
    """The ``n`` largest relative errors among keys starting with ``prefix`` (missing keys first)."""
    sel = [d for d in diffs if d.key.startswith(prefix)]
    return sorted(sel, key=lambda d: (-(d.rel_error if d.rel_error is not None else float("inf"))))[:n]

"""``python -m bench [name ...]``: run the ``main()`` of every ``bench/bench_*.py`` (or of those named).

Names may be given with or without the ``bench_`` prefix. ``--list`` prints each benchmark's one-line purpose.
Exit code 1 when a benchmark fails (the others still run), 2 for an unknown name.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent


def discover(folder: Path = HERE) -> list[str]:
    """Module names of the benchmarks, sorted: ``bench_foo``, ..."""
    return sorted(p.stem for p in folder.glob("bench_*.py"))


def purpose(name: str, folder: Path = HERE) -> str:
    """First line of a benchmark module's docstring, read without importing it."""
    doc = ast.get_docstring(ast.parse((folder / f"{name}.py").read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else "(no docstring)"


def select(available: list[str], wanted: list[str]) -> list[str]:
    if not wanted:
        return available
    chosen = []
    for w in wanted:
        name = w if w.startswith("bench_") else f"bench_{w}"
        name = name.removesuffix(".py")
        if name not in available:
            raise SystemExit(f"unknown benchmark {w!r}; available: {', '.join(available) or 'none'}")
        chosen.append(name)
    return chosen


def load(name: str, folder: Path) -> ModuleType:
    """Import ``folder/name.py`` as ``bench.<name>`` (so benchmarks can import shared helpers from ``bench``)."""
    spec = importlib.util.spec_from_file_location(f"bench.{name}", folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(names: list[str], console: Console, folder: Path = HERE) -> list[tuple[str, str, float, str]]:
    results = []
    for name in names:
        console.rule(f"[bold]{name}")
        started = time.perf_counter()
        try:
            load(name, folder).main()
            status, detail = "ok", ""
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            status, detail = "FAILED", f"{type(exc).__name__}: {exc}"[:120]
        results.append((name, status, time.perf_counter() - started, detail))
    return results


def main(argv: list[str] | None = None, folder: Path = HERE) -> int:
    args = sys.argv[1:] if argv is None else argv
    console = Console()
    available = discover(folder)
    if "--list" in args:
        for name in available:
            print(f"{name:24s} {purpose(name, folder)}")
        return 0
    try:
        names = select(available, [a for a in args if not a.startswith("-")])
    except SystemExit as exc:
        console.print(f"[red]{exc}")
        return 2
    if not names:
        console.print("no benchmarks found (bench/bench_*.py)")
        return 0
    results = run(names, console, folder)
    table = Table(title="benchmarks")
    for col in ("benchmark", "status", "seconds", "detail"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for name, status, secs, detail in results:
        table.add_row(name, status if status == "ok" else f"[red]{status}", f"{secs:.1f}", detail)
    console.print(table)
    console.print("results: bench/results/<name>.json")
    return 0 if all(r[1] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

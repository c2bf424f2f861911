"""Imports point one way: core <- collector / costmodel / drift <- dashboards / alerts / app.

Only module-level imports are checked: the CLI and `neocost demo` load upper packages lazily inside functions
on purpose, so `import neocost` never drags the whole product in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"neocost": 0, "collector": 1, "costmodel": 1, "drift": 1, "dashboards": 2, "alerts": 2, "app": 2}


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:  # top level only; `if TYPE_CHECKING:` blocks count too
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Import):
                names |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                names.add(n.module.split(".")[0])
            elif isinstance(n, (ast.If, ast.Try)):
                stack.extend(n.body + n.orelse + getattr(n, "handlers", []) + getattr(n, "finalbody", []))
    return names


def _files() -> list[tuple[str, Path]]:
    return [(pkg, f) for pkg in LAYER for f in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("pkg", "path"), _files(), ids=lambda v: str(v).replace(str(ROOT) + "/", ""))
def test_imports_point_down(pkg: str, path: Path) -> None:
    mine = LAYER[pkg]
    bad = sorted(other for other in _module_level_imports(path) & LAYER.keys()
                 if other != pkg and LAYER[other] >= mine)
    assert not bad, f"{path.relative_to(ROOT)} imports {bad} at module level (layer {mine} may only import below)"


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text("import os\nfrom costmodel.report import x\ntry:\n    import drift\nexcept ImportError:\n    pass\n"
                 "def f():\n    import app\n")
    assert _module_level_imports(f) == {"os", "costmodel", "drift"}

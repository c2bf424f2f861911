"""Packaging: the wheel ships every module and data file, works without the source tree, and the top-level
packages resolve to this repository (not to same-named PyPI distributions such as `app`, `drift`, `alerts`)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("neocost", "collector", "costmodel", "drift", "dashboards", "alerts", "app")
DATA_SUFFIXES = (".sql", ".toml", ".json", ".yml", ".yaml")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def source_files(suffixes: tuple[str, ...]) -> set[str]:
    return {p.relative_to(REPO).as_posix() for pkg in PACKAGES for p in (REPO / pkg).rglob("*")
            if p.is_file() and p.suffix in suffixes and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy of the tree, so setuptools' build/ and egg-info never land in the work tree."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, src / pkg, ignore=_IGNORE)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           str(src), "-w", str(out)], capture_output=True, text=True, cwd=src)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [whl] = out.glob("neocost-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_ships_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = source_files(DATA_SUFFIXES)
    assert any(n.startswith("neocost/migrations/") for n in data)
    assert sorted(data - names) == [], "data files missing from the wheel (add an __init__.py to their folder?)"
    modules = source_files((".py",))
    assert sorted(modules - names) == [], "modules missing from the wheel (a folder without __init__.py?)"
    assert "neocost/py.typed" in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "neocost = neocost.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_wheel_works_without_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import neocost, neocost.warehouse as w; print(neocost.__file__); "
            "con = w.connect(':memory:'); print(','.join(w.applied_migrations(con)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    file, applied = proc.stdout.split()
    assert Path(file).is_relative_to(site)
    assert applied.split(",") == sorted(p.stem for p in (REPO / "neocost" / "migrations").glob("*.sql"))


@pytest.mark.slow
def test_top_level_packages_import_from_this_repository(tmp_path: Path) -> None:
    code = "import importlib, sys; [print(importlib.import_module(p).__file__) for p in sys.argv[1:]]"
    proc = subprocess.run([sys.executable, "-c", code, *PACKAGES], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = [Path(line) for line in proc.stdout.split()]
    for pkg, file in zip(PACKAGES, files, strict=True):
        assert file == REPO / pkg / "__init__.py", f"{pkg} imports from {file}, not from {REPO}"
    owners = importlib.metadata.packages_distributions()
    for pkg in PACKAGES:  # a stray `pip install app` would add a second owner
        assert owners.get(pkg, ["neocost"]) == ["neocost"], f"{pkg} is also provided by {owners[pkg]}"


def _dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(specs: list[str]) -> set[str]:
    return {_dist_key(re.split(r"[<>=!~\[;\s(]", s.strip(), maxsplit=1)[0]) for s in specs}


def test_every_third_party_import_is_declared() -> None:
    """A package someone pip-installed by hand and imported would break `make deps` on a fresh machine."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"] + [
        r for extra in project.get("optional-dependencies", {}).values() for r in extra])
    allowed, todo = set(), list(declared)  # the declared ones plus whatever they install
    while todo:
        name = todo.pop()
        if name in allowed:
            continue
        allowed.add(name)
        try:
            todo += _requirement_names(importlib.metadata.requires(name) or [])
        except importlib.metadata.PackageNotFoundError:
            pass
    owners = importlib.metadata.packages_distributions()
    local = {*PACKAGES, "bench", "tests", "conftest"}
    undeclared: dict[str, str] = {}
    for folder in (*PACKAGES, "bench", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for top in {m.split(".")[0] for m in mods} - local - set(sys.stdlib_module_names):
                    dists = {_dist_key(d) for d in owners.get(top, [])}
                    if not dists & allowed:
                        undeclared[top] = str(path.relative_to(REPO))
    assert undeclared == {}, "imported but not in pyproject.toml (nor required by a declared package)"

"""Benchmarks: ``python -m bench [name ...]`` runs every ``bench/bench_*.py`` module's ``main()``.

Each module prints a table (medians of repeated runs, ratios against a baseline measured in the same run) and
writes ``bench/results/<name>.json``. See bench/README.md.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

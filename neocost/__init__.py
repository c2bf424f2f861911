"""neocost core: settings, the DuckDB warehouse, the `neocost` command and the cluster simulator.

Imports point one way: ``neocost`` (core) <- ``collector`` / ``costmodel`` / ``drift`` <- ``dashboards`` /
``alerts`` / ``app``. The core never imports the packages above it at module level; the CLI loads their
commands lazily (see :mod:`neocost.cli`).
"""

__version__ = "0.1.0"

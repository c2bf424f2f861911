"""The exception tree. The CLI prints any :class:`NeocostError` without a traceback (exit 1).

NeocostError
├── SettingsError        invalid settings file, environment variable or flag
├── WarehouseError       the DuckDB file cannot be opened, migrated or written
├── SourceError          a data source could not be read
│   ├── CollectError     a collection window failed (nothing from it was stored)
│   └── InputFormatError malformed input: OpenMetrics, inventory manifest, Parquet, price book, ...
├── PriceError           a price book row is malformed or a capacity type is unknown
├── DriftInputError      embeddings with the wrong dimension, NaN rows, empty windows
└── ServiceError         a local server (Prometheus, Alertmanager, moto, list API) could not start
"""

from __future__ import annotations


class NeocostError(Exception):
    """Base class; the CLI prints these without a traceback."""


class SettingsError(NeocostError):
    """Invalid settings: names the key, the bad value and what is allowed."""


class WarehouseError(NeocostError):
    """The warehouse cannot be opened, migrated or written."""


class SourceError(NeocostError):
    """A data source could not be read."""


class CollectError(SourceError):
    """A source could not be read for a window; nothing from that window was stored."""


class InputFormatError(SourceError):
    """Malformed input file or payload; the message names the file and the fix."""


class PriceError(NeocostError):
    """A price book row is malformed, or a capacity type is unknown."""


class DriftInputError(NeocostError):
    """Embedding input that cannot be scored (wrong dimension, NaN rows, empty window)."""


class ServiceError(NeocostError):
    """A local server could not be found or started."""

"""Reading embedding samples from Parquet on local disk or S3, in record-batch chunks.

Expected columns: ``ts`` (or ``timestamp``; timestamp, UTC), ``model`` (string), optional ``segment`` (string),
``embedding`` (fixed_size_list<float> or list<float>). Rows with a null/NaN/inf/zero embedding or a length
different from the rest of the model's rows are dropped and counted, never silently mixed in.
"""

from __future__ import annotations

import contextlib
import glob
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from neocost.errors import InputFormatError, SourceError
from neocost.settings import S3Settings

TS_COLUMNS = ("ts", "timestamp")


@dataclass(frozen=True)
class Source:
    """One Parquet file: a local path or an S3 object."""

    uri: str
    local: Path | None = None
    bucket: str | None = None
    key: str | None = None


@dataclass
class Batch:
    """A chunk of one file: times (datetime64[us], UTC), model and segment labels, rows (n × d float32)."""

    source: str
    ts: np.ndarray
    model: np.ndarray
    segment: np.ndarray
    embedding: np.ndarray | None   # None when the chunk's embeddings have mixed lengths (see ``lengths``)
    lengths: np.ndarray | None = None
    ragged: list[Any] | None = None


def s3_client(s3: S3Settings) -> Any:
    """A boto3 S3 client with the collector's settings (endpoint, region, addressing style, standard creds)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
                        config=Config(s3={"addressing_style": s3.addressing_style},
                                      retries={"max_attempts": 5, "mode": "standard"}))


def list_sources(spec: str, s3: S3Settings, client: Any = None) -> list[Source]:
    """Parquet files named by ``spec``: a file, a directory (recursively), a glob, or ``s3://bucket/prefix``."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        client = client or s3_client(s3)
        out = []
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out += [Source(f"s3://{bucket}/{o['Key']}", bucket=bucket, key=o["Key"])
                        for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]
        except Exception as exc:  # botocore raises many types; all mean "cannot list"
            raise SourceError(f"cannot list {spec}: {exc}; check drift.embeddings, s3.endpoint_url and the "
                              "AWS credentials (standard chain)") from exc
        return sorted(out, key=lambda s: s.uri)
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if p.endswith(".parquet"))
    if not files:
        raise SourceError(f"no Parquet files at {spec!r}; set drift.embeddings to a directory, a glob or "
                          "s3://bucket/prefix holding <model>/<date>.parquet files")
    return [Source(str(f), local=f) for f in files]


@contextlib.contextmanager
def opened(source: Source, client: Any) -> Iterator[pq.ParquetFile]:
    """A ParquetFile for a local path, or for an S3 object spooled to a temporary file (streamed, not in RAM)."""
    if source.local is not None:
        try:
            yield pq.ParquetFile(source.local)
        except pa.ArrowInvalid as exc:
            raise InputFormatError(f"{source.uri}: not a readable Parquet file ({exc})") from exc
        return
    with tempfile.TemporaryFile() as fh:
        try:
            client.download_fileobj(source.bucket, source.key, fh)
        except Exception as exc:
            raise SourceError(f"cannot read {source.uri}: {exc}") from exc
        fh.seek(0)
        try:
            yield pq.ParquetFile(fh)
        except pa.ArrowInvalid as exc:
            raise InputFormatError(f"{source.uri}: not a readable Parquet file ({exc})") from exc


def read_batches(source: Source, *, client: Any = None, batch_rows: int = 65_536, model: str | None = None,
                 start: datetime | None = None, end: datetime | None = None) -> Iterator[Batch]:
    """Yield chunks of ``source`` filtered to ``model`` and ``[start, end)``."""
    with opened(source, client) as pf:
        names = pf.schema_arrow.names
        ts_col = next((c for c in TS_COLUMNS if c in names), None)
        missing = [c for c, ok in (("ts", ts_col), ("model", "model" in names), ("embedding", "embedding" in names))
                   if not ok]
        if missing:
            raise InputFormatError(f"{source.uri}: missing column(s) {missing}; expected ts (timestamp), model, "
                                   f"embedding (list of floats) and optional segment; found {names}")
        etype = pf.schema_arrow.field("embedding").type
        if not (pa.types.is_fixed_size_list(etype) or pa.types.is_list(etype) or pa.types.is_large_list(etype)) \
                or not pa.types.is_floating(etype.value_type):
            raise InputFormatError(f"{source.uri}: column embedding has type {etype}; expected a fixed-size or "
                                   "variable list of float32/float64")
        cols = [ts_col, "model", "embedding"] + (["segment"] if "segment" in names else [])
        for rb in pf.iter_batches(batch_size=batch_rows, columns=cols):
            yield from _to_batch(source.uri, pa.Table.from_batches([rb]), ts_col, model, start, end)


def _to_batch(uri: str, t: pa.Table, ts_col: str, model: str | None, start: datetime | None,
              end: datetime | None) -> Iterator[Batch]:
    ts = t[ts_col]
    if not pa.types.is_timestamp(ts.type):
        raise InputFormatError(f"{uri}: column {ts_col} has type {ts.type}; expected a timestamp")
    if ts.type.tz is not None:
        ts = pc.cast(ts, pa.timestamp("us", "UTC")).cast(pa.timestamp("us"))
    t = t.set_column(t.schema.get_field_index(ts_col), ts_col, pc.cast(ts, pa.timestamp("us")))
    mask = pc.is_valid(t[ts_col])
    if model is not None:
        mask = pc.and_(mask, pc.equal(t["model"], model))
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(t[ts_col], pa.scalar(start, pa.timestamp("us"))))
    if end is not None:
        mask = pc.and_(mask, pc.less(t[ts_col], pa.scalar(end, pa.timestamp("us"))))
    t = t.filter(mask)
    if t.num_rows == 0:
        return
    seg = (t["segment"].fill_null("").to_numpy(zero_copy_only=False) if "segment" in t.column_names
           else np.full(t.num_rows, "", dtype=object))
    emb = t["embedding"].combine_chunks()
    base = dict(source=uri, ts=t[ts_col].to_numpy(), model=t["model"].fill_null("").to_numpy(zero_copy_only=False),
                segment=seg)
    if pa.types.is_fixed_size_list(emb.type):
        d = emb.type.list_size
        values = emb.flatten() if emb.null_count == 0 else pc.list_flatten(emb.fill_null([np.nan] * d))
        arr = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, d)
        if emb.null_count:
            arr[np.asarray(emb.is_null().to_numpy(zero_copy_only=False))] = np.nan
        yield Batch(embedding=arr, **base)
        return
    lengths = pc.fill_null(pc.list_value_length(emb), 0).to_numpy()
    if len(np.unique(lengths)) == 1 and lengths[0] > 0:
        arr = np.asarray(pc.list_flatten(emb).to_numpy(zero_copy_only=False), dtype=np.float32)
        yield Batch(embedding=arr.reshape(len(lengths), int(lengths[0])), **base)
    else:
        yield Batch(embedding=None, lengths=lengths, ragged=emb.to_pylist(), **base)

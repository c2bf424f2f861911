"""Write S3 Inventory deliveries (manifest.json, manifest.checksum, quoted CSV.gz, Parquet or ORC data files)
in the real layout, for tests and benchmarks. moto never generates inventory, so tests build it with this."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

CSV_SCHEMA = (
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
)


@dataclass(frozen=True)
class Obj:
    key: str
    size: int
    last_modified: datetime  # naive UTC
    storage_class: str = "STANDARD"
    is_latest: bool = True
    is_delete_marker: bool = False
    version_id: str = ""


def checkpoint_objects(snapshot: datetime) -> list[Obj]:
    """The tests' reference bucket, seen by an inventory at ``snapshot``: a stale and a fresh checkpoint, a
    noncurrent version, an old log, a stale checkpoint in another class with a key that needs encoding, a delete
    marker and a small file (6 objects, 4,055 bytes counted)."""
    old = snapshot - timedelta(days=45)
    return [
        Obj("runs/a/checkpoint-100/model.safetensors", 1000, old),  # stale
        Obj("runs/a/checkpoint-200/model.safetensors", 2000, snapshot - timedelta(days=1)),  # fresh
        Obj("runs/a/checkpoint-100/model.safetensors", 700, old - timedelta(days=1), is_latest=False,
            version_id="v0"),  # noncurrent
        Obj("runs/a/logs/train log.txt", 50, old),  # old, not a checkpoint
        Obj("ckpt/b/opt state+1.pt", 300, old, storage_class="STANDARD_IA"),  # stale, encoded key
        Obj("gone.bin", 0, old, is_delete_marker=True, is_latest=True, version_id="dm"),
        Obj("README", 5, old),
    ]


def csv_gz(bucket: str, objects: Iterable[Obj], schema: Sequence[str] = CSV_SCHEMA) -> bytes:
    """One data file as S3 writes it: gzip, no header, every field quoted, keys URL-encoded ('+' = space)."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for o in objects:
        values = {
            "Bucket": bucket,
            "Key": quote_plus(o.key, safe=""),
            "VersionId": o.version_id,
            "IsLatest": str(o.is_latest).lower(),
            "IsDeleteMarker": str(o.is_delete_marker).lower(),
            "Size": "" if o.is_delete_marker else str(o.size),
            "LastModifiedDate": o.last_modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "ETag": hashlib.md5(o.key.encode()).hexdigest(),
            "StorageClass": o.storage_class,
        }
        w.writerow([values.get(c, "") for c in schema])
    return gzip.compress(buf.getvalue().encode(), compresslevel=6, mtime=0)


def _columnar(bucket: str, objects: Iterable[Obj]) -> Any:
    import pyarrow as pa

    objs = list(objects)
    return pa.table(
        {
            "bucket": [bucket] * len(objs),
            "key": [o.key for o in objs],
            "version_id": pa.array([o.version_id or None for o in objs], pa.string()),
            "is_latest": [o.is_latest for o in objs],
            "is_delete_marker": [o.is_delete_marker for o in objs],
            "size": pa.array([None if o.is_delete_marker else o.size for o in objs], pa.int64()),
            "last_modified_date": pa.array([o.last_modified for o in objs], pa.timestamp("ms", tz="UTC")),
            "storage_class": [o.storage_class for o in objs],
        }
    )


def parquet_bytes(bucket: str, objects: Iterable[Obj]) -> bytes:
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(_columnar(bucket, objects), out)
    return out.getvalue()


def orc_bytes(bucket: str, objects: Iterable[Obj]) -> bytes:
    """One ORC data file with the Parquet file's columns (S3 writes the same snake_case names in both)."""
    import pyarrow.orc as orc

    out = io.BytesIO()
    orc.write_table(_columnar(bucket, objects), out)
    return out.getvalue()


PARQUET_SCHEMA = (
    "message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
    "optional binary version_id (STRING); optional boolean is_latest; optional boolean "
    "is_delete_marker; optional int64 size; optional int64 last_modified_date "
    "(TIMESTAMP(MILLIS,true)); optional binary storage_class (STRING);}"
)
ORC_SCHEMA = (
    "struct<bucket:string,key:string,version_id:string,is_latest:boolean,is_delete_marker:boolean,"
    "size:bigint,last_modified_date:timestamp,storage_class:string>"
)
SCHEMAS = {"CSV": ", ".join(CSV_SCHEMA), "Parquet": PARQUET_SCHEMA, "ORC": ORC_SCHEMA}


def delivery(
    dest_bucket: str,
    prefix: str,
    source_bucket: str,
    config_id: str,
    created: datetime,
    parts: Sequence[Iterable[Obj]],
    *,
    file_format: str = "CSV",
) -> dict[str, bytes]:
    """{key: body} of one inventory delivery: data files, manifest.json and manifest.checksum."""
    base = (
        f"{prefix.strip('/')}/{source_bucket}/{config_id}"
        if prefix.strip("/")
        else f"{source_bucket}/{config_id}"
    )
    out: dict[str, bytes] = {}
    files: list[dict[str, Any]] = []
    for objs in parts:
        if file_format == "CSV":
            body, ext = csv_gz(source_bucket, objs), "csv.gz"
        elif file_format == "ORC":
            body, ext = orc_bytes(source_bucket, objs), "orc"
        else:
            body, ext = parquet_bytes(source_bucket, objs), "parquet"
        key = f"{base}/data/{uuid.uuid4()}.{ext}"
        out[key] = body
        files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    stamp = created.strftime("%Y-%m-%dT%H-%MZ")
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{dest_bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(created.replace(tzinfo=UTC).timestamp() * 1000)),
        "fileFormat": file_format,
        "fileSchema": SCHEMAS[file_format],
        "files": files,
    }
    body = json.dumps(manifest, indent=2).encode()
    out[f"{base}/{stamp}/manifest.json"] = body
    out[f"{base}/{stamp}/manifest.checksum"] = hashlib.md5(body).hexdigest().encode()
    return out


def write_local(root: Path, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def upload(client: Any, bucket: str, files: dict[str, bytes]) -> None:
    for key, body in files.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


__all__ = ["CSV_SCHEMA", "ORC_SCHEMA", "Obj", "csv_gz", "delivery", "orc_bytes", "parquet_bytes", "upload",
           "write_local"]

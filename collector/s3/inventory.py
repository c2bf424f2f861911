"""S3 Inventory reports: find the newest manifest per configuration, verify it, fetch and verify its data
files.

Layout (AWS docs, storage-inventory-location)::

    <prefix>/<src-bucket>/<config-id>/YYYY-MM-DDTHH-MMZ/manifest.json   (+ manifest.checksum = MD5 of it)
    <prefix>/<src-bucket>/<config-id>/data/<uuid>.csv.gz | .parquet | .orc

Parsing (:func:`parse_manifest`, :func:`parse_file_schema`) is pure. Data files are downloaded to a local
directory while their MD5 is computed in the same pass, then DuckDB reads them (it has no httpfs here).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from neocost.errors import InputFormatError

_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$")
_SKIP_DIRS = {"data", "hive"}

# CSV fileSchema names -> the snake_case names ORC and Parquet use (and the reader's canonical names).
FIELDS: dict[str, str] = {
    "Bucket": "bucket",
    "Key": "key",
    "VersionId": "version_id",
    "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker",
    "Size": "size",
    "LastModifiedDate": "last_modified_date",
    "ETag": "e_tag",
    "StorageClass": "storage_class",
    "IsMultipartUploaded": "is_multipart_uploaded",
    "ReplicationStatus": "replication_status",
    "EncryptionStatus": "encryption_status",
    "ObjectLockRetainUntilDate": "object_lock_retain_until_date",
    "ObjectLockMode": "object_lock_mode",
    "ObjectLockLegalHoldStatus": "object_lock_legal_hold_status",
    "IntelligentTieringAccessTier": "intelligent_tiering_access_tier",
    "BucketKeyStatus": "bucket_key_status",
    "ChecksumAlgorithm": "checksum_algorithm",
    "ObjectAccessControlList": "object_access_control_list",
    "ObjectOwner": "object_owner",
    "LifecycleExpirationDate": "lifecycle_expiration_date",
}
REQUIRED = ("bucket", "key", "size")
FORMATS = ("CSV", "Parquet", "ORC")


@dataclass(frozen=True)
class DataFile:
    key: str
    size: int | None
    md5: str


@dataclass(frozen=True)
class Manifest:
    key: str  # s3 key of manifest.json in the destination bucket
    source_bucket: str
    config_id: str
    created: datetime  # naive UTC, from creationTimestamp (epoch ms)
    file_format: str  # CSV | Parquet | ORC
    columns: tuple[str, ...]  # canonical snake_case names, in file order
    files: tuple[DataFile, ...]


def parse_file_schema(file_format: str, schema: str, where: str) -> tuple[str, ...]:
    """Canonical column names from ``fileSchema``: a comma-space list (CSV), a Parquet ``message`` or an ORC
    ``struct<...>``. An unknown field is an error: mapping it by guesswork could shift every column."""
    if file_format == "CSV":
        names = [n.strip() for n in schema.split(",") if n.strip()]
        unknown = [n for n in names if n not in FIELDS]
        canon = [FIELDS.get(n, n) for n in names]
    else:
        if file_format == "Parquet":
            names = re.findall(r"(?:required|optional|repeated)\s+\w+\s+(\w+)", schema)
        else:
            body = schema.strip()
            body = body[body.find("<") + 1 : body.rfind(">")] if "<" in body else body
            names = [part.split(":", 1)[0].strip() for part in body.split(",") if part.strip()]
        known = set(FIELDS.values())
        unknown = [n for n in names if n not in known]
        canon = names
    if unknown:
        raise InputFormatError(
            f"{where}: unknown inventory field(s) {unknown} in fileSchema; known fields are "
            f"{sorted(FIELDS)} (ORC/Parquet: their snake_case) — is this an S3 Inventory manifest?"
        )
    missing = [n for n in REQUIRED if n not in canon]
    if missing:
        raise InputFormatError(
            f"{where}: fileSchema lacks {missing}; add Size to the inventory configuration's "
            "optional fields so storage can be measured"
        )
    return tuple(canon)


def parse_manifest(body: bytes, key: str, config_id: str | None = None) -> Manifest:
    """A ``manifest.json`` body -> :class:`Manifest`; ``key`` names it in messages and gives the config id."""
    try:
        doc: dict[str, Any] = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputFormatError(f"{key}: manifest is not valid JSON ({exc})") from None
    for field in ("sourceBucket", "creationTimestamp", "fileFormat", "fileSchema", "files"):
        if field not in doc:
            raise InputFormatError(
                f"{key}: manifest has no {field!r}; expected an S3 Inventory manifest.json"
            )
    fmt = {f.lower(): f for f in FORMATS}.get(str(doc["fileFormat"]).lower())
    if fmt is None:
        raise InputFormatError(f"{key}: fileFormat {doc['fileFormat']!r} is not one of {list(FORMATS)}")
    try:
        created = datetime.fromtimestamp(int(doc["creationTimestamp"]) / 1000, UTC).replace(tzinfo=None)
    except (TypeError, ValueError):
        raise InputFormatError(
            f"{key}: creationTimestamp {doc['creationTimestamp']!r} is not epoch milliseconds"
        ) from None
    files = []
    for i, f in enumerate(doc["files"]):
        if not f.get("key") or not f.get("MD5checksum"):
            raise InputFormatError(f"{key}: files[{i}] needs 'key' and 'MD5checksum'")
        files.append(
            DataFile(
                f["key"], int(f["size"]) if f.get("size") is not None else None, str(f["MD5checksum"]).lower()
            )
        )
    parts = key.split("/")
    return Manifest(
        key=key,
        source_bucket=doc["sourceBucket"],
        config_id=config_id or (parts[-3] if len(parts) >= 3 else ""),
        created=created,
        file_format=fmt,
        columns=parse_file_schema(fmt, str(doc["fileSchema"]), key),
        files=tuple(files),
    )


def verify_manifest_checksum(body: bytes, checksum_text: str, key: str) -> None:
    """``manifest.checksum`` holds the hex MD5 of ``manifest.json``."""
    expected = checksum_text.strip().split()[0].lower() if checksum_text.strip() else ""
    actual = hashlib.md5(body).hexdigest()
    if expected != actual:
        raise InputFormatError(
            f"{key}: MD5 {actual} does not match manifest.checksum ({expected or 'empty'}); "
            "the manifest is corrupt or was replaced mid-write — nothing from this report "
            "was stored; re-run after the next inventory delivery"
        )


def find_manifests(client: Any, bucket: str, prefix: str = "", max_depth: int = 4) -> list[str]:
    """The newest ``manifest.json`` key of every inventory configuration under ``s3://bucket/prefix``.

    Walks common prefixes (``Delimiter='/'``) and skips ``data/`` and ``hive/``, so the cost does not grow
    with the number of data files. A folder whose children are timestamps is a configuration.
    """
    start = prefix.strip("/") + "/" if prefix.strip("/") else ""
    found: list[str] = []
    todo = [(start, 0)]
    while todo:
        folder, depth = todo.pop()
        children = _common_prefixes(client, bucket, folder)
        stamps = sorted(c for c in children if _STAMP.match(c[len(folder) :].rstrip("/")))
        if stamps:
            for stamp in reversed(stamps):  # newest first; skip a delivery still being written
                key = stamp + "manifest.json"
                if _exists(client, bucket, key):
                    found.append(key)
                    break
            continue
        if depth < max_depth:
            todo += [(c, depth + 1) for c in children if c[len(folder) :].rstrip("/") not in _SKIP_DIRS]
    return sorted(found)


def _common_prefixes(client: Any, bucket: str, prefix: str) -> list[str]:
    out: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        out += [p["Prefix"] for p in page.get("CommonPrefixes") or []]
    return out


def _exists(client: Any, bucket: str, key: str) -> bool:
    resp = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(o["Key"] == key for o in resp.get("Contents") or [])


def load_manifest(client: Any, bucket: str, key: str) -> Manifest:
    """Read ``manifest.json`` and ``manifest.checksum`` next to it, verify, parse."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    checksum_key = key.rsplit("/", 1)[0] + "/manifest.checksum"
    try:
        checksum = client.get_object(Bucket=bucket, Key=checksum_key)["Body"].read().decode()
    except client.exceptions.NoSuchKey:
        raise InputFormatError(
            f"s3://{bucket}/{checksum_key} is missing; the inventory delivery is incomplete "
            "(manifest.checksum is written last) — try again later"
        ) from None
    verify_manifest_checksum(body, checksum, f"s3://{bucket}/{key}")
    return parse_manifest(body, f"s3://{bucket}/{key}", key.split("/")[-3] if key.count("/") >= 2 else None)


def download_verified(
    client: Any, bucket: str, manifest: Manifest, workdir: Path, chunk_size: int = 1 << 20
) -> list[Path]:
    """Download every data file to ``workdir``, checking each MD5 (and size) in the same pass."""
    paths = []
    for i, f in enumerate(manifest.files):
        suffix = "".join(Path(f.key).suffixes[-2:]) or ".dat"
        path = workdir / f"part-{i:05d}{suffix}"
        digest = hashlib.md5()
        size = 0
        try:
            body = client.get_object(Bucket=bucket, Key=f.key)["Body"]
        except client.exceptions.NoSuchKey:
            raise InputFormatError(
                f"s3://{bucket}/{f.key} (listed in {manifest.key}) does not exist"
            ) from None
        with path.open("wb") as out:
            for chunk in body.iter_chunks(chunk_size):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if digest.hexdigest() != f.md5:
            raise InputFormatError(
                f"s3://{bucket}/{f.key}: MD5 {digest.hexdigest()} does not match the manifest's "
                f"MD5checksum {f.md5} ({manifest.key}); the file is corrupt or truncated — "
                "nothing from this report was stored"
            )
        if f.size is not None and size != f.size:
            raise InputFormatError(f"s3://{bucket}/{f.key}: {size} bytes, the manifest says {f.size}")
        paths.append(path)
    return paths


__all__ = [
    "FIELDS",
    "DataFile",
    "Manifest",
    "download_verified",
    "find_manifests",
    "load_manifest",
    "parse_file_schema",
    "parse_manifest",
    "verify_manifest_checksum",
]

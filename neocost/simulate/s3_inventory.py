"""S3 Inventory reports for the simulated buckets, in the real layout (manifest.json + checksum + data files).

CSV data files: gzip, no header, every field double-quoted, keys URL-encoded (``quote(key, safe="/")``).
One bucket (model artifacts) uses the Parquet format (snake_case columns, keys not encoded).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import uuid as uuidlib
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

DEST = "neocost-inventory"
PREFIX = "inventory"
CONFIG_ID = "daily-full"
STALE_DAYS = 30
CSV_SCHEMA_VERSIONED = ("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, "
                        "StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, "
                        "ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, "
                        "IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm")
CSV_SCHEMA_PLAIN = ("Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, "
                    "EncryptionStatus, BucketKeyStatus, ChecksumAlgorithm")
PARQUET_SCHEMA = ("message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
                  "optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); "
                  "optional binary e_tag (STRING); optional binary storage_class (STRING); "
                  "optional boolean is_multipart_uploaded; optional binary encryption_status (STRING); }")
GB = 10**9


def _buckets(scale: str) -> list[dict]:
    k = {"small": 1, "medium": 5, "large": 28}[scale]
    return [
        {"name": "acme-ml-checkpoints", "tags": {"team": "ml-research", "project": "foundation"}, "versioning": True,
         "format": "CSV", "scale": k},
        {"name": "acme-training-datasets", "tags": {"team": "data-eng", "project": "feature-store", "env": "prod"},
         "versioning": False, "format": "CSV", "scale": k},
        {"name": "acme-model-artifacts", "tags": {"team": "search", "project": "rag-search", "model": "llama-3-8b",
                                                  "env": "prod"},
         "versioning": False, "format": "Parquet", "scale": k},
        {"name": "acme-scratch", "tags": {}, "versioning": False, "format": "CSV", "scale": k},
    ]


def _objects(b: dict, snap: datetime, rng: np.random.Generator) -> list[dict]:
    """Rows: key, version, latest, delete_marker, size, modified, class."""
    rows: list[dict] = []
    k = b["scale"]

    def add(key, size, modified, cls="STANDARD", version="", latest=True, marker=False):
        rows.append({"key": key, "version": version, "latest": latest, "marker": marker, "size": int(size),
                     "modified": modified, "class": cls})

    if b["name"] == "acme-ml-checkpoints":
        for run in range(2 * k):
            name = "llm-pretrain-7b" if run == 0 else f"llm-pretrain-7b-r{run}"
            for ck in range(24):  # one every ~2.5 days, the oldest ~60 days back
                age = timedelta(hours=60 * (24 - ck) - 12)
                step = 1000 * (ck + 1)
                for shard in range(8):
                    key = f"checkpoints/{name}/step-{step:07d}/model-{shard + 1:05d}-of-00008.safetensors"
                    add(key, rng.integers(17, 19) * GB + rng.integers(0, GB), snap - age,
                        version=uuidlib.UUID(bytes=rng.bytes(16)).hex)
                add(f"checkpoints/{name}/step-{step:07d}/optimizer.pt", rng.integers(90, 100) * GB, snap - age,
                    version=uuidlib.UUID(bytes=rng.bytes(16)).hex)
            # `latest` pointer overwritten at every checkpoint: noncurrent versions pile up
            for v in range(24):
                add(f"checkpoints/{name}/latest/model.safetensors", 17 * GB + v, snap - timedelta(hours=60 * (24 - v)),
                    version=uuidlib.UUID(bytes=rng.bytes(16)).hex, latest=(v == 23))
        add("checkpoints/llm-pretrain-7b/tmp/partial upload.pt", 0, snap - timedelta(days=3),
            version=uuidlib.UUID(bytes=rng.bytes(16)).hex, marker=True)
        add("checkpoints/llm-pretrain-7b/tmp/partial upload.pt", 42 * GB, snap - timedelta(days=4),
            version=uuidlib.UUID(bytes=rng.bytes(16)).hex, latest=False)
    elif b["name"] == "acme-training-datasets":
        for i in range(120 * k):
            add(f"datasets/web-crawl/2026/part-{i:05d}.parquet", rng.integers(2, 6) * GB, snap - timedelta(days=40))
        for i in range(30):
            add(f"datasets/raw/customer reviews/part {i:04d}.jsonl.gz", rng.integers(1, 3) * GB,
                snap - timedelta(days=12), cls="STANDARD_IA")
        for i, lang in enumerate(["日本語", "français/données", "español/niño", "Deutsch/Größe"]):
            add(f"datasets/multilingual/{lang}/shard {i:03d}.arrow", rng.integers(20, 60) * GB,
                snap - timedelta(days=5))
        add("datasets/README (copy).md", 4096, snap - timedelta(days=90))
    elif b["name"] == "acme-model-artifacts":
        for model, size in (("llama-3-8b", 16), ("llama-3-70b", 141), ("phi-3-mini", 8), ("bge-large", 1)):
            for rev in range(3 * k):
                add(f"models/{model}/rev-{rev:03d}/weights.safetensors", size * GB + rng.integers(0, GB),
                    snap - timedelta(days=10 * rev + 1), cls="ENHANCED_THROUGHPUT")
    else:
        for i in range(50 * k):
            add(f"tmp/user-{i % 7}/experiment {i}.tar", rng.integers(1, 50) * GB // 10, snap - timedelta(days=i % 45))
    return rows


def _etag(row: dict) -> str:
    return hashlib.md5(row["key"].encode() + str(row["size"]).encode()).hexdigest()


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _csv_bytes(bucket: str, rows: list[dict], versioned: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for r in rows:
        common = [_iso(r["modified"]), "" if r["marker"] else _etag(r), "" if r["marker"] else r["class"],
                  "true" if r["size"] > 5 * GB else "false"]
        size = "" if r["marker"] else str(r["size"])
        if versioned:
            w.writerow([bucket, quote(r["key"], safe="/"), r["version"], str(r["latest"]).lower(),
                        str(r["marker"]).lower(), size, *common, "", "SSE-S3", "", "", "", "", "DISABLED", ""])
        else:
            w.writerow([bucket, quote(r["key"], safe="/"), size, *common, "", "SSE-S3", "DISABLED", ""])
    return gzip.compress(buf.getvalue().encode(), mtime=0)


def _parquet_bytes(bucket: str, rows: list[dict]) -> bytes:
    table = pa.table({
        "bucket": pa.array([bucket] * len(rows)), "key": pa.array([r["key"] for r in rows]),
        "size": pa.array([r["size"] for r in rows], pa.int64()),
        "last_modified_date": pa.array([r["modified"].replace(tzinfo=UTC) for r in rows], pa.timestamp("ms", "UTC")),
        "e_tag": pa.array([_etag(r) for r in rows]), "storage_class": pa.array([r["class"] for r in rows]),
        "is_multipart_uploaded": pa.array([r["size"] > 5 * GB for r in rows]),
        "encryption_status": pa.array(["SSE-S3"] * len(rows))})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def write_s3(out: Path, *, end: datetime, seed: int, scale: str = "small") -> list[dict]:
    """Write ``buckets.json`` and ``objects/`` (two daily snapshots per bucket); return the newest per bucket."""
    objects = out / "objects"
    summary = []
    specs = _buckets(scale)
    for b in specs:
        newest = None
        for days_back in (2, 1):
            snap = end - timedelta(days=days_back) + timedelta(hours=1)
            rng = np.random.default_rng([seed, days_back, zlib.crc32(b["name"].encode())])
            rows = _objects(b, snap, rng)
            if days_back == 2:  # the older snapshot misses the newest objects
                rows = [r for r in rows if r["modified"] < snap - timedelta(days=1)]
            _write_snapshot(objects, b, snap, rows, rng)
            newest = (snap, rows)
        snap, rows = newest
        by_class: dict[str, int] = {}
        for r in rows:
            if not r["marker"]:
                by_class[r["class"]] = by_class.get(r["class"], 0) + r["size"]
        stale_limit = snap - timedelta(days=STALE_DAYS)
        summary.append({
            "name": b["name"], "tags": b["tags"], "bytes": sum(by_class.values()), "bytes_by_class": by_class,
            "noncurrent_bytes": sum(r["size"] for r in rows if not r["latest"]),
            "stale_bytes": sum(r["size"] for r in rows if r["latest"] and not r["marker"]
                               and "checkpoints/" in r["key"] and r["modified"] < stale_limit),
            "snapshot_at": snap.strftime("%Y-%m-%dT%H:%M:%SZ"), "objects": len(rows)})
    meta = [{"name": b["name"], "tags": b["tags"], "versioning": b["versioning"]} for b in specs]
    meta.append({"name": DEST, "tags": {"team": "platform"}, "versioning": False})
    out.mkdir(parents=True, exist_ok=True)
    (out / "buckets.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return summary


def _write_snapshot(objects: Path, b: dict, snap: datetime, rows: list[dict], rng: np.random.Generator) -> None:
    base = f"{PREFIX}/{b['name']}/{CONFIG_ID}"
    order = rng.permutation(len(rows))  # inventory rows are unsorted
    rows = [rows[i] for i in order]
    parts = [rows[: len(rows) // 2], rows[len(rows) // 2:]] if len(rows) > 200 else [rows]
    files = []
    for part in parts:
        fid = uuidlib.UUID(bytes=rng.bytes(16), version=4)
        if b["format"] == "CSV":
            data, key = _csv_bytes(b["name"], part, b["versioning"]), f"{base}/data/{fid}.csv.gz"
        else:
            data, key = _parquet_bytes(b["name"], part), f"{base}/data/{fid}.parquet"
        path = objects / DEST / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append({"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})
    schema = (PARQUET_SCHEMA if b["format"] == "Parquet" else
              CSV_SCHEMA_VERSIONED if b["versioning"] else CSV_SCHEMA_PLAIN)
    manifest = {"sourceBucket": b["name"], "destinationBucket": f"arn:aws:s3:::{DEST}", "version": "2016-11-30",
                "creationTimestamp": str(int(snap.replace(tzinfo=UTC).timestamp() * 1000)),
                "fileFormat": b["format"], "fileSchema": schema, "files": files}
    mdir = objects / DEST / base / snap.strftime("%Y-%m-%dT%H-%MZ")
    mdir.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    (mdir / "manifest.json").write_bytes(body)
    (mdir / "manifest.checksum").write_text(hashlib.md5(body).hexdigest())
    hive = objects / DEST / base / "hive" / f"dt={snap.strftime('%Y-%m-%d-%H-%M')}"
    hive.mkdir(parents=True, exist_ok=True)
    (hive / "symlink.txt").write_text("".join(f"s3://{DEST}/{f['key']}\n" for f in files))

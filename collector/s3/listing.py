"""Fallback for stores without S3 Inventory (Nebius Object Storage, MinIO, Ceph RGW): ListObjectsV2, or
ListObjectVersions when the bucket is versioned, page by page as Arrow batches (1 000 keys each), so the
aggregation in DuckDB never needs the whole bucket in Python."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError

from collector.s3.reader import OBJECTS_SCHEMA
from neocost.errors import CollectError

PageCallback = Callable[[str, int], None]  # (bucket, objects so far)


def is_versioned(client: Any, bucket: str) -> bool:
    """True when versioning is or was enabled (Suspended buckets keep their noncurrent versions)."""
    status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    return status in ("Enabled", "Suspended")


def _naive(t: datetime | None) -> datetime | None:
    return t.astimezone(UTC).replace(tzinfo=None) if t is not None and t.tzinfo else t


def objects_page(contents: list[dict[str, Any]]) -> pa.RecordBatch:
    """A ListObjectsV2 ``Contents`` page -> one batch (every listed object is the current version)."""
    return pa.RecordBatch.from_pydict(
        {
            "key": [o["Key"] for o in contents],
            "size": [int(o.get("Size", 0)) for o in contents],
            "last_modified": [_naive(o.get("LastModified")) for o in contents],
            "storage_class": [o.get("StorageClass") or "STANDARD" for o in contents],
            "is_latest": [True] * len(contents),
            "is_delete_marker": [False] * len(contents),
        },
        schema=OBJECTS_SCHEMA,
    )


def versions_page(versions: list[dict[str, Any]], markers: list[dict[str, Any]]) -> pa.RecordBatch:
    """A ListObjectVersions page (``Versions`` + ``DeleteMarkers``) -> one batch."""
    rows = [(v, False) for v in versions] + [(m, True) for m in markers]
    return pa.RecordBatch.from_pydict(
        {
            "key": [v["Key"] for v, _ in rows],
            "size": [int(v.get("Size", 0)) if not dm else 0 for v, dm in rows],
            "last_modified": [_naive(v.get("LastModified")) for v, _ in rows],
            "storage_class": [v.get("StorageClass") or "STANDARD" for v, _ in rows],
            "is_latest": [bool(v.get("IsLatest")) for v, _ in rows],
            "is_delete_marker": [dm for _, dm in rows],
        },
        schema=OBJECTS_SCHEMA,
    )


def list_batches(
    client: Any, bucket: str, *, versions: bool, page_size: int = 1000, on_page: PageCallback | None = None
) -> Iterator[pa.RecordBatch]:
    """Yield one Arrow batch per listing page of ``bucket``."""
    seen = 0
    try:
        if versions:
            pages = client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": page_size}
            )
            for page in pages:
                batch = versions_page(page.get("Versions") or [], page.get("DeleteMarkers") or [])
                seen += batch.num_rows
                if on_page:
                    on_page(bucket, seen)
                yield batch
        else:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": page_size}
            )
            for page in pages:
                batch = objects_page(page.get("Contents") or [])
                seen += batch.num_rows
                if on_page:
                    on_page(bucket, seen)
                yield batch
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise CollectError(
            f"s3: listing bucket {bucket!r} failed ({code}): {exc}; check s3.buckets, "
            "s3.endpoint_url and that the credentials may s3:ListBucket"
            + (" and s3:ListBucketVersions" if versions else "")
        ) from exc


__all__ = ["is_versioned", "list_batches", "objects_page", "versions_page"]

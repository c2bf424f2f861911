"""``collect_s3``: inventory reports (or listings) -> raw.s3_snapshot, raw.s3_storage, raw.s3_bucket_tags.

One snapshot per source bucket and run: the newest inventory report (over all of the bucket's inventory
configurations), else a listing of the buckets in ``s3.buckets`` that no inventory covers. A report is
written in one transaction only after its manifest checksum and every data file's MD5 verified and the
files parsed; a rejected report stores nothing and the previous snapshot stays. Rejections are collected
and raised together at the end (as :class:`CollectError`) after the good reports were stored.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError

from collector.result import CollectResult
from collector.s3 import inventory, listing, reader
from collector.s3.client import build_s3_client
from neocost.errors import CollectError, InputFormatError
from neocost.settings import S3Settings, Settings
from neocost.timeutil import utcnow
from neocost.warehouse import transaction

Progress = Callable[[dict[str, Any]], None]
"""``progress(event)``, e.g. ``{"event": "list", "source": "s3", "bucket": "ckpt", "done": 12000}`` after
each listing page and ``{"event": "inventory", "source": "s3", "bucket": ..., "done": objects}`` per
stored report."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix)."""
    if not url.startswith("s3://") or len(url) <= 5:
        raise CollectError(f"s3.inventory entry {url!r} must look like s3://destination-bucket/prefix")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix


def collect_s3(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    *,
    progress: Progress | None = None,
    client: Any = None,
    now: datetime | None = None,
) -> CollectResult:
    """Collect storage facts for every configured inventory destination and listed bucket.

    ``client`` and ``now`` are for tests (default: built from ``settings.s3``; the current UTC time).
    """
    started = time.perf_counter()
    s3 = settings.s3
    client = client or build_s3_client(s3)
    now = (now or utcnow()).replace(microsecond=0)
    result = CollectResult(source="s3", window_start=now, window_end=now)
    failures: list[str] = []
    covered: set[str] = set()

    def note(event: str, bucket: str, n: int) -> None:
        if progress is not None:
            progress({"event": event, "source": "s3", "bucket": bucket, "done": n})

    for dest in s3.inventory:
        dest_bucket, prefix = parse_s3_url(dest)
        manifests: list[inventory.Manifest] = []
        for key in inventory.find_manifests(client, dest_bucket, prefix):
            try:
                manifests.append(inventory.load_manifest(client, dest_bucket, key))
            except InputFormatError as exc:
                failures.append(str(exc))
        if not manifests and not failures:
            result.skipped.append(f"{dest}: no inventory manifest found (YYYY-MM-DDTHH-MMZ/manifest.json)")
        for m in newest_per_bucket(manifests, result.skipped):
            covered.add(m.source_bucket)
            try:
                rows = _read_report(con, client, dest_bucket, m, s3)
            except InputFormatError as exc:
                failures.append(str(exc))
                continue
            _store(
                con,
                result,
                m.source_bucket,
                m.created,
                rows,
                now,
                _tags(client, m.source_bucket, result),
                method="inventory",
                config_id=m.config_id,
                manifest_key=f"s3://{dest_bucket}/{m.key}" if not m.key.startswith("s3://") else m.key,
                file_format=m.file_format,
            )
            note("inventory", m.source_bucket, int(pc.sum(rows["objects"]).as_py() or 0))

    for bucket in s3.buckets:
        if bucket in covered:
            continue  # the inventory already measured it
        versioned = listing.is_versioned(client, bucket)
        batches = listing.list_batches(
            client, bucket, versions=versioned, on_page=lambda b, n: note("list", b, n)
        )
        with reader.listed_objects(con, batches):
            rows = reader.aggregate(
                con,
                snapshot_at=now,
                depth=s3.prefix_depth,
                stale_after_days=s3.stale_after_days,
                checkpoint_patterns=s3.checkpoint_patterns,
                where=f"s3://{bucket}",
            )
        _store(con, result, bucket, now, rows, now, _tags(client, bucket, result), method="list")

    result.seconds = time.perf_counter() - started
    if failures:
        stored = result.tables.get("raw.s3_snapshot", 0)
        raise CollectError(
            f"s3: {len(failures)} inventory report(s) rejected, nothing from them was stored "
            f"({stored} other snapshot(s) were):\n  " + "\n  ".join(failures)
        )
    return result


def newest_per_bucket(manifests: list[inventory.Manifest], skipped: list[str]) -> list[inventory.Manifest]:
    """Per source bucket the newest report over its configurations (ties: the first config id)."""
    best: dict[str, inventory.Manifest] = {}
    for m in sorted(manifests, key=lambda m: (m.source_bucket, -m.created.timestamp(), m.config_id)):
        if m.source_bucket in best:
            skipped.append(f"s3 inventory {m.key}: superseded by {best[m.source_bucket].key}")
        else:
            best[m.source_bucket] = m
    return list(best.values())


def _read_report(
    con: duckdb.DuckDBPyConnection, client: Any, dest_bucket: str, m: inventory.Manifest, s3: S3Settings
) -> pa.Table:
    with tempfile.TemporaryDirectory(prefix="neocost-inventory-") as tmp:
        paths = inventory.download_verified(client, dest_bucket, m, Path(tmp))
        rename = {str(p): f"s3://{dest_bucket}/{f.key}" for p, f in zip(paths, m.files, strict=True)}
        with reader.inventory_objects(con, m, paths, rename):
            return reader.aggregate(
                con,
                snapshot_at=m.created,
                depth=s3.prefix_depth,
                stale_after_days=s3.stale_after_days,
                checkpoint_patterns=s3.checkpoint_patterns,
                where=m.key,
                rename=rename,
            )


def _tags(client: Any, bucket: str, result: CollectResult) -> dict[str, str] | None:
    """The bucket's tags; None (keep the stored ones) when they cannot be read."""
    try:
        tagset = client.get_bucket_tagging(Bucket=bucket).get("TagSet") or []
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        result.skipped.append(f"s3 tags of {bucket}: {code or exc} (kept the stored tags)")
        return None
    return {t["Key"]: t["Value"] for t in tagset}


def _store(
    con: duckdb.DuckDBPyConnection,
    result: CollectResult,
    bucket: str,
    snapshot_at: datetime,
    rows: pa.Table,
    now: datetime,
    tags: dict[str, str] | None,
    *,
    method: str,
    config_id: str = "",
    manifest_key: str | None = None,
    file_format: str | None = None,
) -> None:
    """Replace one (bucket, snapshot) and the bucket's tags in one transaction."""
    objects = int(pc.sum(rows["objects"]).as_py() or 0)
    nbytes = int(pc.sum(rows["bytes"]).as_py() or 0)
    con.register("_s3_rows", rows)
    try:
        with transaction(con):
            for table in ("raw.s3_storage", "raw.s3_snapshot"):
                con.execute(
                    f"DELETE FROM {table} WHERE bucket = ? AND snapshot_at = ?", [bucket, snapshot_at]
                )
            con.execute(
                "INSERT INTO raw.s3_storage BY NAME "
                "SELECT ?::VARCHAR AS bucket, ?::TIMESTAMP AS snapshot_at, * FROM _s3_rows",
                [bucket, snapshot_at],
            )
            con.execute(
                "INSERT INTO raw.s3_snapshot (bucket, snapshot_at, method, config_id, manifest_key, "
                "file_format, objects, bytes, collected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [bucket, snapshot_at, method, config_id, manifest_key, file_format, objects, nbytes, now],
            )
            if tags is not None:
                con.execute("DELETE FROM raw.s3_bucket_tags WHERE bucket = ?", [bucket])
                if tags:
                    con.executemany(
                        "INSERT INTO raw.s3_bucket_tags VALUES (?, ?, ?, ?)",
                        [[bucket, k, v, now] for k, v in sorted(tags.items())],
                    )
    finally:
        con.unregister("_s3_rows")
    for table, n in (
        ("raw.s3_snapshot", 1),
        ("raw.s3_storage", rows.num_rows),
        ("raw.s3_bucket_tags", len(tags or {})),
    ):
        result.tables[table] = result.tables.get(table, 0) + n


__all__ = ["Progress", "collect_s3", "newest_per_bucket", "parse_s3_url"]

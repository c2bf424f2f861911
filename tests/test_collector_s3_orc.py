"""S3 Inventory in ORC (``fileFormat: ORC``): data files written with pyarrow.orc, served by the moto server over
HTTP, MD5-verified, aggregated per bucket/prefix/class; a corrupt ORC file is rejected naming it, storing nothing."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from collector.s3 import collect_s3, inventory
from collector.s3.fixtures import ORC_SCHEMA, Obj, checkpoint_objects, delivery, upload
from neocost import services, warehouse
from neocost.errors import CollectError
from neocost.settings import Settings

# the same objects and dates as the CSV/Parquet tests (tests/test_collector_s3.py), so the answers match
SNAP1, SNAP2, NOW = datetime(2026, 11, 18, 1), datetime(2026, 11, 19, 1), datetime(2026, 11, 19, 6)
OBJECTS = checkpoint_objects(SNAP2)


@pytest.fixture
def s3(moto: services.MotoS3Server) -> dict[str, Any]:
    client = moto.client()
    names = {"dest": f"inv-{uuid.uuid4().hex[:8]}", "src": f"ckpt-{uuid.uuid4().hex[:8]}"}
    for b in names.values():
        client.create_bucket(Bucket=b)
    return {"client": client, **names}


def _settings(s3: dict[str, Any]) -> Settings:
    return Settings(s3={"endpoint_url": "http://unused", "inventory": [f"s3://{s3['dest']}/inventory"],
                        "prefix_depth": 2, "stale_after_days": 30})


def _deliver(s3: dict[str, Any], created: datetime, parts: list[list[Obj]]) -> dict[str, bytes]:
    files = delivery(s3["dest"], "inventory", s3["src"], "daily", created, parts, file_format="ORC")
    upload(s3["client"], s3["dest"], files)
    return files


def _replace_file(s3: dict[str, Any], files: dict[str, bytes], key: str, body: bytes) -> None:
    """Replace a data file and list it in the manifest with its own MD5 (a consistent, corrupt report)."""
    s3["client"].put_object(Bucket=s3["dest"], Key=key, Body=body)
    mkey = next(k for k in files if k.endswith("manifest.json"))
    doc = json.loads(files[mkey])
    for f in doc["files"]:
        if f["key"] == key:
            f["MD5checksum"], f["size"] = hashlib.md5(body).hexdigest(), len(body)
    mbody = json.dumps(doc).encode()
    s3["client"].put_object(Bucket=s3["dest"], Key=mkey, Body=mbody)
    s3["client"].put_object(Bucket=s3["dest"], Key=mkey.replace(".json", ".checksum"),
                            Body=hashlib.md5(mbody).hexdigest().encode())


def _storage(con: Any) -> list[tuple[Any, ...]]:
    return con.execute("SELECT prefix, storage_class, is_latest, objects, bytes, stale_objects, stale_bytes "
                       "FROM raw.s3_storage ORDER BY ALL").fetchall()


pytestmark = pytest.mark.integration


def test_orc_manifest_schema_maps_columns() -> None:
    assert inventory.parse_file_schema("ORC", ORC_SCHEMA, "m.json") == (
        "bucket", "key", "version_id", "is_latest", "is_delete_marker", "size", "last_modified_date",
        "storage_class")


def test_orc_inventory_bytes_per_prefix_and_class(s3: dict[str, Any]) -> None:
    objs = OBJECTS
    files = _deliver(s3, SNAP2, [objs[:4], objs[4:]])
    manifest = next(k for k in files if k.endswith("manifest.json"))
    assert b'"fileFormat": "ORC"' in files[manifest] and sum(k.endswith(".orc") for k in files) == 2
    con = warehouse.connect(":memory:")
    res = collect_s3(_settings(s3), con, client=s3["client"], now=NOW)
    assert res.status == "ok" and res.tables["raw.s3_snapshot"] == 1
    snap = con.execute("SELECT bucket, snapshot_at, file_format, objects, bytes FROM raw.s3_snapshot").fetchall()
    # 6 objects (the delete marker has no size): 1000 + 2000 + 700 + 50 + 300 + 5 bytes
    assert snap == [(s3["src"], SNAP2, "ORC", 6, 4055)]
    # (prefix, class, is_latest, objects, bytes, stale objects, stale bytes); depth 2, stale after 30 days
    assert _storage(con) == [
        ("", "STANDARD", True, 1, 5, 0, 0),
        ("ckpt/b/", "STANDARD_IA", True, 1, 300, 1, 300),
        ("runs/a/", "STANDARD", False, 1, 700, 0, 0),
        ("runs/a/", "STANDARD", True, 3, 3050, 1, 1000),
    ]
    oldest = con.execute("SELECT min(oldest_modified) FROM raw.s3_storage WHERE prefix = 'runs/a/' AND is_latest"
                         ).fetchone()[0]
    assert oldest == objs[0].last_modified  # ORC timestamps (instant, UTC) read back as naive UTC


@pytest.mark.parametrize("bad", [0, 1], ids=["first-file", "second-file"])
def test_corrupt_orc_is_rejected_and_previous_snapshot_kept(s3: dict[str, Any], bad: int) -> None:
    _deliver(s3, SNAP1, [OBJECTS[:3]])
    con = warehouse.connect(":memory:")
    collect_s3(_settings(s3), con, client=s3["client"], now=NOW)
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
              for t in ("raw.s3_snapshot", "raw.s3_storage")}
    files = _deliver(s3, SNAP2, [OBJECTS[:3], OBJECTS[3:]])
    data_key = [k for k in files if k.endswith(".orc")][bad]  # manifest order: the dataset's first file or not
    # a consistent manifest (MD5 of the bad file) over an ORC file cut in half: only reading it can tell
    _replace_file(s3, files, data_key, files[data_key][: len(files[data_key]) // 2])
    with pytest.raises(CollectError, match=rf"s3://{s3['dest']}/{re.escape(data_key)}") as info:
        collect_s3(_settings(s3), con, client=s3["client"], now=NOW + timedelta(hours=1))
    assert "is not a readable ORC file" in str(info.value) and "nothing from" in str(info.value)
    assert "/tmp" not in str(info.value)  # local temp paths are named by their S3 URI
    after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before}
    assert after == before and before["raw.s3_snapshot"][0][1] == SNAP1

"""S3 Inventory in ORC (``fileFormat: ORC``): data files written with pyarrow.orc, served by the moto server over
HTTP, MD5-verified, aggregated per bucket/prefix/class; a corrupt ORC file is rejected naming it, storing nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from test_collector_s3 import (  # the CSV/Parquet tests' moto server, buckets and objects
    NOW,
    SNAP1,
    SNAP2,
    _deliver,
    _rewrite,
    _storage,
    ckpt_objects,
    moto,  # noqa: F401 - fixture
    s3,  # noqa: F401 - fixture
    settings_for,
)

from collector.s3 import collect_s3, inventory
from collector.s3.fixtures import ORC_SCHEMA
from neocost import warehouse
from neocost.errors import CollectError

pytestmark = pytest.mark.integration


def test_orc_manifest_schema_maps_columns() -> None:
    assert inventory.parse_file_schema("ORC", ORC_SCHEMA, "m.json") == (
        "bucket", "key", "version_id", "is_latest", "is_delete_marker", "size", "last_modified_date",
        "storage_class")


def test_orc_inventory_bytes_per_prefix_and_class(s3: dict[str, Any]) -> None:  # noqa: F811
    objs = ckpt_objects()
    files = _deliver(s3, SNAP2, [objs[:4], objs[4:]], file_format="ORC")
    manifest = next(k for k in files if k.endswith("manifest.json"))
    assert b'"fileFormat": "ORC"' in files[manifest] and sum(k.endswith(".orc") for k in files) == 2
    con = warehouse.connect(":memory:")
    res = collect_s3(settings_for(s3), con, client=s3["client"], now=NOW)
    assert res.status == "ok" and res.tables["raw.s3_snapshot"] == 1
    snap = con.execute("SELECT bucket, snapshot_at, file_format, objects, bytes FROM raw.s3_snapshot").fetchall()
    # 6 objects (the delete marker has no size): 1000 + 2000 + 700 + 50 + 300 + 5 bytes
    assert snap == [(s3["ckpt"], SNAP2, "ORC", 6, 4055)]
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
def test_corrupt_orc_is_rejected_and_previous_snapshot_kept(s3: dict[str, Any], bad: int) -> None:  # noqa: F811
    _deliver(s3, SNAP1, [ckpt_objects()[:3]], file_format="ORC")
    con = warehouse.connect(":memory:")
    collect_s3(settings_for(s3), con, client=s3["client"], now=NOW)
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
              for t in ("raw.s3_snapshot", "raw.s3_storage")}
    files = _deliver(s3, SNAP2, [ckpt_objects()[:3], ckpt_objects()[3:]], file_format="ORC")
    data_key = [k for k in files if k.endswith(".orc")][bad]  # manifest order: the dataset's first file or not
    # a consistent manifest (MD5 of the bad file) over an ORC file cut in half: only reading it can tell
    _rewrite(s3, files, data_key, files[data_key][: len(files[data_key]) // 2], fix_manifest=True)
    with pytest.raises(CollectError, match=rf"s3://{s3['dest']}/{re.escape(data_key)}") as info:
        collect_s3(settings_for(s3), con, client=s3["client"], now=NOW + timedelta(hours=1))
    assert "is not a readable ORC file" in str(info.value) and "nothing from" in str(info.value)
    assert "/tmp" not in str(info.value)  # local temp paths are named by their S3 URI
    after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before}
    assert after == before and before["raw.s3_snapshot"][0][1] == SNAP1

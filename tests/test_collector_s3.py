"""S3 collector: manifest/schema parsing (shared samples), inventory reading and aggregation against a real
moto server over HTTP, rejection of corrupt reports, idempotence, and the ListObjectsV2/ListObjectVersions
fallback."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.s3 import collect_s3, inventory, reader
from collector.s3.fixtures import Obj, checkpoint_objects, delivery, upload
from neocost import services, warehouse
from neocost.errors import CollectError, InputFormatError
from neocost.settings import Settings

SNAP1 = datetime(2026, 11, 18, 1, 0)
SNAP2 = datetime(2026, 11, 19, 1, 0)
NOW = datetime(2026, 11, 19, 6, 0)
OLD = SNAP2 - timedelta(days=45)


def _body(path: Path) -> str:
    return path.read_text().split("\n", 1)[1]


# --- pure parsing -------------------------------------------------------------------------------------------


def test_sample_manifest_parses(samples_dir: Path) -> None:
    body = _body(samples_dir / "s3-inventory-manifest.txt").encode()
    m = inventory.parse_manifest(body, "Inventory/example-source-bucket/cfg/2016-11-06T21-32Z/manifest.json")
    assert m.source_bucket == "example-source-bucket"
    assert m.created == datetime(2018, 1, 3, 2, 0)  # 1514944800000 ms
    assert m.file_format == "CSV" and len(m.columns) == 18
    assert m.columns[:6] == ("bucket", "key", "version_id", "is_latest", "is_delete_marker", "size")
    assert m.files[0].md5 == "f11166069f1990abeb9c97ace9cdfabc" and m.files[0].size == 2147483647
    assert m.config_id == "cfg"


def test_sample_csv_rows_aggregate_by_schema(samples_dir: Path, tmp_path: Path) -> None:
    path = samples_dir / "s3-inventory-csv.txt"
    schema = re.search(r'fileSchema "([^"]+)"', path.read_text().split("\n", 1)[0])[1]  # type: ignore[index]
    data = tmp_path / "part.csv.gz"
    data.write_bytes(gzip.compress(_body(path).encode()))
    m = inventory.Manifest(
        "m.json", "bucket", "c", SNAP2, "CSV", inventory.parse_file_schema("CSV", schema, "x"), ()
    )
    assert len(m.columns) == 20
    con = warehouse.connect(":memory:")
    with reader.inventory_objects(con, m, [data]):
        rows = reader.aggregate(
            con, snapshot_at=SNAP2, depth=1, stale_after_days=30, checkpoint_patterns=[]
        ).to_pylist()
    assert rows == [
        {
            "prefix": "inventory_test/",
            "storage_class": "STANDARD",
            "is_latest": True,
            "objects": 3,
            "bytes": 5,
            "stale_objects": 0,
            "stale_bytes": 0,
            "oldest_modified": datetime(2024, 4, 22, 1, 11, 6),
        }
    ]


@pytest.mark.parametrize(
    ("fmt", "schema", "expected"),
    [
        (
            "Parquet",
            "message s3.inventory { required binary bucket (STRING); required binary key (STRING); "
            "optional int64 size; optional boolean is_latest;}",
            ("bucket", "key", "size", "is_latest"),
        ),
        (
            "ORC",
            "struct<bucket:string,key:string,size:bigint,storage_class:string>",
            ("bucket", "key", "size", "storage_class"),
        ),
    ],
)
def test_columnar_file_schemas(fmt: str, schema: str, expected: tuple[str, ...]) -> None:
    assert inventory.parse_file_schema(fmt, schema, "m") == expected


def test_unknown_field_and_missing_size_are_named() -> None:
    with pytest.raises(InputFormatError, match=r"m\.json: unknown inventory field\(s\) \['Colour'\]"):
        inventory.parse_file_schema("CSV", "Bucket, Key, Size, Colour", "m.json")
    with pytest.raises(InputFormatError, match="lacks \\['size'\\]"):
        inventory.parse_file_schema("CSV", "Bucket, Key", "m.json")


def test_manifest_checksum_mismatch() -> None:
    inventory.verify_manifest_checksum(b"{}", hashlib.md5(b"{}").hexdigest() + "\n", "k")
    with pytest.raises(InputFormatError, match="k: MD5 .* does not match manifest.checksum"):
        inventory.verify_manifest_checksum(b"{} ", hashlib.md5(b"{}").hexdigest(), "k")


# --- against moto over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def s3(moto: services.MotoS3Server) -> dict[str, Any]:
    """Fresh uniquely named buckets (moto's state is shared by the whole process)."""
    client = moto.client()
    tag = uuid.uuid4().hex[:8]
    names = {"dest": f"inv-{tag}", "ckpt": f"ckpt-{tag}", "data": f"data-{tag}"}
    for b in names.values():
        client.create_bucket(Bucket=b)
    client.put_bucket_tagging(
        Bucket=names["ckpt"], Tagging={"TagSet": [{"Key": "team", "Value": "ml-research"}]}
    )
    return {"client": client, **names}


def settings_for(s3: dict[str, Any], **extra: Any) -> Settings:
    return Settings(
        s3={
            "endpoint_url": "http://unused",
            "inventory": [f"s3://{s3['dest']}/inventory"],
            "prefix_depth": 2,
            "stale_after_days": 30,
            **extra,
        }
    )


def _deliver(s3: dict[str, Any], created: datetime, parts: list[list[Obj]], **kw: Any) -> dict[str, bytes]:
    files = delivery(s3["dest"], "inventory", s3["ckpt"], "daily", created, parts, **kw)
    upload(s3["client"], s3["dest"], files)
    return files


def _storage(con) -> list[tuple]:
    return con.execute(
        "SELECT prefix, storage_class, is_latest, objects, bytes, stale_objects, stale_bytes "
        "FROM raw.s3_storage ORDER BY ALL"
    ).fetchall()


@pytest.mark.integration
@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_inventory_collect_values(s3: dict[str, Any], fmt: str) -> None:
    objs = checkpoint_objects(SNAP2)
    _deliver(s3, SNAP1, [objs[:2]], file_format=fmt)  # older delivery: must be ignored
    _deliver(s3, SNAP2, [objs[:4], objs[4:]], file_format=fmt)
    con = warehouse.connect(":memory:")
    res = collect_s3(settings_for(s3), con, client=s3["client"], now=NOW)
    assert res.tables["raw.s3_snapshot"] == 1
    snap = con.execute(
        "SELECT bucket, snapshot_at, method, config_id, file_format, objects, bytes FROM raw.s3_snapshot"
    ).fetchall()
    assert snap == [(s3["ckpt"], SNAP2, "inventory", "daily", fmt, 6, 4055)]
    assert _storage(con) == [
        ("", "STANDARD", True, 1, 5, 0, 0),
        ("ckpt/b/", "STANDARD_IA", True, 1, 300, 1, 300),
        ("runs/a/", "STANDARD", False, 1, 700, 0, 0),
        ("runs/a/", "STANDARD", True, 3, 3050, 1, 1000),
    ]
    assert con.execute("SELECT key, value FROM raw.s3_bucket_tags").fetchall() == [("team", "ml-research")]


@pytest.mark.integration
def test_inventory_collect_is_idempotent(s3: dict[str, Any]) -> None:
    _deliver(s3, SNAP2, [checkpoint_objects(SNAP2)])
    con = warehouse.connect(":memory:")
    tables = ("raw.s3_snapshot", "raw.s3_storage", "raw.s3_bucket_tags")
    collect_s3(settings_for(s3), con, client=s3["client"], now=NOW)
    first = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    collect_s3(settings_for(s3), con, client=s3["client"], now=NOW)
    assert {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables} == first
    assert len(first["raw.s3_storage"]) == 4


def _rewrite(
    s3: dict[str, Any], files: dict[str, bytes], data_key: str, new_body: bytes, *, fix_manifest: bool
) -> None:
    s3["client"].put_object(Bucket=s3["dest"], Key=data_key, Body=new_body)
    if fix_manifest:  # a consistent manifest that lists the bad file with its own MD5
        mkey = next(k for k in files if k.endswith("manifest.json"))
        doc = json.loads(files[mkey])
        for f in doc["files"]:
            if f["key"] == data_key:
                f["MD5checksum"], f["size"] = hashlib.md5(new_body).hexdigest(), len(new_body)
        body = json.dumps(doc).encode()
        s3["client"].put_object(Bucket=s3["dest"], Key=mkey, Body=body)
        s3["client"].put_object(
            Bucket=s3["dest"],
            Key=mkey.replace(".json", ".checksum"),
            Body=hashlib.md5(body).hexdigest().encode(),
        )


@pytest.mark.integration
@pytest.mark.parametrize("fault", ["md5", "truncated_gzip", "manifest_checksum"])
def test_corrupt_report_is_rejected_and_previous_snapshot_kept(s3: dict[str, Any], fault: str) -> None:
    _deliver(s3, SNAP1, [checkpoint_objects(SNAP2)[:3]])
    con = warehouse.connect(":memory:")
    collect_s3(settings_for(s3), con, client=s3["client"], now=NOW)
    before = {
        t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
        for t in ("raw.s3_snapshot", "raw.s3_storage")
    }
    files = _deliver(s3, SNAP2, [checkpoint_objects(SNAP2)[:3], checkpoint_objects(SNAP2)[3:]])
    data_key = sorted(k for k in files if k.endswith(".csv.gz"))[1]
    if fault == "md5":
        _rewrite(s3, files, data_key, files[data_key][:-8] + b"\0" * 8, fix_manifest=False)
        pattern = (
            rf"s3://{s3['dest']}/{re.escape(data_key)}: MD5 .* does not match the manifest's MD5checksum"
        )
    elif fault == "truncated_gzip":
        _rewrite(s3, files, data_key, files[data_key][: len(files[data_key]) // 2], fix_manifest=True)
        pattern = rf"s3://{s3['dest']}/{re.escape(data_key)}"
    else:
        mkey = next(k for k in files if k.endswith("manifest.checksum"))
        s3["client"].put_object(Bucket=s3["dest"], Key=mkey, Body=b"0" * 32)
        pattern = r"manifest\.json: MD5 .* does not match manifest\.checksum"
    with pytest.raises(CollectError, match=pattern) as info:
        collect_s3(settings_for(s3), con, client=s3["client"], now=NOW + timedelta(hours=1))
    assert "nothing from" in str(info.value)
    if fault == "truncated_gzip":
        assert "GZIP" in str(info.value).upper()
    after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before}
    assert after == before
    assert before["raw.s3_snapshot"][0][1] == SNAP1


@pytest.mark.integration
def test_listing_fallback_versions_and_stale(moto: services.MotoS3Server, s3: dict[str, Any]) -> None:
    client, bucket = s3["client"], s3["data"]
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key="models/ckpt/step-1/w.bin", Body=b"x" * 100)
    client.put_object(Bucket=bucket, Key="models/ckpt/step-1/w.bin", Body=b"x" * 40)  # 100 -> noncurrent
    client.put_object(Bucket=bucket, Key="models/final/w.bin", Body=b"y" * 7, StorageClass="STANDARD_IA")
    client.put_object(Bucket=bucket, Key="tmp.txt", Body=b"z" * 3)
    client.delete_object(Bucket=bucket, Key="tmp.txt")  # delete marker
    settings = Settings(s3={"buckets": [bucket], "prefix_depth": 1, "stale_after_days": 30})
    con = warehouse.connect(":memory:")
    # Listing snapshots are taken "now"; a now 60 days ahead makes everything old enough to be stale.
    later = datetime.now().replace(microsecond=0) + timedelta(days=60)
    events: list[dict[str, Any]] = []
    res = collect_s3(settings, con, client=client, now=later, progress=events.append)
    assert events[-1] == {
        "event": "list",
        "source": "s3",
        "bucket": bucket,
        "done": 5,
    }  # 4 versions + 1 marker
    assert res.tables == {"raw.s3_snapshot": 1, "raw.s3_storage": 4, "raw.s3_bucket_tags": 0}
    rows = {(p, c, latest): (n, b, sn, sb) for p, c, latest, n, b, sn, sb in _storage(con)}
    assert rows[("models/", "STANDARD", True)] == (1, 40, 1, 40)
    assert rows[("models/", "STANDARD", False)] == (1, 100, 0, 0)
    assert rows[("models/", "STANDARD_IA", True)] == (1, 7, 0, 0)
    assert rows[("", "STANDARD", False)] == (1, 3, 0, 0)
    assert con.execute("SELECT method, objects, bytes FROM raw.s3_snapshot").fetchall() == [("list", 4, 150)]


@pytest.mark.integration
def test_newest_report_over_configurations_and_deeper_prefix(s3: dict[str, Any]) -> None:
    client = s3["client"]
    upload(
        client,
        s3["dest"],
        delivery(s3["dest"], "inventory", s3["ckpt"], "weekly", SNAP1, [[Obj("a/b/x", 10, OLD)]]),
    )
    upload(
        client,
        s3["dest"],
        delivery(
            s3["dest"],
            "inventory",
            s3["ckpt"],
            "daily",
            SNAP2,
            [[Obj("a/b/x", 10, OLD), Obj("a/c/y", 5, OLD)]],
        ),
    )
    found = inventory.find_manifests(client, s3["dest"], "inventory")
    assert [k.split("/")[2:4] for k in found] == [
        ["daily", SNAP2.strftime("%Y-%m-%dT%H-%MZ")],
        ["weekly", SNAP1.strftime("%Y-%m-%dT%H-%MZ")],
    ]
    # the destination may also name the source bucket's folder directly
    assert inventory.find_manifests(client, s3["dest"], f"inventory/{s3['ckpt']}/") == found
    con = warehouse.connect(":memory:")
    res = collect_s3(settings_for(s3, prefix_depth=1), con, client=client, now=NOW)
    assert con.execute("SELECT config_id, snapshot_at, objects, bytes FROM raw.s3_snapshot").fetchall() == [
        ("daily", SNAP2, 2, 15)
    ]
    assert any("superseded" in s and "weekly" in s for s in res.skipped)

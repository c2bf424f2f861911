"""S3 collector against the simulator's inventory tree on moto: bytes per bucket, noncurrent and
stale-checkpoint bytes equal truth.json; tags match buckets.json; re-collecting leaves identical tables."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from collector.s3 import collect_s3
from neocost import warehouse
from neocost.settings import Settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 6, 0)
TABLES = ("raw.s3_snapshot", "raw.s3_storage", "raw.s3_bucket_tags")


@pytest.fixture(scope="module")
def collected(sim_small: Any, s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("s3sim") / "w.duckdb"
    con = warehouse.connect(path)
    settings = Settings(
        s3={
            "endpoint_url": s3_server.endpoint_url,
            "inventory": ["s3://neocost-inventory/inventory"],
            "stale_after_days": 30,
            "prefix_depth": 2,
        }
    )
    client = s3_server.client()
    first = collect_s3(settings, con, client=client, now=NOW)
    dump1 = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    collect_s3(settings, con, client=client, now=NOW)
    dump2 = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    yield {
        "con": con,
        "result": first,
        "dump1": dump1,
        "dump2": dump2,
        "truth": sim_small.truth["storage"],
        "buckets": json.loads((sim_small.dir / "s3" / "buckets.json").read_text()),
    }
    con.close()


def test_bytes_per_bucket_equal_truth(collected: dict[str, Any]) -> None:
    con, truth = collected["con"], collected["truth"]
    got = dict(con.execute("SELECT bucket, bytes FROM raw.s3_snapshot").fetchall())
    assert got == {b: v["bytes"] for b, v in truth["by_bucket"].items()}
    # newest snapshot per bucket only, from the inventory
    assert con.execute("SELECT DISTINCT method FROM raw.s3_snapshot").fetchall() == [("inventory",)]
    assert sum(got.values()) == truth["bytes"]


def test_noncurrent_and_stale_checkpoint_bytes_equal_truth(collected: dict[str, Any]) -> None:
    con, truth = collected["con"], collected["truth"]
    noncurrent, stale = con.execute(
        "SELECT sum(bytes) FILTER (WHERE NOT is_latest), sum(stale_bytes) FROM raw.s3_storage"
    ).fetchone()
    assert (noncurrent, stale) == (truth["noncurrent_bytes"], truth["stale_checkpoint_bytes"])
    assert stale > 0 and noncurrent > 0


def test_storage_rows_sum_to_snapshot_and_keys_are_decoded(collected: dict[str, Any]) -> None:
    con = collected["con"]
    mismatched = con.execute("""SELECT s.bucket FROM raw.s3_snapshot s
                                JOIN raw.s3_storage t USING (bucket, snapshot_at)
                                GROUP BY s.bucket, s.bytes, s.objects
                                HAVING sum(t.bytes) <> s.bytes OR sum(t.objects) <> s.objects""").fetchall()
    assert mismatched == []
    prefixes = {r[0] for r in con.execute("SELECT prefix FROM raw.s3_storage").fetchall()}
    assert "datasets/multilingual/" in prefixes and not any("%" in p for p in prefixes)
    assert ("ENHANCED_THROUGHPUT",) in con.execute(
        "SELECT DISTINCT storage_class FROM raw.s3_storage"
    ).fetchall()


def test_bucket_tags_match(collected: dict[str, Any]) -> None:
    con = collected["con"]
    got: dict[str, dict[str, str]] = {}
    for bucket, key, value in con.execute("SELECT bucket, key, value FROM raw.s3_bucket_tags").fetchall():
        got.setdefault(bucket, {})[key] = value
    sources = {b for (b,) in con.execute("SELECT bucket FROM raw.s3_snapshot").fetchall()}
    assert got == {b["name"]: b["tags"] for b in collected["buckets"] if b["name"] in sources and b["tags"]}


def test_recollecting_leaves_identical_tables(collected: dict[str, Any]) -> None:
    assert collected["dump1"] == collected["dump2"]
    assert len(collected["dump1"]["raw.s3_snapshot"]) == len(collected["truth"]["by_bucket"])

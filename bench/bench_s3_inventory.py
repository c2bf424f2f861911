"""Benchmark: the S3 inventory reader on 1 million objects (10 gzip CSV data files in the real layout).

Measured in fresh subprocesses (so peak RSS is per method), medians of 3 runs:

- ``duckdb``: neocost's reader (DuckDB ``read_csv`` + ``aggregate.sql``) on local verified files;
- ``naive``: baseline in pure Python — ``gzip`` + ``csv`` module + dict aggregation over the same files;
- ``collect_s3``: the whole collector against a moto server over HTTP (manifest and checksum check, download
  with per-file MD5, aggregation, warehouse write). The 12 objects of the delivery are uploaded once.

Writes ``bench/results/s3_inventory.json``. Run: ``python -m bench.bench_s3_inventory [--objects N]``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import multiprocessing as mp
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SNAPSHOT = datetime(2026, 11, 19, 1, 0)
FILES = 10
RUNS = 3


def generate(root: Path, n: int) -> dict[str, Any]:
    """Write one delivery of ``n`` objects under ``root`` (keys = S3 keys in the destination bucket)."""
    from collector.s3.fixtures import Obj, delivery, write_local

    rng = random.Random(7)
    classes = ["STANDARD"] * 8 + ["STANDARD_IA", "GLACIER_IR"]

    def objects(lo: int, hi: int):
        for i in range(lo, hi):
            run = i % 997
            folder = f"checkpoints/step-{i % 50}" if i % 3 == 0 else f"datasets/shard-{i % 200}"
            yield Obj(
                f"team-{i % 4}/run-{run}/{folder}/part {i:08d}.bin",
                rng.randrange(1, 64 << 20),
                SNAPSHOT - timedelta(days=rng.randrange(0, 90), seconds=rng.randrange(86400)),
                storage_class=classes[i % len(classes)],
                is_latest=i % 10 != 0,
                version_id=f"v{i}",
            )

    per = -(-n // FILES)
    files = delivery(
        "bench-inventory",
        "inv",
        "bench-src",
        "daily",
        SNAPSHOT,
        [objects(k * per, min(n, (k + 1) * per)) for k in range(FILES)],
    )
    write_local(root, files)
    return {"files": files, "manifest": next(k for k in files if k.endswith("manifest.json"))}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_duckdb(root: str, manifest_key: str) -> dict[str, Any]:
    from collector.s3 import inventory, reader
    from neocost import warehouse

    m = inventory.parse_manifest((Path(root) / manifest_key).read_bytes(), manifest_key)
    paths = [Path(root) / f.key for f in m.files]
    con = warehouse.connect(":memory:")
    before = _rss_mib()
    t = time.perf_counter()
    with reader.inventory_objects(con, m, paths):
        rows = reader.aggregate(
            con,
            snapshot_at=m.created,
            depth=2,
            stale_after_days=30,
            checkpoint_patterns=["checkpoints", "checkpoint", "ckpt"],
        )
    seconds = time.perf_counter() - t
    totals = {
        "objects": sum(rows["objects"].to_pylist()),
        "bytes": sum(rows["bytes"].to_pylist()),
        "stale_bytes": sum(rows["stale_bytes"].to_pylist()),
    }
    return {"seconds": seconds, "peak_rss_mib": _rss_mib(), "rss_growth_mib": _rss_mib() - before, **totals}


def run_naive(root: str, manifest_key: str) -> dict[str, Any]:
    manifest = json.loads((Path(root) / manifest_key).read_bytes())
    cols = [c.strip() for c in manifest["fileSchema"].split(",")]
    ix = {c: i for i, c in enumerate(cols)}
    cutoff = (SNAPSHOT - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    before = _rss_mib()
    t = time.perf_counter()
    acc: dict[tuple[str, str, bool], list[int]] = {}
    for f in manifest["files"]:
        with gzip.open(Path(root) / f["key"], "rt", newline="") as fh:
            for row in csv.reader(fh):
                if row[ix["IsDeleteMarker"]] == "true":
                    continue
                parts = unquote_plus(row[ix["Key"]]).split("/")
                prefix = "/".join(parts[: min(2, len(parts) - 1)]) + "/" if len(parts) > 1 else ""
                latest = row[ix["IsLatest"]] != "false"
                size = int(row[ix["Size"]] or 0)
                a = acc.setdefault((prefix, row[ix["StorageClass"]], latest), [0, 0, 0])
                a[0] += 1
                a[1] += size
                if (
                    latest
                    and any(p.lower() in ("checkpoints", "checkpoint", "ckpt") for p in parts[:-1])
                    and row[ix["LastModifiedDate"]][:19] < cutoff
                ):
                    a[2] += size
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "peak_rss_mib": _rss_mib(),
        "rss_growth_mib": _rss_mib() - before,
        "objects": sum(a[0] for a in acc.values()),
        "bytes": sum(a[1] for a in acc.values()),
        "stale_bytes": sum(a[2] for a in acc.values()),
    }


def run_collect(root: str, manifest_key: str) -> dict[str, Any]:
    from collector.s3 import collect_s3
    from collector.s3.fixtures import upload
    from neocost import services, warehouse
    from neocost.settings import Settings

    files = {str(p.relative_to(root)): p.read_bytes() for p in Path(root).rglob("*") if p.is_file()}
    with services.MotoS3Server() as server:
        client = server.client()
        client.create_bucket(Bucket="bench-inventory")
        upload(client, "bench-inventory", files)
        settings = Settings(s3={"inventory": ["s3://bench-inventory/inv"], "prefix_depth": 2})
        con = warehouse.connect(":memory:")
        before = _rss_mib()
        t = time.perf_counter()
        res = collect_s3(settings, con, client=client)
        seconds = time.perf_counter() - t
        objects, nbytes = con.execute("SELECT objects, bytes FROM raw.s3_snapshot").fetchone()
    return {
        "seconds": seconds,
        "peak_rss_mib": _rss_mib(),
        "rss_growth_mib": _rss_mib() - before,
        "objects": objects,
        "bytes": nbytes,
        "storage_rows": res.tables["raw.s3_storage"],
    }


def _in_child(fn_name: str, root: str, manifest_key: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(globals()[fn_name], (root, manifest_key))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=RUNS)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="neocost-bench-s3-") as tmp:
        t = time.perf_counter()
        info = generate(Path(tmp), args.objects)
        gen_s = time.perf_counter() - t
        size = sum(len(v) for k, v in info["files"].items() if k.endswith(".csv.gz"))
        results: dict[str, Any] = {}
        for name in ("duckdb", "naive", "collect"):
            runs = [_in_child(f"run_{name}", tmp, info["manifest"]) for _ in range(args.runs)]
            results[name] = {
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "runs_seconds": [round(r["seconds"], 3) for r in runs],
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "rss_growth_mib": max(r["rss_growth_mib"] for r in runs),
                "objects": runs[0]["objects"],
                "bytes": runs[0]["bytes"],
                "stale_bytes": runs[0].get("stale_bytes"),
            }
    for k in ("objects", "bytes", "stale_bytes"):
        assert results["duckdb"][k] == results["naive"][k], f"reader and baseline disagree on {k}"
    out = {
        "benchmark": "s3_inventory",
        "objects": args.objects,
        "data_files": FILES,
        "gzip_csv_mib": round(size / 2**20, 1),
        "generate_seconds": round(gen_s, 1),
        "runs": args.runs,
        "results": results,
        "speedup_duckdb_vs_naive": round(
            results["naive"]["median_seconds"] / results["duckdb"]["median_seconds"], 2
        ),
        "python": sys.version.split()[0],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "s3_inventory.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"S3 inventory reader, {args.objects:,} objects in {FILES} gzip CSV files "
        f"({out['gzip_csv_mib']} MiB), median of {args.runs}"
    )
    print(f"{'method':<12}{'seconds':>10}{'vs naive':>10}{'peak RSS MiB':>14}{'RSS growth':>12}")
    for name, r in results.items():
        print(
            f"{name:<12}{r['median_seconds']:>10.2f}"
            f"{results['naive']['median_seconds'] / r['median_seconds']:>9.1f}x"
            f"{r['peak_rss_mib']:>14.0f}{r['rss_growth_mib']:>12.0f}"
        )
    return out


if __name__ == "__main__":
    main()

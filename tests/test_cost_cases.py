"""Hand-computed cost-model cases: every expected number below is worked out in the comment next to it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import duckdb
import pytest

from costmodel import allocate, report
from costmodel import pricebook as pb
from costmodel.testing import RawBuilder
from neocost import warehouse
from neocost.errors import PriceError
from neocost.settings import CostModelSettings, LabelSettings

T0 = datetime(2026, 11, 19)
GiB = 2**30


def _book(**over: float) -> pb.PriceBook:
    node = {"instance_type": "t", "capacity_type": "on-demand", "gpu_hourly": 2.0, "cpu_core_hourly": 0.05,
            "ram_gib_hourly": 0.01, "source": "test", "as_of": "2026-11-01"}
    spot = dict(node, capacity_type="spot", gpu_hourly=1.0, cpu_core_hourly=0.02, ram_gib_hourly=0.004)
    return pb.parse_toml({
        "node": [dict(node, **over), spot],
        "storage": [{"class": "STANDARD", "gib_month": 0.0146, "source": "test", "as_of": "2026-11-01"}],
        "egress": [{"class": c, "gib": p, "source": "test", "as_of": "2026-11-01"}
                   for c, p in (("in-zone", 0.0), ("cross-region", 0.02), ("internet", 0.09))]})


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = warehouse.connect(":memory:")
    yield c
    c.close()


def _build(con: duckdb.DuckDBPyConnection, **settings: object) -> dict:
    res = allocate.build(con, book=_book(), costmodel=CostModelSettings(**settings))
    return report.truth_report(con, res.start, res.end)


def test_one_node_two_pods_idle_and_shared_namespace(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    # node: 1 GPU x 2.00 + 8 cores x 0.05 + 32 GiB x 0.01 = 2.72 $/h, one hour
    r.node("n1", cores=8, mem_gib=32, gpus=1, instance_type="t")
    # p1: GPU 2.00; CPU max(2 req, 1 use) x 0.05 = 0.10; RAM max(4, 2) GiB x 0.01 = 0.04 -> 2.14
    r.pod("a", "p1", node="n1", requests={"cpu": 2, "memory": 4 * GiB, "nvidia_com_gpu": 1},
          usage=(1, 2 * GiB), labels={"team": "x"})
    # monitoring (shared): CPU max(1 req, 1.5 use) x 0.05 = 0.075; RAM 2 GiB x 0.01 = 0.02 -> 0.095
    r.pod("monitoring", "prom", node="n1", requests={"cpu": 1, "memory": 2 * GiB}, usage=(1.5, GiB), labels={})
    t = _build(con)
    assert t["totals"]["node_cost"] == pytest.approx(2.72)
    assert t["totals"]["allocated_cost"] == pytest.approx(2.235)
    # idle: CPU (8 - 3.5) x 0.05 = 0.225, RAM (32 - 6) x 0.01 = 0.26, GPU 0
    assert t["by_resource"]["cpu"]["idle"] == pytest.approx(0.225)
    assert t["by_resource"]["ram"]["idle"] == pytest.approx(0.26)
    assert t["by_resource"]["gpu"]["idle"] == pytest.approx(0.0)
    assert t["cost"]["usage"]["team"] == pytest.approx({"x": 2.14, "__shared__": 0.095, "__idle__": 0.485})
    # allocation: idle spread by resource (CPU 0.10:0.075, RAM 0.04:0.02), then shared goes to the tenant;
    # one tenant -> it carries the whole node cost
    assert t["cost"]["allocation"]["team"] == pytest.approx({"x": 2.72, "__unallocated__": 0.0})
    assert t["cost"]["usage"]["namespace"]["a"] == pytest.approx(2.14)


def test_two_tenants_weighted_even_none(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=10, mem_gib=10, gpus=0, instance_type="t")  # CPU 0.50 + RAM 0.10 = 0.60 $/h
    r.pod("a", "p1", node="n1", requests={"cpu": 3, "memory": 0}, labels={"team": "x"})  # 0.15
    r.pod("b", "p2", node="n1", requests={"cpu": 1, "memory": 0}, labels={"team": "y"})  # 0.05
    r.pod("kube-system", "dns", node="n1", requests={"cpu": 1, "memory": 0}, labels={})  # 0.05 shared
    # idle CPU = 0.50 - 0.25 = 0.25, RAM 0.10 (no RAM allocation -> stays __idle__)
    t = _build(con)
    # weighted: CPU idle 0.25 by 0.15:0.05:0.05 -> x +0.15, y +0.05, dns +0.05; shared 0.10 by 0.30:0.10
    assert t["cost"]["allocation"]["team"] == pytest.approx({"x": 0.375, "y": 0.125, "__idle__": 0.10, "__unallocated__": 0.0})
    t = _build(con, share_idle="even", share_shared="even")
    # even: CPU and RAM idle (0.25 + 0.10) / 3 each; shared (0.05 + 0.35 / 3) / 2 each
    each_idle = 0.35 / 3
    sh = (0.05 + each_idle) / 2
    assert t["cost"]["allocation"]["team"] == pytest.approx(
        {"x": 0.15 + each_idle + sh, "y": 0.05 + each_idle + sh, "__unallocated__": 0.0})
    t = _build(con, share_idle="none", share_shared="none")
    assert t["cost"]["allocation"]["team"] == pytest.approx(
        {"x": 0.15, "y": 0.05, "__shared__": 0.05, "__idle__": 0.35, "__unallocated__": 0.0})


def test_mig_slice_and_time_slicing(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    # MIG node: 1 H100 as 7 x 1g.10gb, GPU 2.00 $/h; 0 cores / 0 RAM to isolate GPU cost
    r.node("mig", cores=0, mem_gib=0, gpus=1, instance_type="t", mig={"nvidia_com_mig_1g_10gb": 7})
    r.pod("a", "m1", node="mig", requests={"nvidia_com_mig_1g_10gb": 2}, labels={"team": "x"})
    # time-sliced node: 2 GPUs x 4 replicas; a pod requesting 1 advertised GPU = 1/4 physical GPU
    r.node("ts", cores=0, mem_gib=0, gpus=2, gpu_replicas=4, instance_type="t")
    r.pod("b", "s1", node="ts", requests={"nvidia_com_gpu": 1}, labels={"team": "y"})
    t = _build(con)
    assert t["gpu_hours"]["by_team"] == pytest.approx({"x": 2 / 7, "y": 0.25})
    assert t["gpu_hours"]["capacity"] == pytest.approx(3.0)
    assert t["cost"]["usage"]["team"]["x"] == pytest.approx(2.0 * 2 / 7)
    assert t["cost"]["usage"]["team"]["y"] == pytest.approx(0.5)
    assert t["by_resource"]["gpu"]["idle"] == pytest.approx(6.0 - 4 / 7 - 0.5)


def test_spot_node_disappearing_mid_window(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    # spot: 1 GPU x 1.00 + 4 x 0.02 + 16 x 0.004 = 1.144 $/h, present 6 of 12 intervals -> 0.572
    r.node("s1", cores=4, mem_gib=16, gpus=1, instance_type="t", capacity_type="spot", node_pool="gpu-train",
           span=(0, 6))
    r.pod("train", "job-a-0", node="s1", requests={"nvidia_com_gpu": 1, "cpu": 4, "memory": 16 * GiB},
          span=(0, 6), labels={"team": "ml"}, owner=("Job", "run-a"))
    r.node("od", cores=4, mem_gib=16, gpus=1, instance_type="t", node_pool="gpu-train", span=(6, 12))
    # restarted on on-demand: 2.00 + 0.20 + 0.16 = 2.36 $/h for half an hour -> 1.18
    r.pod("train", "job-a-1", node="od", requests={"nvidia_com_gpu": 1, "cpu": 4, "memory": 16 * GiB},
          span=(6, 12), labels={"team": "ml"}, owner=("Job", "run-a"))
    t = _build(con)
    assert t["totals"]["node_cost"] == pytest.approx(0.572 + 1.18)
    assert t["totals"]["idle_cost"] == pytest.approx(0.0)
    assert t["node_pools"]["gpu-train"]["capacity_type"] == "mixed"
    run = t["training_runs"]["run-a"]
    assert run["pods"] == 2 and run["gpu_hours"] == pytest.approx(1.0)
    assert run["cost"]["usage"] == pytest.approx(1.752)


def test_pod_relabelled_mid_window_and_namespace_fallback(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=12, mem_gib=0, instance_type="t")  # 0.60 $/h
    r.pod("a", "p1", node="n1", requests={"cpu": 12})
    r.pod_labels("a", "p1", {"team": "x"}, node="n1", at=0, until=3)      # 3 intervals -> 0.15
    r.pod_labels("a", "p1", {"team": "y"}, node="n1", at=3)               # 9 intervals -> 0.45
    r.namespace("a", {"team": "ns-team", "project": "p"})
    t = _build(con)
    assert t["cost"]["usage"]["team"] == pytest.approx({"x": 0.15, "y": 0.45, "__idle__": 0.0})
    assert t["cost"]["usage"]["project"] == pytest.approx({"p": 0.60, "__idle__": 0.0})  # namespace label


def test_egress_and_storage(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=1, mem_gib=0, instance_type="t")  # 0.05 $/h
    r.pod("a", "p1", node="n1", requests={"cpu": 1}, labels={"team": "x", "model": "m"})
    r.egress("a", "p1", 10 * GiB)  # 120 GiB x (0.7 x 0 + 0.2 x 0.02 + 0.1 x 0.09 = 0.013) = 1.56
    r.bucket("ckpt", 730, tags={"team": "x"}, noncurrent_gib=73, stale_gib=100)  # 803 GiB x 0.0146 / 730 = 0.016060
    r.bucket("untagged", 73)  # 73 x 0.0146 / 730 = 0.00146
    t = _build(con)
    assert t["egress"]["cost"] == pytest.approx(1.56)
    assert t["totals"]["storage_cost"] == pytest.approx(0.01606 + 0.00146)
    assert t["storage"]["noncurrent_bytes"] == 73 * GiB and t["storage"]["stale_checkpoint_bytes"] == 100 * GiB
    assert t["cost"]["usage"]["team"] == pytest.approx({"x": 0.05 + 1.56 + 0.01606, "__unallocated__": 0.00146, "__idle__": 0.0})
    assert t["cost"]["allocation"]["model"] == pytest.approx({"m": 0.05 + 1.56, "__unallocated__": 0.01752})
    assert t["totals"]["total_cost"] == pytest.approx(0.05 + 1.56 + 0.01752)


def test_unit_economics_prefill_decode_and_weight(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=0, mem_gib=0, gpus=1, instance_type="t")  # 2.00 $/h
    r.pod("inf", "v1", node="n1", requests={"nvidia_com_gpu": 1}, labels={"model": "llama", "team": "s"})
    # 12 intervals x (10 requests, 1000 in, 500 out, 200 cached), prefill 1 s / decode 3 s
    r.inference("inf", "v1", model="meta/llama", prefill=1.0, decode=3.0, cached_tokens=200)
    t = _build(con)
    m = t["models"]["llama"]
    assert (m["requests"], m["input_tokens"], m["output_tokens"]) == (120, 12000, 6000)
    assert m["cost_per_inference"]["usage"] == pytest.approx(2.0 / 120, abs=1e-6)
    assert m["cost_per_1k_tokens"]["allocation"] == pytest.approx(2.0 / 18000 * 1000, abs=1e-6)
    assert m["cost_per_1k_input_tokens"]["usage"] == pytest.approx(2.0 * 0.25 / 12000 * 1000, abs=1e-6)
    assert m["cost_per_1k_output_tokens"]["usage"] == pytest.approx(2.0 * 0.75 / 6000 * 1000, abs=1e-6)
    assert m["cost_per_1k_cached_input_tokens"]["usage"] == pytest.approx(2.0 * 0.25 / 9600 * 1000, abs=1e-6)
    assert m["served_name"] == "meta/llama"


def test_unit_economics_weight_fallback(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=0, mem_gib=0, gpus=1, instance_type="t")
    r.pod("inf", "t1", node="n1", requests={"nvidia_com_gpu": 1}, labels={"model": "mistral"})
    r.inference("inf", "t1", server="tgi", model="")  # no prefill/decode -> weight 4
    t = _build(con)
    share = 12000 / (12000 + 4 * 6000)
    assert t["models"]["mistral"]["cost_per_1k_input_tokens"]["usage"] == pytest.approx(2.0 * share / 12000 * 1000, abs=1e-6)


def test_missing_price_warns_and_bad_capacity_type_fails(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("mystery", cores=2, mem_gib=4, instance_type="unknown-type")
    res = allocate.build(con, book=_book())
    assert res.defaulted_nodes == ["mystery"] and "mystery" in res.warnings[0]
    # defaults: 2 x 0.031611 + 4 x 0.004237 = 0.080170 $/h
    assert report.truth_report(con, res.start, res.end)["totals"]["node_cost"] == pytest.approx(0.08017)
    r.node("weird", cores=1, mem_gib=1, capacity_type="lunar")
    with pytest.raises(PriceError, match="weird.*lunar"):
        allocate.build(con, book=_book())


def test_ksm_metadata_and_sanitised_label_keys(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=1, mem_gib=0, instance_type="t")
    r.pod("a", "p1", node="n1", requests={"cpu": 1})
    # kube-state-metrics spelling of `cost-center`; an api row wins over a ksm row
    r.pod_labels("a", "p1", {"cost_center": "cc-1", "team": "ksm"}, source="ksm")
    r.pod_labels("a", "p1", {"cost-center": "cc-1", "team": "api"}, source="api")
    res = allocate.build(con, book=_book())
    rows = report.cost_table(con, res.start, res.end, ["team", "cost_center"], "usage")
    assert [(x["team"], x["cost_center"]) for x in rows if x["team"] != "__idle__"] == [("api", "cc-1")]


def test_metadata_source_chosen_per_object(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    # a1 is listed by the Kubernetes API: on-demand 1 GPU x 2.00 + 4 x 0.05 + 16 x 0.01 = 2.36 $/h, one hour
    r.node("a1", cores=4, mem_gib=16, gpus=1, instance_type="t", node_pool="gpu-a")
    # kube-state-metrics also saw a1 (with a wrong capacity type): the API row wins for a1
    con.execute("INSERT INTO raw.k8s_node (source, node, instance_type, capacity_type, node_pool, gpu_count, "
                "labels, valid_from, valid_to) VALUES ('ksm', 'a1', 't', 'spot', 'wrong', 1, MAP {}, ?, ?)",
                [T0, datetime(2026, 11, 19, 1)])
    # k1 (spot) was interrupted after 6 of 12 intervals, so only kube-state-metrics knows it:
    # 1 GPU x 1.00 + 4 x 0.02 + 16 x 0.004 = 1.144 $/h x 0.5 h = 0.572
    r.node("k1", cores=4, mem_gib=16, gpus=1, instance_type="t", capacity_type="spot", node_pool="gpu-spot",
           span=(0, 6), source="ksm")
    full = {"nvidia_com_gpu": 1, "cpu": 4, "memory": 16 * GiB}
    r.pod("a", "p-api", node="a1", requests=full, labels={"team": "x"})  # 2.36
    r.pod("b", "p-ksm", node="k1", requests=full, span=(0, 6))  # 0.572; the pod is gone from the API too
    r.pod_labels("b", "p-ksm", {"team": "y"}, node="k1", at=0, until=6, source="ksm")
    r.namespace("a", {"project": "pa"})
    r.namespace("b", {"project": "pb"}, source="ksm")
    res = allocate.build(con, book=_book())
    assert res.defaulted_nodes == []
    t = report.truth_report(con, res.start, res.end)
    assert t["totals"]["node_cost"] == pytest.approx(2.36 + 0.572)
    assert t["node_pools"]["gpu-a"]["node_cost"] == pytest.approx(2.36)
    assert t["node_pools"]["gpu-a"]["capacity_type"] == "on-demand"
    assert t["node_pools"]["gpu-spot"]["node_cost"] == pytest.approx(0.572)
    assert t["node_pools"]["gpu-spot"]["capacity_type"] == "spot"
    assert "__unallocated__" not in t["node_pools"]
    assert t["cost"]["usage"]["team"] == pytest.approx({"x": 2.36, "y": 0.572, "__idle__": 0.0})
    assert t["cost"]["usage"]["project"] == pytest.approx({"pa": 2.36, "pb": 0.572, "__idle__": 0.0})


def test_chunked_build_equals_whole(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=4, mem_gib=16, gpus=1, instance_type="t")
    r.pod("a", "p1", node="n1", requests={"cpu": 1, "nvidia_com_gpu": 1}, span=(0, 30), labels={"team": "x"})
    r.pod("monitoring", "m", node="n1", requests={"cpu": 1}, span=(5, 36), labels={})
    r.pod_labels("a", "p1", {"team": "y"}, node="n1", at=14)  # relabelled inside the second hour
    r.egress("a", "p1", GiB, span=(0, 36))
    dump = "SELECT * FROM mart.cost_hourly ORDER BY ALL"
    allocate.build(con, book=_book(), start=T0, end=datetime(2026, 11, 19, 3))
    whole = [tuple(round(v, 9) if isinstance(v, float) else v for v in x) for x in con.execute(dump).fetchall()]
    # 36 intervals of 2 request rows ~ 72 rows; 10 rows per chunk -> one chunk per hour
    allocate.build(con, book=_book(), start=T0, end=datetime(2026, 11, 19, 3), chunk_rows=10)
    chunked = [tuple(round(v, 9) if isinstance(v, float) else v for v in x) for x in con.execute(dump).fetchall()]
    assert chunked == whole and len(whole) > 6
    # the build leaves no temp table behind on the caller's connection
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND starts_with(table_name, 'cm_')"
                       ).fetchone() == (0,)


def test_default_chunk_shrinks_under_a_small_memory_limit(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET memory_limit = '16GiB'")
    assert allocate.default_chunk_rows(con) == allocate.CHUNK_ROWS
    con.execute("SET memory_limit = '2GiB'")
    assert allocate.default_chunk_rows(con) == 2 * 2**30 // (4 * allocate.CHUNK_ROW_BYTES)  # ~4.3 M rows


def test_pipelined_build_failure_keeps_earlier_chunks_and_leaves_later_hours(
        con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=4, mem_gib=16, instance_type="t")
    r.pod("a", "p1", node="n1", requests={"cpu": 1}, span=(0, 48), labels={"team": "x"})
    end = T0 + timedelta(hours=4)
    allocate.build(con, book=_book(), start=T0, end=end)
    hourly = "SELECT hour, sum(allocation_cost) FROM mart.cost_hourly GROUP BY hour ORDER BY hour"
    before = con.execute(hourly).fetchall()
    assert len(before) == 4
    # one chunk per hour, pipelined over two cursors; computing the third hour fails
    compute = allocate._compute_window

    def failing(cur, settings, labels, book, start, stop, step):  # type: ignore[no-untyped-def]
        if start == T0 + timedelta(hours=2):
            raise RuntimeError("boom in hour 2")
        return compute(cur, settings, labels, book, start, stop, step)

    monkeypatch.setattr(allocate, "_compute_window", failing)
    book = _book(cpu_core_hourly=1.0)  # a different price, so rebuilt hours are visible
    con.execute("DELETE FROM meta.watermark WHERE source = 'costmodel'")  # (it never moves back)
    with pytest.raises(RuntimeError, match="boom in hour 2"):
        allocate.build(con, book=book, start=T0, end=end, chunk_rows=10)
    after = dict(con.execute(hourly).fetchall())
    old = dict(before)
    hours = [T0 + timedelta(hours=k) for k in range(4)]
    assert after[hours[0]] != pytest.approx(old[hours[0]]) and after[hours[1]] != pytest.approx(old[hours[1]])
    assert after[hours[2]] == pytest.approx(old[hours[2]]) and after[hours[3]] == pytest.approx(old[hours[3]])
    assert warehouse.get_watermark(con, "costmodel", "") == hours[2]
    monkeypatch.undo()
    allocate.build(con, book=book, start=T0, end=end, chunk_rows=10)  # the next run completes
    assert warehouse.get_watermark(con, "costmodel", "") == end


def test_build_keeps_the_configured_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`warehouse.threads` caps DuckDB's threads during a build too (on every cursor of a pipelined one)."""
    con = warehouse.connect(":memory:", threads=1)
    r = RawBuilder(con, T0)
    r.node("n1", cores=4, mem_gib=16, instance_type="t")
    r.pod("a", "p1", node="n1", requests={"cpu": 1}, span=(0, 24), labels={"team": "x"})
    seen = set()
    run = allocate._run

    def spy(cur, name, sql, params):  # type: ignore[no-untyped-def]
        seen.add(cur.execute("SELECT current_setting('threads')").fetchone()[0])
        run(cur, name, sql, params)

    monkeypatch.setattr(allocate, "_run", spy)
    allocate.build(con, book=_book(), start=T0, end=T0 + timedelta(hours=2), chunk_rows=10)
    assert seen == {1}
    con.close()


def test_api_labels_observed_after_ksm_history(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=12, mem_gib=0, instance_type="t")  # 0.60 $/h
    # p1 (6 cores = 0.30 $/h) was relabelled x -> y at interval 6, before the first API listing: the API row
    # (opened at creation) only knows y, kube-state-metrics saw both -> x for half an hour (0.15), y (0.15)
    r.pod("a", "p1", node="n1", requests={"cpu": 6})
    r.pod_labels("a", "p1", {"team": "x"}, node="n1", at=0, until=6, source="ksm")
    r.pod_labels("a", "p1", {"team": "y"}, node="n1", at=6, until=12, source="ksm")
    r.pod_labels("a", "p1", {"team": "y"}, node="n1", at=0, source="api")
    # p2: kube-state-metrics without the label allowlist (no team) and a phase change at interval 3 -> the
    # API's team fills in for the whole hour (6 cores -> 0.30)
    r.pod("b", "p2", node="n1", requests={"cpu": 6})
    r.pod_labels("b", "p2", {"app": "w"}, node="n1", at=0, until=3, source="ksm")
    con.execute("INSERT INTO raw.k8s_pod (source, namespace, pod, node, phase, labels, valid_from, valid_to) "
                "VALUES ('ksm', 'b', 'p2', 'n1', 'Running', MAP {'app': 'w'}, ?, ?)",
                [datetime(2026, 11, 19, 0, 15), datetime(2026, 11, 19, 1)])
    r.pod_labels("b", "p2", {"app": "w", "team": "z"}, node="n1", at=0, source="api")
    t = _build(con)
    assert t["cost"]["usage"]["team"] == pytest.approx({"x": 0.15, "y": 0.15, "z": 0.30, "__idle__": 0.0})


def test_persistent_volumes_split_by_mounting_pods_and_unmounted(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=8, mem_gib=32, gpus=1, instance_type="t")  # 2.72 $/h, one hour (12 intervals)
    r.pod("db", "db-0", node="n1", requests={"cpu": 1, "memory": GiB}, labels={"team": "x"})
    r.pod("db", "db-1", node="n1", requests={"cpu": 1, "memory": GiB}, labels={"team": "y"})
    # data-0: 100 GiB network-ssd at 0.12 $/GiB-month -> 100 x 0.12 / 730 / 12 = 0.001369863 $ per interval;
    # db-0 mounts it in intervals 0-5, db-1 in 0-2, nobody in 6-11. orphan: 50 GiB of a class with no row ->
    # the default 0.10 $/GiB-month, mounted by nobody for the hour: 50 x 0.10 / 730 = 0.006849315
    for i in range(12):
        ts = r.ticks(i, i + 1)[0]
        con.execute("INSERT INTO raw.pvc VALUES (?, 'db', 'data-0', 'network-ssd', 'pvc-1', ?, NULL)",
                    [ts, 100 * GiB])
        con.execute("INSERT INTO raw.pvc VALUES (?, 'db', 'orphan', 'cheap', 'pvc-2', ?, NULL)", [ts, 50 * GiB])
        for pod, last in (("db-0", 6), ("db-1", 3)):
            if i < last:
                con.execute("INSERT INTO raw.pod_pvc VALUES (?, 'db', ?, 'data-0')", [ts, pod])
    book = _book()
    book.volumes["network-ssd"] = (0.12, "test", "2026-11-01")
    res = allocate.build(con, book=book)
    t = report.truth_report(con, res.start, res.end)
    per = 100 * 0.12 / 730 / 12

    def approx(x: float) -> object:  # the report rounds money to 6 decimals
        return pytest.approx(x, abs=2e-6)
    assert t["totals"]["volume_cost"] == approx(100 * 0.12 / 730 + 50 * 0.10 / 730)
    assert t["totals"]["total_cost"] == approx(2.72 + t["totals"]["volume_cost"])
    x, y = 4.5 * per, 1.5 * per  # x: 3 intervals half + 3 whole; y: 3 intervals half
    unmounted = 6 * per + 50 * 0.10 / 730
    for basis in ("usage", "allocation"):
        team = t["cost"][basis]["team"]
        assert team["__unmounted__"] == approx(unmounted)
        assert t["cost"][basis]["namespace"]["__unmounted__"] == approx(unmounted)
        assert sum(team.values()) == approx(t["totals"]["total_cost"])
    usage = t["cost"]["usage"]["team"]
    # x and y: their containers' CPU + RAM (1 x 0.05 + 1 x 0.01 each, for the hour) plus their volume shares
    assert usage["x"] == approx(0.06 + x)
    assert usage["y"] == approx(0.06 + y)
    v = t["volumes"]
    assert v["unmounted_cost"] == approx(unmounted)
    assert v["by_claim"]["db/data-0"] == {"storageclass": "network-ssd", "request_bytes": 100 * GiB,
                                          "cost": approx(12 * per)}
    assert v["by_claim"]["db/orphan"]["cost"] == approx(50 * 0.10 / 730)
    # an OpenCost CSV pv row for the bound volume pvc-2 (0.0002 $/GiB-h = 0.146 $/GiB-month) beats the default
    book.volume_names["pvc-2"] = (0.146, "test", "2026-11-01")
    allocate.build(con, book=book)
    t = report.truth_report(con, res.start, res.end)
    assert t["volumes"]["by_claim"]["db/orphan"]["cost"] == approx(50 * 0.0002)
    assert t["volumes"]["by_claim"]["db/data-0"]["cost"] == approx(12 * per)


def test_hourly_intervals_skip_the_rollup_with_the_same_result(con: duckdb.DuckDBPyConnection,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    r = RawBuilder(con, T0, step=timedelta(hours=1))
    # node 2.00 + 4 x 0.05 + 16 x 0.01 = 2.36 $/h for 3 hours = 7.08
    r.node("n1", cores=4, mem_gib=16, gpus=1, instance_type="t", span=(0, 3))
    # p1 2.00 + 0.05 = 2.05 $/h; relabelled x -> y for the last hour
    r.pod("a", "p1", node="n1", requests={"cpu": 1, "nvidia_com_gpu": 1}, span=(0, 3), labels={"team": "x"})
    r.pod_labels("a", "p1", {"team": "y"}, node="n1", at=2)
    r.pod("monitoring", "m", node="n1", requests={"cpu": 1}, span=(0, 3), labels={})
    r.egress("a", "p1", GiB, span=(0, 3))
    dump = "SELECT * FROM mart.cost_hourly ORDER BY ALL"

    def build() -> list[tuple]:
        allocate.build(con, book=_book(), start=T0, end=datetime(2026, 11, 19, 3), step_seconds=3600)
        return [tuple(round(v, 9) if isinstance(v, float) else v for v in x) for x in con.execute(dump).fetchall()]

    skipped = build()
    t = report.truth_report(con, T0, datetime(2026, 11, 19, 3))
    assert t["totals"]["node_cost"] == pytest.approx(7.08)
    # 1 GiB egress an hour at the fallback split's blended $/GiB
    egress = sum(share * _book().egress_price(k) for k, share in CostModelSettings().egress_fallback_split.items())
    assert t["cost"]["usage"]["team"]["x"] == pytest.approx(2 * (2.05 + egress))
    assert t["cost"]["usage"]["team"]["y"] == pytest.approx(2.05 + egress)
    monkeypatch.setattr(allocate, "_ROLLUP", re.compile(r"()()(?!x)x"))  # never matches: roll-up kept
    assert build() == skipped and len(skipped) >= 9


def test_label_renames_feed_the_tags(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=4, mem_gib=16, instance_type="t")
    # 12 intervals x 5 min = 1 h of 1 core at 0.05 $/h each
    r.pod("a", "p1", node="n1", requests={"cpu": 1}, labels={"squad": "x"})
    r.pod("a", "p2", node="n1", requests={"cpu": 1}, labels={"squad": "y", "team": "z"})  # the real key wins
    r.pod("a", "p3", node="n1", requests={"cpu": 1}, labels={"Owning-Squad": "w"})  # sanitised spelling
    r.bucket("b1", 100, tags={"squad": "x"})
    labels = LabelSettings(renames={"squad": "team", "owning.squad": "team"})
    res = allocate.build(con, book=_book(), labels=labels)
    t = report.truth_report(con, res.start, res.end)
    usage = t["cost"]["usage"]["team"]
    assert usage["z"] == pytest.approx(0.05) and usage["w"] == pytest.approx(0.05)
    assert usage["x"] == pytest.approx(0.05 + 100 * 0.0146 / 730)  # p1 plus bucket b1's storage hour
    assert "y" not in usage
    allocate.build(con, book=_book())  # without renames the squads are untagged
    t = report.truth_report(con, res.start, res.end)
    assert t["cost"]["usage"]["team"]["z"] == pytest.approx(0.05) and "x" not in t["cost"]["usage"]["team"]


def test_storage_attributed_by_prefix_tags(con: duckdb.DuckDBPyConnection) -> None:
    r = RawBuilder(con, T0)
    r.node("n1", cores=1, mem_gib=0, instance_type="t")
    # 730 GiB under ckpt/, 73 under llama/ft/ and 146 under mistral/: GiB x 0.0146 $/GiB-month / 730 h = $/h
    r.bucket("ml", 730, tags={"team": "platform"}, prefixes={"llama/ft/": 73, "mistral/": 146})
    cm = CostModelSettings(storage_tags={"ml/llama/": {"team": "nlp", "model": "llama"}, "ml/llama/ft": {"env": "ft"},
                                         "ml/mistral/": {"model": "mistral"}, "ml/nothing-here/": {"team": "q"}})
    res = allocate.build(con, book=_book(), costmodel=cm)
    t = report.truth_report(con, res.start, res.end)
    team, model = t["cost"]["usage"]["team"], t["cost"]["usage"]["model"]
    assert team["nlp"] == pytest.approx(73 * 0.0146 / 730)  # the longest rule (llama/ft) falls back to llama/
    assert team["platform"] == pytest.approx((730 + 146) * 0.0146 / 730)  # mistral/ keeps the bucket's team
    assert model["mistral"] == pytest.approx(146 * 0.0146 / 730)
    assert model["llama"] == pytest.approx(73 * 0.0146 / 730)
    assert t["cost"]["usage"]["env"]["ft"] == pytest.approx(73 * 0.0146 / 730)
    assert any("ml/nothing-here/" in w for w in res.warnings)
    assert con.execute("SELECT team FROM mart.storage_snapshot WHERE prefix = 'llama/ft/'").fetchone() == ("nlp",)

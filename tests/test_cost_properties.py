"""Property tests of the allocation: conservation per node and hour to the cent, non-negativity, a window
split into parts sums to the whole, and an idempotent rebuild."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from costmodel import allocate
from costmodel import pricebook as pb
from costmodel.testing import RawBuilder
from neocost import warehouse
from neocost.settings import CostModelSettings, LabelSettings

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 19)
GiB = 2**30
N = 24  # two hours of 5-minute intervals
BOOK = pb.parse_toml({
    "node": [{"instance_type": "t", "capacity_type": ct, "gpu_hourly": g, "cpu_core_hourly": c,
              "ram_gib_hourly": r, "source": "test", "as_of": "2026-11-01"}
             for ct, g, c, r in (("on-demand", 2.95, 0.012, 0.0016), ("spot", 1.25, 0.005, 0.0007))],
    "storage": [{"class": "STANDARD", "gib_month": 0.0147, "source": "t", "as_of": "d"}],
    "egress": [{"class": "internet", "gib": 0.09, "source": "t", "as_of": "d"}]})

span = st.tuples(st.integers(0, N - 1), st.integers(1, N)).map(lambda t: (min(t), max(min(t) + 1, max(t))))
node_st = st.fixed_dictionaries({"cores": st.integers(1, 32), "mem": st.integers(1, 128), "gpus": st.integers(0, 4),
                                 "spot": st.booleans(), "span": span})
pod_st = st.fixed_dictionaries({
    "node": st.integers(0, 2), "ns": st.sampled_from(["a", "b", "monitoring"]), "team": st.sampled_from(["x", "y", ""]),
    "cpu": st.floats(0, 8), "mem": st.floats(0, 32), "gpu": st.integers(0, 2), "use_cpu": st.floats(0, 12),
    "use_mem": st.floats(0, 40), "span": span, "running": st.sampled_from([1.0, 0.5]),
    "tx": st.floats(0, 5 * GiB), "relabel": st.integers(0, N)})
cluster_st = st.tuples(st.lists(node_st, min_size=1, max_size=3), st.lists(pod_st, min_size=0, max_size=6),
                       st.sampled_from(["weighted", "even", "none"]))


def _load(con: duckdb.DuckDBPyConnection, nodes: list[dict], pods: list[dict]) -> None:
    r = RawBuilder(con, T0)
    for i, n in enumerate(nodes):
        r.node(f"n{i}", cores=n["cores"], mem_gib=n["mem"], gpus=n["gpus"], instance_type="t",
               capacity_type="spot" if n["spot"] else "on-demand", span=n["span"])
    for j, p in enumerate(pods):
        node = f"n{p['node'] % len(nodes)}"
        req = {"cpu": p["cpu"], "memory": p["mem"] * GiB}
        if p["gpu"]:
            req["nvidia_com_gpu"] = p["gpu"]
        r.pod(p["ns"], f"p{j}", node=node, requests=req, span=p["span"], running=p["running"],
              usage=(p["use_cpu"], p["use_mem"] * GiB))
        if p["relabel"] > 0:
            r.pod_labels(p["ns"], f"p{j}", {"team": p["team"]}, node=node, at=0, until=p["relabel"])
        r.pod_labels(p["ns"], f"p{j}", {"team": "z"}, node=node, at=p["relabel"])
        r.egress(p["ns"], f"p{j}", p["tx"], span=p["span"])
    r.bucket("bkt", 10, tags={"team": "x"})


def _dump(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    rows = con.execute("SELECT * EXCLUDE (hour), hour FROM mart.cost_hourly ORDER BY ALL").fetchall()
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows]


def _fresh(nodes: list[dict], pods: list[dict]) -> duckdb.DuckDBPyConnection:
    con = warehouse.connect(":memory:")
    _load(con, nodes, pods)
    return con


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster_st)
def test_conservation_nonnegativity_split_and_idempotence(cluster: tuple) -> None:
    nodes, pods, mode = cluster
    from neocost.settings import CostModelSettings

    cm = CostModelSettings(share_idle=mode, share_shared=mode)
    start, mid, end = T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    con = _fresh(nodes, pods)
    allocate.build(con, book=BOOK, costmodel=cm, start=start, end=end)

    # conservation per node and hour, to the cent: allocated + idle - overrun = node cost
    for node, hour, nc, alloc, idle, over in con.execute("""
            SELECT node, hour, gpu_cost + cpu_cost + ram_cost, alloc_gpu_cost + alloc_cpu_cost + alloc_ram_cost,
                   idle_gpu_cost + idle_cpu_cost + idle_ram_cost, overrun_cost FROM model.node_hourly""").fetchall():
        assert round(alloc + idle - over, 2) == round(nc, 2), (node, hour)
        if over == 0:
            assert abs(alloc + idle - nc) < 1e-9
    # both bases sum to the bill (node cost + overrun + egress + storage)
    node_cost, over = con.execute("SELECT sum(gpu_cost + cpu_cost + ram_cost), sum(overrun_cost) "
                                  "FROM model.node_hourly").fetchone() or (0, 0)
    usage, allocation, egress, storage = con.execute(
        "SELECT sum(usage_cost), sum(allocation_cost), sum(egress_cost), sum(storage_cost) "
        "FROM mart.cost_hourly").fetchone() or (0, 0, 0, 0)
    bill = (node_cost or 0) + (over or 0) + (egress or 0) + (storage or 0)
    assert usage == pytest.approx(bill, abs=0.005)
    assert allocation == pytest.approx(bill, abs=0.005)
    # non-negativity of every cost except the signed shared transfer
    neg = con.execute("""SELECT count(*) FROM mart.cost_hourly WHERE least(gpu_cost, cpu_cost, ram_cost, egress_cost,
                             storage_cost, idle_gpu_cost, idle_cpu_cost, idle_ram_cost, usage_cost,
                             allocation_cost) < -1e-9""").fetchone()
    assert neg == (0,)

    whole = _dump(con)
    allocate.build(con, book=BOOK, costmodel=cm, start=start, end=end)
    assert _dump(con) == whole  # idempotent rebuild

    split = _fresh(nodes, pods)
    allocate.build(split, book=BOOK, costmodel=cm, start=start, end=mid)
    allocate.build(split, book=BOOK, costmodel=cm, start=mid, end=end)
    assert _dump(split) == whole  # [a, c) == [a, b) + [b, c)
    con.close()
    split.close()


# one container's intervals: a base entry everywhere in its span, a few intervals overridden (requests that
# change, missing request or usage rows, partial or zero running, a row off the interval grid)
entry_st = st.fixed_dictionaries({
    "cpu": st.sampled_from([None, 1.0, 2.0]), "mem": st.sampled_from([None, 4.0]), "gpu": st.sampled_from([None, 1.0]),
    "running": st.sampled_from([1.0, 1.0, 0.5, None, 0.0]), "usage": st.sampled_from([None, (0.5, 2.0), (3.0, 8.0)]),
    "offset": st.sampled_from([0, 0, 0, 60]), "use_offset": st.sampled_from([0, 0, 0, 60])})
timeline_st = st.tuples(entry_st, st.lists(st.tuples(st.integers(0, N - 1), entry_st), max_size=4), span)


def _entry(**kw: object) -> dict:
    return {"cpu": 1.0, "mem": None, "gpu": None, "running": 1.0, "usage": (0.5, 2.0), "offset": 0, "use_offset": 0,
            **kw}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(timeline_st, min_size=1, max_size=3))
# the cases the request runs must send down the per-interval path, or fill in, each on its own:
@example([(_entry(), [(5, _entry(cpu=None))], (0, 12))])  # a hole in the requests
@example([(_entry(), [(k, _entry(mem=4.0)) for k in (3, 4, 5, 6)], (0, 12))])  # overlapping runs
@example([(_entry(), [(4, _entry(offset=60, usage=None))], (0, 12))])  # one row off the interval grid
@example([(_entry(use_offset=60), [], (0, 12))])  # usage rows off the requests' grid
@example([(_entry(), [(4, _entry(usage=None)), (9, _entry(usage=None))], (0, 12))])  # usage missing twice
@example([(_entry(), [(3, _entry(usage=None))], (0, 12)),
          (_entry(), [(5, _entry(usage=None))], (0, 12))])  # two containers miss usage at different intervals
@example([(_entry(), [(0, _entry(running=0.5)), (11, _entry(running=0.0))], (0, 12)),
          (_entry(gpu=1.0, mem=4.0), [(2, _entry(gpu=1.0, mem=4.0, cpu=2.0))], (2, 20))])  # several runs
def test_container_intervals_equal_the_per_interval_merge(timelines: list) -> None:
    """The container rows of a build (allocate ``cm_ctr``, per interval) against a plain per-interval merge in
    Python: per (interval, container) the request rows summed per resource, running = the largest share,
    usage where a usage row exists at that interval, only intervals with request rows and running > 0. The build takes most
    containers through request runs (25_keys / 30_containers); the examples are the cases that must fall back
    to the per-interval path (holes, overlapping runs, rows off the grid) or be filled in (missing usage), and
    usage rows at other times than the requests'."""
    con = warehouse.connect(":memory:")
    r = RawBuilder(con, T0)
    r.node("n0", cores=64, mem_gib=256, gpus=2, instance_type="t", span=(0, N))
    expected: dict[tuple, list[float]] = {}
    for c, (base, overrides, (lo, hi)) in enumerate(timelines):
        over = dict(overrides)
        for k in range(lo, hi):
            e = over.get(k, base)
            ts = T0 + k * r.step + timedelta(seconds=e["offset"])
            reqs = {res: v for res, v in (("cpu", e["cpu"]), ("memory", e["mem"] and e["mem"] * GiB),
                                          ("nvidia_com_gpu", e["gpu"])) if v is not None}
            for res, v in reqs.items():
                con.execute("INSERT INTO raw.container_requests VALUES (?,?,?,?,?,?,?,?,?)",
                            [ts, "a", "p", f"c{c}", "n0", res, v, None, e["running"]])
            if e["usage"]:
                con.execute("INSERT INTO raw.container_usage VALUES (?,?,?,?,?,?)",
                            [ts + timedelta(seconds=e["use_offset"]), "a", "p", f"c{c}", e["usage"][0],
                             e["usage"][1] * GiB])
            run = 1.0 if e["running"] is None else e["running"]
            if reqs and run > 0:
                h = run * 5 / 60
                cpu, mem = reqs.get("cpu", 0.0), reqs.get("memory", 0.0) / GiB
                use_cpu, use_mem = e["usage"] if e["usage"] and not e["use_offset"] else (0.0, 0.0)
                expected[(ts, f"c{c}")] = [reqs.get("nvidia_com_gpu", 0.0) * h, max(cpu, use_cpu) * h, cpu * h,
                                           use_cpu * h, max(mem, use_mem) * h, mem * h, use_mem * h]
    cm, labels = CostModelSettings(), LabelSettings()
    allocate.prepare_versions(con, labels)
    allocate._compute_window(con, cm, labels, BOOK, T0, T0 + timedelta(hours=2), 300)
    rows = con.execute("""
        SELECT c.ts, d.container, c.gpu_hours, c.cpu_core_hours, c.cpu_request_core_hours, c.cpu_usage_core_hours,
               c.ram_gib_hours, c.ram_request_gib_hours, c.ram_usage_gib_hours
        FROM cm_ctr c JOIN cm_cdim d USING (cid)""").fetchall()
    got = {(ts, ctr): list(v) for ts, ctr, *v in rows}
    assert len(rows) == len(got)  # one row per (interval, container)
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, abs=1e-12), key
    con.close()

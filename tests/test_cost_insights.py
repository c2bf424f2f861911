"""Efficiency, savings hints and rolling unit economics on hand-computed cases (every number worked out inline)."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from costmodel import allocate, efficiency, savings, unit_economics
from costmodel import pricebook as pb
from costmodel.testing import RawBuilder
from neocost import warehouse

T0 = datetime(2026, 11, 19)
GiB = 2**30


def _book() -> pb.PriceBook:
    row = {"instance_type": "t", "capacity_type": "on-demand", "gpu_hourly": 2.0, "cpu_core_hourly": 0.05,
           "ram_gib_hourly": 0.01, "source": "test", "as_of": "2026-11-01"}
    return pb.parse_toml({"node": [row],
                          "storage": [{"class": "STANDARD", "gib_month": 0.0146, "source": "t", "as_of": "2026"}]})


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = warehouse.connect(":memory:")
    r = RawBuilder(c, T0)
    # one on-demand node with 2 GPUs for two hours (24 intervals)
    r.node("n1", cores=16, mem_gib=64, gpus=2, instance_type="t", span=(0, 24),
           gpu_product="NVIDIA-H100-80GB-HBM3")
    # chat: an inference Deployment on 1 GPU, 20 % busy; CPU 2 requested, 1 used; RAM 8 GiB requested, 2 used
    r.pod("serve", "chat-0", node="n1", requests={"cpu": 2, "memory": 8 * GiB, "nvidia_com_gpu": 1},
          usage=(1, 2 * GiB), labels={"team": "a", "model": "chat"}, span=(0, 24))
    # train: a Job on the other GPU, 90 % busy, on on-demand capacity
    r.pod("ml", "train-0", node="n1", requests={"cpu": 4, "memory": 16 * GiB, "nvidia_com_gpu": 1},
          usage=(4, 16 * GiB), labels={"team": "b"}, owner=("Job", "train"), span=(0, 24))
    for i, ts in enumerate(r.ticks(0, 24)):
        c.execute("INSERT INTO raw.gpu_usage (ts, node, gpu_uuid, namespace, pod, container, util) "
                  "VALUES (?, 'n1', 'GPU-0', 'serve', 'chat-0', 'main', 0.2), "
                  "(?, 'n1', 'GPU-1', 'ml', 'train-0', 'main', 0.9)", [ts, ts])
    # chat serves 100 requests of 1,000 input + 250 output tokens per interval, in the second hour only
    r.inference("serve", "chat-0", model="chat-served", requests=100, input_tokens=100_000, output_tokens=25_000,
                span=(12, 24))
    # 100 GiB of stale checkpoints and 50 GiB of noncurrent versions in a bucket of team b
    r.bucket("ckpt", 200, tags={"team": "b"}, stale_gib=100, noncurrent_gib=50)
    allocate.build(c, book=_book(), start=T0, end=T0 + timedelta(hours=2))
    yield c
    c.close()


def test_efficiency_by_model_and_team(con: duckdb.DuckDBPyConnection) -> None:
    rows = {r["key"]: r for r in efficiency.efficiency(con, T0, T0 + timedelta(hours=2), by="team")}
    a, b = rows["a"], rows["b"]
    # 1 GPU x 2 h each; used = 2 h x 0.2 = 0.4 and 2 h x 0.9 = 1.8 GPU-hours
    assert a["gpu_hours"] == pytest.approx(2.0) and a["gpu_used_hours"] == pytest.approx(0.4)
    assert a["gpu_utilisation"] == pytest.approx(0.2) and b["gpu_utilisation"] == pytest.approx(0.9)
    # GPU dollars not used: 2 h x $2 x 0.8 = $3.20 and 2 h x $2 x 0.1 = $0.40; rows sorted by it
    assert a["idle_gpu_dollars"] == pytest.approx(3.2) and b["idle_gpu_dollars"] == pytest.approx(0.4)
    assert list(rows) == ["a", "b"]
    # CPU over-request: (2 - 1) cores x 2 h = 2 core-hours = $0.10; RAM (8 - 2) GiB x 2 h = 12 GiB-h = $0.12
    assert a["cpu_over_request_core_hours"] == pytest.approx(2.0)
    assert a["cpu_over_request_dollars"] == pytest.approx(0.10)
    assert a["ram_over_request_gib_hours"] == pytest.approx(12.0)
    assert a["ram_over_request_dollars"] == pytest.approx(0.12)
    assert a["cpu_efficiency"] == pytest.approx(0.5) and b["cpu_over_request_core_hours"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="efficiency by"):
        efficiency.efficiency(con, T0, T0 + timedelta(hours=2), by="colour")


def test_idle_gpu_dollars_by_node_pool(con: duckdb.DuckDBPyConnection) -> None:
    # both GPUs are requested the whole time: no unallocated GPU capacity
    assert efficiency.idle_gpu_dollars_by_node_pool(con, T0, T0 + timedelta(hours=2)) == {"pool": pytest.approx(0.0)}


def test_savings_hints_with_dollars(con: duckdb.DuckDBPyConnection) -> None:
    hints = {(h.kind, h.target): h for h in savings.hints(con, T0, T0 + timedelta(hours=2))}
    # right-size chat: 20 % busy -> ceil(0.2 x 7) = 2 MIG slices of 7; GPU cost $4 x (1 - 2/7) = $2.857143
    rs = hints[("right-size", "chat")]
    assert rs.dollars == pytest.approx(4 * (1 - 2 / 7))
    assert rs.dollars_per_30d == pytest.approx(rs.dollars * 720 / 2)
    # the training Job runs on on-demand H100s; no spot row in the book -> the default ratio 1.25 / 2.95
    sp = hints[("spot", "train")]
    assert sp.dollars == pytest.approx(4 * (1 - 1.25 / 2.95))
    # 100 GiB stale at $0.0146/GiB-month = $1.46/month -> over 2 h: 1.46 x 2 / 730; per 30 days 1.46 x 720 / 730
    st = hints[("lifecycle-stale", "ckpt")]
    assert st.dollars == pytest.approx(1.46 * 2 / 730) and st.dollars_per_30d == pytest.approx(1.46 * 720 / 730)
    nc = hints[("lifecycle-noncurrent", "ckpt")]
    assert nc.dollars_per_30d == pytest.approx(50 * 0.0146 * 720 / 730)
    assert ("right-size", "__unallocated__") not in hints  # train (90 % busy) gets no right-size hint
    assert [h.dollars for h in savings.hints(con, T0, T0 + timedelta(hours=2))] == sorted(
        (h.dollars for h in hints.values()), reverse=True)


def test_rolling_windows_and_hourly_series(con: duckdb.DuckDBPyConnection) -> None:
    end = T0 + timedelta(hours=2)
    roll = unit_economics.rolling(con, end, by="model")
    assert set(roll) == {"1h", "24h", "7d"}
    last_hour = roll["1h"]["chat"]
    # second hour: 12 intervals x 100 requests; usage cost = GPU $2 + CPU 2 x 0.05 + RAM 8 x 0.01 = $2.18
    assert last_hour["requests"] == 1200
    assert last_hour["cost"]["usage"] == pytest.approx(2.18)
    assert last_hour["cost_per_inference"]["usage"] == pytest.approx(2.18 / 1200)
    # tokens 12 x 125,000 = 1.5 M -> $2.18 / 1,500 per 1K tokens
    assert last_hour["cost_per_1k_tokens"]["usage"] == pytest.approx(2.18 / 1500)
    # the 24 h window sees both hours' cost ($4.36) but the same requests
    assert roll["24h"]["chat"]["cost"]["usage"] == pytest.approx(4.36)
    assert roll["24h"]["chat"]["requests"] == 1200
    series = unit_economics.hourly_series(con, T0, end, by="model")
    chat = [row for row in series if row["model"] == "chat"]
    assert [row["hour"] for row in chat] == [T0 + timedelta(hours=1)]  # only the hour with traffic
    assert chat[0]["cost_per_1k_tokens_usage"] == pytest.approx(2.18 / 1500)

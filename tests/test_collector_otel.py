"""OTel GenAI metrics with UTF-8 (dotted) names, as Prometheus 3 keeps them (telemetry.md §6): the catalog's
queries parse on the installed Prometheus (2.x syntax) and, against a real Prometheus fed by remote write (its
OpenMetrics parser, and so promtool's backfill, rejects dotted names), give the dotted series exactly the numbers
of identical underscore series."""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import requests

from collector.prometheus.catalog import inference_queries, label_expr
from collector.prometheus.collect import collect_prometheus
from neocost import services, warehouse
from neocost.settings import Settings

OTEL = {q.name: q for q in inference_queries() if q.server == "otel"}


def test_dotted_spelling_is_ored_with_the_underscore_one() -> None:
    q = OTEL["otel_input_tokens"].promql("5m")
    under, dotted = q.split(" or ", 1)
    assert under == 'last_over_time(gen_ai_client_token_usage_sum{gen_ai_token_type="input"}[5m])'
    assert '{__name__=~"gen_ai[.]client[.]token[.]usage_sum"}[5m]' in dotted
    assert '"gen_ai_token_type", "$1", "gen_ai.token.type", "(.+)"' in dotted
    assert 'label_replace(vector(1), "gen_ai_token_type", "input", "", "")' in dotted
    assert '"error.type"' in OTEL["otel_errors"].promql("5m") and "unless on(error_type) vector(1)" in OTEL[
        "otel_errors"].promql("5m")
    assert 'duration(_seconds)?_bucket"}' in OTEL["otel_e2e_bucket"].promql("5m")
    # quoted label names are Prometheus-3-only syntax: never in a selector
    assert all('{"' not in q.expr for q in OTEL.values())
    for q in OTEL.values():
        assert {"gen_ai_request_model", "gen_ai_response_model"} <= set(q.fold), q.name
    labels = pl.DataFrame({"gen_ai.request.model": ["m-d", "", None], "gen_ai_request_model": [None, "m-u", "x"]})
    folded = labels.select(label_expr("gen_ai_request_model", labels.columns, fold=True))
    assert folded.to_series().to_list() == ["m-d", "m-u", "x"]


def test_queries_parse_on_the_installed_prometheus(require_binary: Callable[[str], Path], tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rules = "groups:\n- name: otel\n  rules:\n" + "".join(
        f"  - record: neocost:{name}\n    expr: '{q.promql('5m')}'\n" for name, q in OTEL.items())
    (tmp_path / "rules.yml").write_text(rules)
    out = subprocess.run([str(promtool), "check", "rules", str(tmp_path / "rules.yml")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(OTEL)} rules found" in out.stdout


# --- remote write by hand: protobuf WriteRequest + snappy with literal blocks only (no codec dependency) ---------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _ld(field: int, body: bytes) -> bytes:  # length-delimited protobuf field
    return _varint(field << 3 | 2) + _varint(len(body)) + body


def _series(labels: dict[str, str], points: list[tuple[int, float]]) -> bytes:
    lab = b"".join(_ld(1, _ld(1, k.encode()) + _ld(2, v.encode())) for k, v in sorted(labels.items()))
    pts = b"".join(_ld(2, _varint(1 << 3 | 1) + struct.pack("<d", v) + _varint(2 << 3) + _varint(t))
                   for t, v in points)
    return _ld(1, lab + pts)


def _snappy(data: bytes) -> bytes:
    out = bytearray(_varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        out += bytes([61 << 2]) + (len(chunk) - 1).to_bytes(2, "little") + chunk
    return bytes(out)


STEP_MIN = 1
RATES = {"input": 100.0, "output": 30.0, "count": 2.0, "errors": 1.0, "ok_calls": 2.0, "le1": 1.0, "inf": 3.0}


def _otel_series(dotted: bool, model: str, pod: str) -> list[tuple[dict[str, str], str]]:
    """(labels, rate key) of one exporter's series, in the underscore or the dotted spelling."""
    base = {"namespace": "ml", "pod": pod}
    if not dotted:
        m = {"gen_ai_request_model": model, **base}
        return [({"__name__": "gen_ai_client_token_usage_sum", "gen_ai_token_type": "input", **m}, "input"),
                ({"__name__": "gen_ai_client_token_usage_sum", "gen_ai_token_type": "output", **m}, "output"),
                ({"__name__": "gen_ai_client_token_usage_count", "gen_ai_token_type": "input", **m}, "count"),
                ({"__name__": "gen_ai_client_token_usage_count", "gen_ai_token_type": "output", **m}, "count"),
                ({"__name__": "gen_ai_client_operation_duration_seconds_count", "error_type": "timeout", **m},
                 "errors"),
                ({"__name__": "gen_ai_client_operation_duration_seconds_count", **m}, "ok_calls"),
                ({"__name__": "gen_ai_client_operation_duration_seconds_bucket", "le": "1", **m}, "le1"),
                ({"__name__": "gen_ai_client_operation_duration_seconds_bucket", "le": "+Inf", **m}, "inf")]
    m = {"gen_ai.request.model": model, "gen_ai.operation.name": "chat", **base}
    # NoUTF8EscapingWithSuffixes spelling (…_seconds_count), and the NoTranslation one for the buckets
    return [({"__name__": "gen_ai.client.token.usage_sum", "gen_ai.token.type": "input", **m}, "input"),
            ({"__name__": "gen_ai.client.token.usage_sum", "gen_ai.token.type": "output", **m}, "output"),
            ({"__name__": "gen_ai.client.token.usage_count", "gen_ai.token.type": "input", **m}, "count"),
            ({"__name__": "gen_ai.client.token.usage_count", "gen_ai.token.type": "output", **m}, "count"),
            ({"__name__": "gen_ai.client.operation.duration_seconds_count", "error.type": "timeout", **m}, "errors"),
            ({"__name__": "gen_ai.client.operation.duration_seconds_count", **m}, "ok_calls"),
            ({"__name__": "gen_ai.client.operation.duration_bucket", "le": "1", **m}, "le1"),
            ({"__name__": "gen_ai.client.operation.duration_bucket", "le": "+Inf", **m}, "inf")]


@pytest.fixture(scope="module")
def otel_prometheus(require_binary: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[services.PrometheusServer, datetime]]:
    """A Prometheus with one hour of per-minute OTel samples (remote write needs recent times), both spellings."""
    require_binary("prometheus")
    now = time.time()
    t0 = datetime.fromtimestamp(now - now % 300 - 3600, UTC).replace(tzinfo=None)
    ms0 = int(t0.replace(tzinfo=UTC).timestamp() * 1000)
    with services.PrometheusServer(tmp_path_factory.mktemp("otel-tsdb"),
                                   extra_args=["--web.enable-remote-write-receiver"]) as prom:
        body = b"".join(
            _series(labels, [(ms0 + i * 60_000, RATES[rate] * i) for i in range(61)])
            for dotted, model, pod in ((False, "m-u", "p-u"), (True, "m-d", "p-d"))
            for labels, rate in _otel_series(dotted, model, pod))
        # the collector always reads kube-state-metrics metadata; without any ksm series metadata.node_states
        # fails (reported): give it one node
        body += _series({"__name__": "kube_node_labels", "node": "n1"}, [(ms0 + i * 60_000, 1.0) for i in range(61)])
        r = requests.post(prom.url + "/api/v1/write", data=_snappy(body), timeout=30,
                          headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                   "X-Prometheus-Remote-Write-Version": "0.1.0"})
        assert r.status_code == 204, r.text
        yield prom, t0


@pytest.mark.integration
def test_dotted_series_collect_like_underscore_ones(otel_prometheus: tuple[services.PrometheusServer, datetime]
                                                    ) -> None:
    prom, t0 = otel_prometheus
    names = requests.get(prom.url + "/api/v1/label/__name__/values", timeout=30).json()["data"]
    assert "gen_ai.client.token.usage_sum" in names  # stored with the dots, as Prometheus 3 would
    con = warehouse.connect(":memory:")
    start, end = t0 + timedelta(minutes=10), t0 + timedelta(minutes=40)
    s = Settings(prometheus={"url": prom.url, "retries": 0})
    res = collect_prometheus(s, con, start=start, end=end)
    assert res.status == "ok", res.skipped
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT model, pod, count(DISTINCT ts), sum(requests), sum(successes), sum(errors), sum(input_tokens), "
        "sum(output_tokens) FROM raw.inference WHERE server = 'otel' GROUP BY ALL").fetchall()}
    # 30 one-minute increments: successes = input-token observations (2/min), errors = error.type set (1/min)
    assert got == {"m-u": ("p-u", 6, 90.0, 60.0, 30.0, 3000.0, 900.0),
                   "m-d": ("p-d", 6, 90.0, 60.0, 30.0, 3000.0, 900.0)}
    lat = con.execute("SELECT model, le, sum(count) FROM raw.inference_latency WHERE server = 'otel' "
                      "AND metric = 'e2e' GROUP BY ALL ORDER BY ALL").fetchall()
    assert lat == [("m-d", 1.0, 30.0), ("m-d", float("inf"), 90.0), ("m-u", 1.0, 30.0), ("m-u", float("inf"), 90.0)]

"""Prometheus collector, pure parts: shards on the step grid, matrix decoding, counter deltas, normalisers fed
literal JSON and the real scrapes in ../shared/samples (parsed with prometheus_client's parser)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from collector.prometheus import catalog, normalize
from collector.prometheus.client import decode_matrix
from collector.prometheus.fastmatrix import Matrix, decode_labels
from collector.prometheus.parts import Part
from collector.prometheus.shards import EPS_MS, Shard, ms, split_window
from collector.prometheus.spool import Spool
from neocost import warehouse

W0 = datetime(2026, 11, 19)
STEP = 300


def shard(n: int = 4) -> Shard:
    return Shard(ms(W0), STEP * 1000, 0, n)


def series(metric: dict[str, str], values: list[tuple[int, float | str]]) -> dict:
    return {"metric": metric, "values": [[t / 1000, str(v)] for t, v in values]}


# --- shards ----------------------------------------------------------------------------------------------------

@settings(deadline=None, max_examples=60)
@given(n=st.integers(1, 3000), parts=st.integers(1, 8), max_points=st.integers(100, 1000))
def test_shards_cover_every_interval_once(n: int, parts: int, max_points: int) -> None:
    shards = split_window(W0, W0 + timedelta(seconds=STEP * n), STEP, max_points=max_points, parts=parts)
    covered = [i for s in shards for i in range(s.i0, s.i1)]
    assert covered == list(range(n))
    assert all(s.points <= max_points - 1 for s in shards)
    # consecutive gauge shards evaluate on one grid with no gap and no duplicate point
    evals = [t for s in shards for t in range(s.eval_range(False)[0], s.eval_range(False)[1] + 1, STEP * 1000)]
    assert evals == [ms(W0) + (i + 1) * STEP * 1000 - EPS_MS for i in range(n)]


def test_counter_shard_fetches_its_baseline_point() -> None:
    s = Shard(ms(W0), STEP * 1000, 2, 5)
    first, last = s.eval_range(counter=True)
    assert first == ms(W0) + 2 * STEP * 1000 - 1 and last == ms(W0) + 5 * STEP * 1000 - 1
    assert s.eval_range(counter=False)[0] == first + STEP * 1000


# --- decoding --------------------------------------------------------------------------------------------------

def test_decode_matrix_of_the_documented_example(samples_dir: Path) -> None:
    body = (samples_dir / "prometheus-api-query_range.txt").read_text().split("\n", 1)[1]
    result = decode_matrix(body.encode())
    frame = normalize.matrix_to_frame(result, ("job", "instance"), 15_000)
    assert frame.height == 6
    assert frame.filter(pl.col("job") == "node")["v"].to_list() == [0.0, 0.0, 1.0]
    assert frame["t"].to_list()[:3] == [1435781430781, 1435781445781, 1435781460781]


def test_decode_matrix_names_the_query_on_errors() -> None:
    from collector.prometheus.client import QueryFailed
    with pytest.raises(QueryFailed, match="q1.*bad_data|q1.*parse error"):
        decode_matrix(orjson.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}), "q1")


def test_matrix_with_gaps_nan_and_inf() -> None:
    s = shard(4)
    t = [s.eval_range(False)[0] + i * 300_000 for i in range(4)]
    res = [series({"pod": "a"}, [(t[0], 1), (t[2], "NaN"), (t[3], "+Inf")]), series({}, [(t[1], 2)])]
    f = normalize.matrix_to_frame(res, ("pod",), 300_000)
    assert f["t"].to_list() == [t[0], t[2], t[3], t[1]]
    assert f["pod"].to_list() == ["a", "a", "a", ""]
    rows = normalize.gauge_rows(f, s)
    assert rows["v"].to_list() == [1.0, 2.0]  # NaN and Inf dropped
    assert rows["ts"].to_list() == [ms(W0), ms(W0) + 300_000]


# --- counters --------------------------------------------------------------------------------------------------

def _deltas(points: dict[str, list[tuple[int, float]]], n: int = 4) -> dict[str, list[float]]:
    s = shard(n)
    base = s.eval_range(True)[0]
    res = [series({"pod": k}, [(base + i * 300_000, v) for i, v in pts]) for k, pts in points.items()]
    out = normalize.counter_deltas(normalize.matrix_to_frame(res, ("pod",), 300_000), s)
    return {k: out.filter(pl.col("pod") == k).sort("ts")["v"].to_list() for k in points}


def test_counter_deltas_reset_birth_and_baseline() -> None:
    d = _deltas({"steady": [(0, 10), (1, 15), (2, 15), (3, 40), (4, 41)],
                 "reset": [(0, 100), (1, 120), (2, 5), (3, 9), (4, 9)],
                 "born": [(2, 7), (3, 8), (4, 20)],
                 "gap": [(0, 1), (1, 3), (3, 10)]})
    assert d["steady"] == [5, 0, 25, 1]
    assert d["reset"] == [20, 5, 4, 0]
    assert d["born"] == [7, 1, 12]
    assert d["gap"] == [2, 7]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=40), st.integers(1, 39))
def test_two_shards_sum_to_one(incs: list[int], cut: int) -> None:
    """Collecting two halves equals collecting the whole (each shard has its own baseline)."""
    n = len(incs)
    cut = min(cut, n - 1)
    values = [sum(incs[:i + 1]) for i in range(n)]  # value at eval i (i = 0 is the baseline)
    base = ms(W0) - EPS_MS

    def run(s: Shard) -> list[float]:
        lo, hi = s.eval_range(True)
        pts = [(base + i * 300_000, v) for i, v in enumerate(values) if lo <= base + i * 300_000 <= hi]
        f = normalize.matrix_to_frame([series({"x": "1"}, pts)], ("x",), 300_000)
        return normalize.counter_deltas(f, s)["v"].to_list()

    whole = run(Shard(ms(W0), 300_000, 0, n - 1))
    halves = run(Shard(ms(W0), 300_000, 0, cut)) + run(Shard(ms(W0), 300_000, cut, n - 1))
    assert whole == halves == [float(x) for x in incs[1:]]


# --- normalisers on literal frames -----------------------------------------------------------------------------

def _frames(spec: dict[str, list[tuple[dict[str, str], float]]], n: int = 1) -> dict[str, Part]:
    """Per query name: one gauge value (or one counter value born in the range) at the first interval, as the
    collector builds it."""
    s = shard(n)
    by = {q.name: q for q in catalog.catalog()}
    out = {}
    for name, rows in spec.items():
        q = by[name]
        t = s.eval_range(q.counter)[0] + (300_000 if q.counter else 0)
        res = [series(m, [(t, v)]) for m, v in rows]
        m = Matrix.from_result(res)
        out[name] = normalize.rows_from_matrix(q, m, s)
    return out


def test_container_requests_joins_requests_limits_running() -> None:
    c = {"namespace": "ml", "pod": "train-0", "container": "main"}
    f = _frames({"k8s_requests": [(c | {"node": "", "resource": "nvidia_com_gpu"}, 8),
                                  (c | {"node": "gpu-1", "resource": "nvidia_com_gpu"}, 8),
                                  (c | {"node": "gpu-1", "resource": "cpu"}, 4)],
                 "k8s_limits": [(c | {"node": "gpu-1", "resource": "memory"}, 2**30)],
                 "k8s_running": [(c, 0.6)]})
    df = normalize.container_requests(f, STEP).sort("resource")
    assert df["node"].dtype == pl.Utf8
    assert df.select("resource", "node", "request", "limit", "running").rows() == [
        ("cpu", "gpu-1", 4.0, None, 0.6), ("memory", "gpu-1", None, float(2**30), 0.6),
        ("nvidia_com_gpu", "gpu-1", 8.0, None, 0.6)]
    assert df["ts"].to_list() == [W0] * 3


def test_gpu_usage_prefers_prof_ratio_and_drops_exporter_pod() -> None:
    g = {"node": "n1", "gpu_uuid": "GPU-1", "gpu": "0", "modelName": "H100", "GPU_I_PROFILE": "",
         "GPU_I_ID": "", "namespace": "kube-system", "pod": "nvidia-dcgm-exporter-abcde",
         "container": "nvidia-dcgm-exporter"}
    m = g | {"gpu_uuid": "GPU-2", "GPU_I_PROFILE": "1g.10gb", "GPU_I_ID": "3", "namespace": "ml", "pod": "p",
             "container": "c"}
    f = _frames({"dcgm_util": [(g, 40.0)], "dcgm_gr_active": [(m, 0.25)],
                 "dcgm_fb_used": [(g, 100.0), (m, 8600.0)], "dcgm_power": [(g, 9223372036854775794.0)]})
    df = normalize.gpu_usage(f, STEP).sort("gpu_uuid")
    assert df.select("gpu_uuid", "util", "fb_used_mib", "power_w", "pod", "mig_profile", "mig_instance").rows() == [
        ("GPU-1", 0.4, 100.0, None, "", "", ""), ("GPU-2", 0.25, 8600.0, None, "p", "1g.10gb", "3")]


# --- the real scrapes in ../shared/samples -----------------------------------------------------------------------

def _scrape(path: Path) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), s.value)
            for fam in text_string_to_metric_families(path.read_text()) for s in fam.samples]


def _from_scrape(samples: list[tuple[str, dict[str, str], float]], wanted: dict[str, tuple[str, dict[str, str]]],
                 extra: dict[str, str] | None = None) -> dict[str, Part]:
    """query name -> (sample name, label filter): the normaliser input a scrape gives for one interval."""
    spec: dict[str, list[tuple[dict[str, str], float]]] = {}
    for qname, (sname, match) in wanted.items():
        spec[qname] = [((extra or {}) | labels, v) for name, labels, v in samples
                       if name == sname and all(labels.get(k) == v2 for k, v2 in match.items())]
    return _frames(spec)


POD = {"namespace": "inference", "pod": "srv-0"}


def test_vllm_sample(samples_dir: Path) -> None:
    s = _scrape(samples_dir / "vllm.txt")
    f = _from_scrape(s, {"vllm_requests": ("vllm:request_success_total", {}),
                         "vllm_errors": ("vllm:request_success_total", {"finished_reason": "abort"}),
                         "vllm_output_tokens": ("vllm:generation_tokens_total", {}),
                         "vllm_ttft_bucket": ("vllm:time_to_first_token_seconds_bucket", {})}, POD)
    q = catalog.inference_queries()
    row = normalize.inference(q, f, STEP).row(0, named=True)
    assert (row["server"], row["model"], row["requests"], row["successes"], row["errors"], row["output_tokens"]) == (
        "vllm", "meta-llama/Llama-3.1-8B-Instruct", 132.0, 132.0, 0.0, 27453.0)
    lat = normalize.inference_latency(q, f, STEP).sort("le")
    assert lat["le"].to_list()[:2] == [0.001, 0.005] and lat["count"].to_list()[-1] == 140.0


def test_sglang_sample(samples_dir: Path) -> None:
    s = _scrape(samples_dir / "sglang.txt")
    f = _from_scrape(s, {"sglang_input_tokens": ("sglang:prompt_tokens_total", {}),
                         "sglang_output_tokens": ("sglang:generation_tokens_total", {}),
                         "sglang_e2e_bucket": ("sglang:e2e_request_latency_seconds_bucket", {})}, POD)
    q = catalog.inference_queries()
    row = normalize.inference(q, f, STEP).row(0, named=True)
    assert (row["input_tokens"], row["output_tokens"]) == (8128902.0, 7557572.0)
    lat = normalize.inference_latency(q, f, STEP)
    assert lat.filter(pl.col("le") == math.inf)["count"].to_list() == [11228.0]
    assert lat.height == 16


def test_triton_sample(samples_dir: Path) -> None:
    f = _from_scrape(_scrape(samples_dir / "triton.txt"),
                     {"triton_successes": ("nv_inference_request_success", {})}, POD)
    row = normalize.inference(catalog.inference_queries(), f, STEP).row(0, named=True)
    assert (row["model"], row["successes"], row["requests"], row["errors"]) == ("my_model", 161.0, 161.0, None)


def test_tgi_sample_has_no_model(samples_dir: Path) -> None:
    # prometheus_client's parser appends _total to counter samples; Prometheus stores tgi_request_count as is
    f = _from_scrape(_scrape(samples_dir / "tgi.txt"), {"tgi_requests": ("tgi_request_count_total", {})}, POD)
    row = normalize.inference(catalog.inference_queries(), f, STEP).row(0, named=True)
    assert (row["server"], row["model"], row["requests"]) == ("tgi", "", 1.0)


def test_otel_genai_sample(samples_dir: Path) -> None:
    s = _scrape(samples_dir / "otel-genai-python-prometheus-exporter.txt")
    f = _from_scrape(s, {"otel_successes": ("gen_ai_client_token_usage_count", {"gen_ai_token_type": "input"}),
                         "otel_input_tokens": ("gen_ai_client_token_usage_sum", {"gen_ai_token_type": "input"}),
                         "otel_output_tokens": ("gen_ai_client_token_usage_sum", {"gen_ai_token_type": "output"})},
                     POD)
    row = normalize.inference(catalog.inference_queries(), f, STEP).row(0, named=True)
    inputs = [v for n, lab, v in s if n == "gen_ai_client_token_usage_sum" and lab["gen_ai_token_type"] == "input"]
    assert row["model"] == "gpt-4" and row["input_tokens"] == sum(inputs) > 0
    assert row["requests"] == row["successes"] >= 1


def test_kube_state_metrics_sample(samples_dir: Path) -> None:
    s = _scrape(samples_dir / "kube-state-metrics.txt")
    f = _from_scrape(s, {"k8s_requests": ("kube_pod_container_resource_requests", {}),
                         "node_capacity": ("kube_node_status_capacity", {})})
    req = normalize.container_requests(f, STEP)
    # ephemeral_storage/storage are not in the catalog's resource filter; the sample's rows all pass here
    got = {(r["container"], r["resource"]): r["request"] for r in req.iter_rows(named=True)}
    assert got[("pod1_con1", "nvidia_com_gpu")] == 1.0 and got[("pod1_con2", "memory")] == 2e8
    cap = normalize.node_capacity(f, STEP)
    assert dict(cap.select("resource", "capacity").rows())["nvidia_com_gpu"] == 4.0


def test_cadvisor_sample_sums_cpus(samples_dir: Path) -> None:
    s = _scrape(samples_dir / "cadvisor.txt")
    # the standalone sample has no pod labels: give the series the kubelet's
    f = _from_scrape(s, {"cadvisor_cpu": ("container_cpu_usage_seconds_total", {}),
                         "cadvisor_memory": ("container_memory_working_set_bytes", {}),
                         "cadvisor_tx": ("container_network_transmit_bytes_total", {})},
                     {"namespace": "ns", "pod": "p", "container": "c"})
    usage = normalize.container_usage(f, STEP).row(0, named=True)
    assert usage["cpu_cores"] == pytest.approx((2e-9 + 3e-9 + 4e-9 + 5e-9) / STEP)
    assert usage["memory_bytes"] == 9.0
    assert normalize.pod_network(f, STEP)["tx_bytes"].to_list() == [18.0]


def test_dcgm_sample_drops_the_blank_sentinel(samples_dir: Path) -> None:
    s = _scrape(samples_dir / "dcgm-exporter.txt")
    temps = [(lab, v) for n, lab, v in s if n == "DCGM_FI_DEV_MEMORY_TEMP"]
    assert temps and temps[0][1] == 9223372036854775794
    g = {"node": "n", "gpu_uuid": temps[0][0]["UUID"]}
    f = _frames({"dcgm_power": [(g, temps[0][1])], "dcgm_fb_used": [(g, 405.0)]})
    row = normalize.gpu_usage(f, STEP).row(0, named=True)
    assert row["power_w"] is None and row["fb_used_mib"] == 405.0 and row["gpu_uuid"].startswith("GPU-604ac76c")


def test_catalog_names_are_unique_and_promql_has_no_increase() -> None:
    qs = catalog.catalog()
    assert len({q.name for q in qs}) == len(qs)
    assert not [q.name for q in qs if "increase(" in q.expr or "rate(" in q.expr]
    assert all("last_over_time" in q.expr for q in qs if q.counter)


def test_spool_inserts_and_replaces_only_the_given_window(tmp_path: Path) -> None:
    con = warehouse.connect(":memory:")
    sp = Spool(tmp_path / "spool")

    def rows(hour: int, pods: list[str]) -> pl.DataFrame:
        return pl.DataFrame({"ts": [W0 + timedelta(hours=hour)] * len(pods), "namespace": ["ml"] * len(pods),
                             "pod": pods, "tx_bytes": [1.0] * len(pods), "rx_bytes": [2.0] * len(pods)})

    assert sp.insert(con, "raw.pod_network", rows(0, ["a", "b"])) == 2
    assert sp.insert(con, "raw.pod_network", rows(5, ["c"])) == 1
    # a window's first batch replaces [start, end); later batches append
    assert sp.insert(con, "raw.pod_network", rows(1, ["d"]), start=W0, end=W0 + timedelta(hours=4)) == 1
    assert sp.insert(con, "raw.pod_network", rows(2, [])) == 0
    got = con.execute("SELECT pod, rx_bytes FROM raw.pod_network ORDER BY pod").fetchall()
    assert got == [("c", 2.0), ("d", 2.0)]
    assert list((tmp_path / "spool").iterdir()) == []  # each file is gone once inserted


def test_ksm_metadata_when_no_pod_has_labels() -> None:
    """kube_pod_labels without any series: the (empty) label frame still joins the categorical pod keys, and
    the versions (all-null columns included) are written with labels as an empty MAP."""
    from collector.prometheus import metadata
    from neocost.settings import load_settings
    s = shard()
    pod = {"namespace": "a", "pod": "p", "uid": "u", "node": "n", "phase": "Running", "owner_kind": "Job",
           "owner_name": "etl-28000000", "owner_is_controller": "true"}
    frames = {}
    for q in catalog.catalog():
        t = s.eval_range(q.counter)[1]
        one = {"ksm_pod_info": pod, "ksm_pod_owner": pod, "ksm_node_labels": {"node": "n", "label_zone": "z"},
               "ksm_namespace_labels": {"namespace": "a", "label_team": "t"}}.get(q.name)
        m = Matrix.from_result([series(one, [(t, 1.0)])]) if one else Matrix.empty()
        frames[q.name] = normalize.rows_from_matrix(q, m, s)
    settings_ = load_settings(None, {"prometheus": {"url": "http://x"}}, environ={})
    out = metadata.build(frames, W0, W0 + timedelta(minutes=20), STEP, settings_)
    pods = out["raw.k8s_pod"].to_pylist()
    assert [(p["pod"], p["controller_kind"], p["controller_name"], p["labels"]) for p in pods] == [
        ("p", "CronJob", "etl", [])]
    assert pods[0]["valid_to"] - pods[0]["valid_from"] == timedelta(minutes=5)
    con = warehouse.connect(":memory:")
    with warehouse.transaction(con):
        counts = metadata.write(con, out, W0, W0 + timedelta(minutes=20))
    assert counts == {"raw.k8s_pod": 1, "raw.k8s_namespace": 1, "raw.k8s_node": 1}
    assert con.execute("SELECT pod, node, controller_kind, labels, valid_from FROM raw.k8s_pod").fetchall() == [
        ("p", "n", "CronJob", {}, pods[0]["valid_from"])]
    assert con.execute("SELECT labels FROM raw.k8s_namespace").fetchall() == [({"team": "t"},)]
    assert con.execute("SELECT node, labels FROM raw.k8s_node").fetchall() == [("n", {"zone": "z"})]


def test_ksm_metadata_without_any_kube_state_metrics() -> None:
    """A Prometheus with inference metrics but no kube-state-metrics at all: no metadata, no crash."""
    from collector.prometheus import metadata
    from neocost.settings import load_settings
    s = shard()
    empty = Matrix.empty()
    frames = {q.name: normalize.rows_from_matrix(q, empty, s) for q in catalog.catalog()}
    settings_ = load_settings(None, {"prometheus": {"url": "http://x"}}, environ={})
    out = metadata.build(frames, W0, W0 + timedelta(minutes=20), STEP, settings_)
    assert out and all(t.num_rows == 0 for t in out.values())


def test_ksm_node_states_facts_per_interval() -> None:
    """Node facts from kube-state-metrics labels and capacity, per interval: a capacity-type relabel and a
    missing capacity row change the facts of exactly those intervals (facts are derived once per distinct
    labels + capacity and joined back)."""
    from collector.prometheus import metadata
    from neocost.settings import load_settings
    frames = {
        "ksm_node_labels": pl.DataFrame({
            "ts": [0, 0, 300, 300, 600], "node": ["a", "b", "a", "b", "a"],
            "label_node_kubernetes_io_instance_type": ["gpu-h100", "cpu-x", "gpu-h100", "cpu-x", "gpu-h100"],
            "label_nvidia_com_gpu_product": ["H100", None, "H100", None, "H100"],
            "label_karpenter_sh_capacity_type": ["spot", "on-demand", "spot", "on-demand", "on-demand"],
            "v": [1.0] * 5}),
        "node_capacity": pl.DataFrame({
            "ts": [0, 0, 0, 300, 300, 0, 600], "node": ["a", "a", "a", "a", "a", "b", "a"],
            "resource": ["cpu", "memory", "nvidia_com_gpu", "cpu", "nvidia_com_gpu", "cpu", "ephemeral"],
            "v": [128.0, 1e12, 8.0, 128.0, 8.0, 16.0, 5.0]}),
    }
    parts = {name: Part.from_rows(df) for name, df in frames.items()}
    settings_ = load_settings(None, {"prometheus": {"url": "http://x"}}, environ={})
    got = metadata.node_states(parts, settings_).sort("ts", "node")
    cols = ["ts", "node", "instance_type", "capacity_type", "gpu_product", "gpu_count", "gpu_replicas",
            "mig_strategy", "cpu_cores", "memory_bytes"]
    assert got.select(cols).rows() == [
        (0, "a", "gpu-h100", "spot", "H100", 8, 1, "none", 128.0, 1e12),
        (0, "b", "cpu-x", "on-demand", None, None, None, None, 16.0, None),
        (300, "a", "gpu-h100", "spot", "H100", 8, 1, "none", 128.0, None),
        (300, "b", "cpu-x", "on-demand", None, None, None, None, None, None),
        (600, "a", "gpu-h100", "on-demand", "H100", None, None, "none", None, None),
    ]
    assert got.schema["gpu_count"] == pl.Int32 and got.schema["node"] == pl.Utf8


# --- the label cache -------------------------------------------------------------------------------------------

_pod_labels = st.fixed_dictionaries({"namespace": st.sampled_from(["a", "b"]), "pod": st.sampled_from(["p", "q", "r"])},
                                    optional={"exported_pod": st.sampled_from(["x", ""]), "node": st.just("n")})


@settings(deadline=None, max_examples=60)
@given(shards=st.lists(st.lists(_pod_labels, max_size=6), min_size=1, max_size=5), cap=st.integers(0, 12))
def test_label_cache_gives_the_decoded_labels(shards: list[list[dict[str, str]]], cap: int) -> None:
    """Shard after shard (new, repeated and dropped series, a cache that restarts when full): the cached labels
    equal the labels decoded and folded from the texts directly."""
    q = next(q for q in catalog.catalog() if q.name == "k8s_running")
    cache = normalize.LabelCache(spare=cap)
    for metrics in shards:
        texts = pl.Series([orjson.dumps(m).decode() for m in metrics], dtype=pl.String)
        want = normalize.fold_labels(decode_labels(texts, q.fields), len(metrics), q.labels, q.fold)
        assert cache.labels(q, texts).rows() == want.rows()


def test_label_cache_checks_the_text_behind_a_hash() -> None:
    """A stored entry whose text differs from the one looked up (a hash collision) is not used."""
    q = next(q for q in catalog.catalog() if q.name == "k8s_running")
    cache = normalize.LabelCache()
    real = pl.Series(['{"namespace":"a","pod":"p","container":"c"}'])
    assert cache.labels(q, real).rows() == [("a", "p", "c")]
    # forge a stored entry: another text under the real text's hash, with other labels
    cache._known[q.name] = cache._known[q.name].with_columns(_m=pl.lit('{"pod":"forged"}'), pod=pl.lit("forged"))
    assert cache.labels(q, real).rows() == [("a", "p", "c")]


def test_a_batch_submits_the_last_batchs_largest_queries_first() -> None:
    """The request order follows the previous batch's samples per query (catalog order at first), so that a
    batch does not end on one large query running alone; every query and shard is still submitted once."""
    from concurrent.futures import Future

    from collector.prometheus.collect import Collector
    from neocost.settings import load_settings

    class Recorder:  # stands in for the fetch pool: records the submissions, runs nothing
        def __init__(self) -> None:
            self.calls: list[tuple[str, Shard]] = []

        def submit(self, fn, client, query, shard, *args) -> Future:
            self.calls.append((query.name, shard))
            return Future()

    s = load_settings(None, {"prometheus": {"url": "http://unused", "shards_per_query": 2}}, environ={})
    col = Collector(s, None, client=object())  # type: ignore[arg-type]
    ws = datetime(2026, 11, 1)
    names = [q.name for q in col.queries]
    first = Recorder()
    col._submit(first, ws, ws + timedelta(hours=4))  # type: ignore[arg-type]
    assert [n for n, _ in first.calls[::2]] == names and len(first.calls) == 2 * len(names)
    col.samples = {names[-1]: 500, names[3]: 90, names[0]: 7}
    nxt = Recorder()
    col._submit(nxt, ws, ws + timedelta(hours=4))  # type: ignore[arg-type]
    order = [n for n, _ in nxt.calls[::2]]
    assert order[:3] == [names[-1], names[3], names[0]]
    assert order[3:] == [n for n in names if n not in (names[-1], names[3], names[0])]
    assert [sh.i0 for _, sh in nxt.calls[:2]] == [0, 24]  # a query's shards stay in time order

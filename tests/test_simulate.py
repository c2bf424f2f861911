"""The simulator: truth consistency, counters in metrics.om vs truth, determinism, promtool, k8s JSON, inventory."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from neocost.simulate import simulate

END = datetime(2026, 11, 20)
LINE = re.compile(r"^([^{\s]+)(\{.*\})?\s+(\S+)\s+(\d+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@pytest.fixture(scope="session")
def sim1(sim_run_factory) -> Path:
    """One simulated day (small, seed 1), shared through the harness cache."""
    return sim_run_factory(seed=1, days=1, scale="small", end=END).dir


@pytest.fixture(scope="session")
def truth1(sim1: Path) -> dict:
    return json.loads((sim1 / "truth.json").read_text())


def read_series(path: Path, names: set[str]) -> dict[tuple[str, frozenset], tuple[np.ndarray, np.ndarray]]:
    """(name, labels) -> (timestamps, values) for the sample names asked for."""
    acc: dict[tuple[str, frozenset], list[tuple[int, float]]] = defaultdict(list)
    prefixes = tuple(names)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith(prefixes):
                continue
            m = LINE.match(line.rstrip("\n"))
            if m and m.group(1) in names:
                labels = frozenset(LABEL.findall(m.group(2) or ""))
                acc[(m.group(1), labels)].append((int(m.group(4)), float(m.group(3))))
    out = {}
    for k, rows in acc.items():
        arr = np.array(rows)
        out[k] = (arr[:, 0].astype(np.int64), arr[:, 1])
    return out


def interval_increase(ts: np.ndarray, vals: np.ndarray) -> float:
    """Sum over 5-minute intervals of last(interval) − last(previous), counter resets handled, start from 0."""
    iv = ts // 300
    last_idx = np.flatnonzero(np.r_[iv[1:] != iv[:-1], True])
    last = vals[last_idx]
    prev = np.r_[0.0, last[:-1]]
    delta = last - prev
    return float(np.where(delta < 0, last, delta).sum())


def test_truth_internally_consistent(truth1: dict) -> None:
    t = truth1["totals"]
    assert t["node_cost"] > 1000
    assert abs(t["node_cost"] - t["allocated_cost"] - t["idle_cost"]) < 0.01
    assert abs(t["total_cost"] - t["node_cost"] - t["egress_cost"] - t["storage_cost"] - t["volume_cost"]) < 0.01
    for r, v in truth1["by_resource"].items():
        assert abs(v["node"] - v["allocated"] - v["idle"]) < 0.01, r
        assert v["idle"] >= -1e-6, r
    assert abs(sum(v["node"] for v in truth1["by_resource"].values()) - t["node_cost"]) < 0.01
    for basis, tags in truth1["cost"].items():
        assert set(tags) == {"team", "project", "model", "env", "namespace", "node_pool"}
        for tag, values in tags.items():
            assert abs(sum(values.values()) - t["total_cost"]) < 0.01, (basis, tag)
    assert truth1["cost"]["usage"]["team"]["__idle__"] == pytest.approx(t["idle_cost"], abs=1e-5)
    assert "__idle__" not in truth1["cost"]["allocation"]["team"]
    gh = truth1["gpu_hours"]
    assert 0 < gh["allocated"] <= gh["capacity"]
    assert sum(gh["by_team"].values()) == pytest.approx(gh["allocated"], abs=1e-4)
    pools = truth1["node_pools"]
    assert pools["gpu-train"]["capacity_type"] == "spot"
    assert sum(p["node_cost"] for p in pools.values()) == pytest.approx(t["node_cost"], abs=0.01)
    run = truth1["training_runs"]["llm-pretrain-7b"]
    assert (run["pods"], run["restarts"]) == (3, 1)
    assert run["gpu_hours"] < 24 * 16  # the interruption gap is not allocated


def test_volumes_truth(sim1: Path, truth1: dict) -> None:
    """Hand-computed over the 1-day window: GiB × $/GiB-month × hours / 730 per claim."""
    v = truth1["volumes"]
    claims = v["by_claim"]
    assert claims["vectordb/qdrant-storage-qdrant-0"]["cost"] == pytest.approx(200 * 0.12 * 24 / 730, abs=1e-6)
    assert claims["monitoring/prometheus-db-prometheus-k8s-0"]["cost"] == pytest.approx(300 * 0.12 * 24 / 730,
                                                                                         abs=1e-6)
    assert claims["vectordb/qdrant-storage-qdrant-3"]["cost"] == pytest.approx(200 * 0.12 * 12 / 730, abs=1e-6)
    assert claims["data/feature-cache"]["cost"] == pytest.approx(500 * 0.05 * 24 / 730, abs=1e-6)
    assert sum(c["cost"] for c in claims.values()) == pytest.approx(truth1["totals"]["volume_cost"], abs=1e-5)
    # unmounted: the orphan qdrant claim (12 h) + the cache outside the data-prep pod's 3 h (1 h run + 2 h kept)
    unmounted = 200 * 0.12 * 12 / 730 + 500 * 0.05 * 21 / 730
    assert v["unmounted_cost"] == pytest.approx(unmounted, abs=1e-5)
    for basis in ("usage", "allocation"):
        for tag in ("team", "namespace"):
            assert truth1["cost"][basis][tag]["__unmounted__"] == pytest.approx(unmounted, abs=1e-5)
    # Prometheus' claim keeps the monitoring namespace (never __shared__), on both bases
    assert truth1["cost"]["allocation"]["namespace"]["monitoring"] == pytest.approx(300 * 0.12 * 24 / 730, abs=1e-5)
    series = read_series(sim1 / "metrics.om", {"kube_persistentvolumeclaim_resource_requests_storage_bytes",
                                               "kube_pod_spec_volumes_persistentvolumeclaims_info"})
    req = {dict(k[1])["persistentvolumeclaim"]: vals[0] for k, (_, vals) in series.items()
           if k[0].startswith("kube_persistentvolumeclaim")}
    assert req["qdrant-storage-qdrant-0"] == 200 * 2**30 and len(req) == 6


def test_relabel_and_fallbacks(truth1: dict) -> None:
    team = truth1["cost"]["usage"]["team"]
    assert team["platform"] > 0  # gateway pod relabelled web -> platform mid-window
    assert team["applied-ml"] > 0  # notebook pod: team only from the node label
    assert team["__unallocated__"] > 0  # untagged pod + untagged bucket
    # __shared__ (usage) = shared namespaces' compute (totals.shared_cost) + their pods' egress
    shared = truth1["cost"]["usage"]["namespace"]["__shared__"]
    assert truth1["totals"]["shared_cost"] < shared < truth1["totals"]["shared_cost"] + truth1["totals"]["egress_cost"]


def test_tokens_and_requests_match_counters(sim1: Path, truth1: dict) -> None:
    names = {"vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
             "tgi_request_input_length_sum", "tgi_request_generated_tokens_sum", "tgi_request_count",
             "gen_ai_client_token_usage_sum", "gen_ai_client_operation_duration_seconds_count",
             "nv_inference_request_success", "nv_inference_request_failure"}
    series = read_series(sim1 / "metrics.om", names)
    pods = json.loads((sim1 / "k8s" / "pods.json").read_text())["items"]
    model_of_pod = {p["metadata"]["name"]: p["metadata"]["labels"].get("model") for p in pods}
    got: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    resets = 0
    for (name, labels), (ts, vals) in series.items():
        lab = dict(labels)
        model = model_of_pod[lab["pod"]]
        inc = interval_increase(ts, vals)
        resets += int(np.any(np.diff(vals) < 0))
        key = {"vllm:prompt_tokens_total": "input_tokens", "vllm:generation_tokens_total": "output_tokens",
               "tgi_request_input_length_sum": "input_tokens", "tgi_request_generated_tokens_sum": "output_tokens",
               "vllm:request_success_total": "requests", "tgi_request_count": "requests",
               "gen_ai_client_operation_duration_seconds_count": "requests",
               "nv_inference_request_success": "requests", "nv_inference_request_failure": "requests"}.get(name)
        if name == "gen_ai_client_token_usage_sum":
            key = f"{lab['gen_ai_token_type']}_tokens"
        got[model][key] += inc
    assert resets >= 1  # the restarted vLLM pod
    models = truth1["models"]
    assert set(got) == set(models) and len(models) == 5
    assert {m["server"] for m in models.values()} == {"vllm", "triton", "tgi", "otel"}
    for model, t in models.items():
        assert got[model]["requests"] == t["requests"], model
        if t["input_tokens"] is not None:
            assert got[model]["input_tokens"] == t["input_tokens"], model
            assert got[model]["output_tokens"] == t["output_tokens"], model


def test_metrics_file_shape(sim1: Path) -> None:
    with open(sim1 / "metrics.om", "rb") as fh:
        head = fh.read(4096).decode()
        fh.seek(-200, os.SEEK_END)
        tail = fh.read().decode()
    assert head.startswith("# HELP ") and tail.endswith("# EOF\n")
    ts = [int(x.split()[-1]) for x in head.splitlines()[2:6]]
    assert all(t % 60 == 15 for t in ts) and ts == sorted(ts)
    fams = read_series(sim1 / "metrics.om", {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_GPU_UTIL"})
    keys = [dict(labels) for (_, labels) in fams]
    assert any("hostname" in k for k in keys) and any("Hostname" in k for k in keys)
    assert any("exported_pod" in k for k in keys)
    assert any("pod" in k and "exported_pod" not in k and k.get("container") != "nvidia-dcgm-exporter"
               for k in keys)
    mig = [k for (name, labels) in fams for k in [dict(labels)] if "GPU_I_PROFILE" in k]
    assert mig and all(name == "DCGM_FI_PROF_GR_ENGINE_ACTIVE" for (name, labels) in fams
                       if "GPU_I_PROFILE" in dict(labels))


def test_deterministic(sim1: Path, tmp_path: Path) -> None:
    simulate(tmp_path, days=1, seed=1, scale="small", end=END)
    for f in ("metrics.om", "truth.json", "k8s/pods.json", "pricebook.toml"):
        assert _sha(tmp_path / f) == _sha(sim1 / f), f


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@pytest.mark.integration
@pytest.mark.slow
def test_promtool_accepts_metrics(sim1: Path, tmp_path: Path) -> None:
    from neocost.services import find_binary
    from neocost.errors import ServiceError

    try:
        promtool = find_binary("promtool")
    except ServiceError:
        if os.environ.get("CI"):
            raise
        pytest.skip("promtool not installed")
    res = subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=72h",
                          str(sim1 / "metrics.om"), str(tmp_path / "blocks")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    samples = sum(int(line.split()[4]) for line in res.stdout.splitlines()[1:] if line.strip())
    lines = sum(1 for line in open(sim1 / "metrics.om", "rb") if not line.startswith(b"#"))
    assert samples == lines  # nothing dropped as out of order


def test_k8s_lists_deserialise_with_official_client(sim1: Path) -> None:
    from kubernetes.client import ApiClient

    api = ApiClient()
    pods = api.deserialize((sim1 / "k8s" / "pods.json").read_text(), "V1PodList", "application/json")
    nodes = api.deserialize((sim1 / "k8s" / "nodes.json").read_text(), "V1NodeList", "application/json")
    nss = api.deserialize((sim1 / "k8s" / "namespaces.json").read_text(), "V1NamespaceList", "application/json")
    phases = {p.status.phase for p in pods.items}
    assert phases == {"Running", "Succeeded"}
    assert len(nodes.items) == 9  # the interrupted spot node is gone
    assert {n.metadata.name for n in nss.items} >= {"monitoring", "kube-system", "inference"}
    gpu = [n for n in nodes.items if n.metadata.labels.get("nvidia.com/gpu.replicas") == "4"]
    assert gpu and gpu[0].status.capacity["nvidia.com/gpu"] == "16"


def test_s3_inventory_layout(sim1: Path) -> None:
    root = sim1 / "s3" / "objects"
    buckets = json.loads((sim1 / "s3" / "buckets.json").read_text())
    assert {b["name"] for b in buckets if not b["tags"]} == {"acme-scratch"}
    manifests = sorted(root.rglob("manifest.json"))
    assert len(manifests) == 8
    keys = []
    formats = set()
    for m in manifests:
        body = m.read_bytes()
        assert (m.parent / "manifest.checksum").read_text().strip() == hashlib.md5(body).hexdigest()
        doc = json.loads(body)
        assert doc["destinationBucket"].startswith("arn:aws:s3:::") and doc["creationTimestamp"].isdigit()
        formats.add(doc["fileFormat"])
        dest = doc["destinationBucket"].split(":::")[1]
        for f in doc["files"]:
            data = (root / dest / f["key"]).read_bytes()
            assert hashlib.md5(data).hexdigest() == f["MD5checksum"] and len(data) == f["size"]
            if doc["fileFormat"] == "CSV":
                text = gzip.decompress(data).decode()
                cols = doc["fileSchema"].split(", ")
                for raw, row in zip(text.splitlines(), csv.reader(io.StringIO(text))):
                    assert raw.startswith('"') and raw.count('"') == 2 * len(cols)
                    assert len(row) == len(cols)
                    keys.append(row[cols.index("Key")])
            else:
                table = pq.read_table(io.BytesIO(data))
                assert "last_modified_date" in table.column_names and "storage_class" in table.column_names
    assert formats == {"CSV", "Parquet"}
    assert any("%20" in k for k in keys) and any("%E6%97%A5" in k for k in keys)
    assert not any(" " in k for k in keys)


def test_storage_truth_matches_inventory(sim1: Path, truth1: dict) -> None:
    """Bytes per bucket = Σ Size of the newest snapshot (CSV and Parquet), noncurrent versions included."""
    root = sim1 / "s3" / "objects"
    newest: dict[str, Path] = {}
    for m in sorted(root.rglob("manifest.json")):
        newest[json.loads(m.read_text())["sourceBucket"]] = m
    for bucket, m in newest.items():
        doc = json.loads(m.read_text())
        total = 0
        for f in doc["files"]:
            data = (root / "neocost-inventory" / f["key"]).read_bytes()
            if doc["fileFormat"] == "CSV":
                cols = doc["fileSchema"].split(", ")
                for row in csv.reader(io.StringIO(gzip.decompress(data).decode())):
                    total += int(row[cols.index("Size")] or 0)
            else:
                total += int(pq.read_table(io.BytesIO(data)).column("size").to_numpy().sum())
        assert total == truth1["storage"]["by_bucket"][bucket]["bytes"], bucket
    assert truth1["storage"]["noncurrent_bytes"] > 0 and truth1["storage"]["stale_checkpoint_bytes"] > 0


def test_pricebook_covers_every_node_type(sim1: Path) -> None:
    import tomllib

    book = tomllib.loads((sim1 / "pricebook.toml").read_text())
    rows = {(r["instance_type"], r["capacity_type"]): r for r in book["node"]}
    assert rows[("gpu-h100-sxm.8gpu-128vcpu-1600gb", "on-demand")]["gpu_hourly"] == 2.95
    assert rows[("gpu-h100-sxm.8gpu-128vcpu-1600gb", "spot")]["gpu_hourly"] == 1.25
    assert all(r["source"] and r["as_of"] for r in book["node"] + book["storage"] + book["egress"])
    nodes = json.loads((sim1 / "k8s" / "nodes.json").read_text())["items"]
    for n in nodes:
        lab = n["metadata"]["labels"]
        ct = lab.get("karpenter.sh/capacity-type") or {"ON_DEMAND": "on-demand", "SPOT": "spot"}[
            lab["eks.amazonaws.com/capacityType"]]
        assert (lab["node.kubernetes.io/instance-type"], ct) in rows


def test_embedding_distribution() -> None:
    from neocost.simulate.embeddings import MODELS, sample_window

    assert {m.name: m.drifts for m in MODELS} == {"llama-3-8b": True, "bge-large": False}
    x = sample_window("llama-3-8b", 2000, drifted=False, seed=5)
    assert x.shape == (2000, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    mean = x.mean(axis=0)
    pairwise = (2000**2 * float(mean @ mean) - 2000) / (2000 * 1999)
    assert 0.3 < pairwise < 0.5  # anisotropic like sentence embeddings


def test_embedding_files_drift_after_onset(sim1: Path, truth1: dict) -> None:
    onset = truth1["drift"]["models"]["llama-3-8b"]["onset"]
    assert onset == "2026-11-19T12:00:00Z" and truth1["drift"]["models"]["bge-large"]["onset"] is None
    shifts = {}
    for model in ("llama-3-8b", "bge-large"):
        table = pq.read_table(sim1 / "embeddings" / model / "2026-11-19.parquet")
        assert str(table.schema.field("embedding").type) == "fixed_size_list<element: float>[384]"
        assert table.column("model").to_pylist()[0] == model
        hours = table.column("ts").to_numpy().astype("datetime64[h]").astype(np.int64) % 24
        emb = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
        ref, before, after = (emb[(hours >= a) & (hours < a + 6)].mean(axis=0) for a in (0, 6, 12))
        shifts[model] = (np.linalg.norm(before - ref), np.linalg.norm(after - ref))
    null, drifted = shifts["llama-3-8b"]
    assert drifted > 3 * null
    null, later = shifts["bge-large"]
    assert later < 2 * null + 0.01


def test_cli_help_explains_itself() -> None:
    from click.testing import CliRunner

    from neocost.simulate.cli import simulate as cmd

    res = CliRunner().invoke(cmd, ["--help"])
    assert res.exit_code == 0 and "--scale" in res.output and "truth.json" in res.output
    res = CliRunner().invoke(cmd, ["serve-k8s", "--help"])
    assert res.exit_code == 0 and "410" in res.output and "--kubeconfig" in res.output


def test_chunks_handed_over_one_at_a_time_equal_the_split_run(tmp_path: Path) -> None:
    """``on_chunk`` (the collect benchmark backfills and deletes each day as it is written): the same files as
    writing every chunk at once, and only one chunk on disk at a time."""
    whole = simulate(tmp_path / "all", days=2, seed=3, scale="small", end=END, metrics_chunk_days=1)
    expected = {p.name: _sha(p) for p in (tmp_path / "all" / "metrics").glob("*.om")}
    handed: dict[str, str] = {}

    def take(path: Path) -> None:
        assert [p.name for p in path.parent.glob("*.om")] == [path.name]  # the earlier chunks are gone
        handed[path.name] = _sha(path)
        path.unlink()

    s = simulate(tmp_path / "one", days=2, seed=3, scale="small", end=END, metrics_chunk_days=1, on_chunk=take)
    assert len(expected) == 2 and handed == expected
    assert (s.series, s.samples) == (whole.series, whole.samples) and s.samples > 0
    with pytest.raises(ValueError, match="on_chunk needs metrics_chunk_days"):
        simulate(tmp_path / "bad", days=1, scale="small", end=END, on_chunk=take)

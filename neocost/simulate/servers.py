"""Inference-server metrics: vLLM, Triton, TGI and OpenTelemetry GenAI, from each pod's traffic increments."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neocost.simulate.model import Cluster, Inference, Pod
from neocost.simulate.openmetrics import Family
from neocost.simulate.traffic import bucket_counts

# Subsets of the servers' real bucket boundaries (fewer series; documented in docs/simulator.md).
VLLM_TTFT = [0.02, 0.04, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
VLLM_LATENCY = [0.3, 0.5, 0.8, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0]
TGI_DURATION = [0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0]
TGI_INPUT = [16.0, 64.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0]
TGI_GENERATED = [8.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]
OTEL_TOKENS = [float(4**k) for k in range(14)]  # 1, 4, ... 67108864 (semconv)
OTEL_DURATION = [round(0.01 * 2**k, 2) for k in range(14)]  # 0.01 ... 81.92


def _le(x: float) -> str:
    return repr(float(x))


class _Fams:
    """Families keyed by name, created on first use (so each family is written once)."""

    def __init__(self) -> None:
        self.fams: dict[str, Family] = {}

    def get(self, name: str, type_: str, help_: str) -> Family:
        if name not in self.fams:
            self.fams[name] = Family(name, type_, help_)
        return self.fams[name]

    def counter(self, fam: str, sample: str, help_: str, labels: dict, pod: Pod, inc: np.ndarray) -> None:
        self.get(fam, "counter", help_).add(sample, labels, pod.start, inc, counter=True, integer=True,
                                            reset_at=pod.inference.reset_at)

    def histogram(self, fam: str, help_: str, labels: dict, pod: Pod, count: np.ndarray, total: np.ndarray,
                  les: list[float], mean: np.ndarray | None = None) -> None:
        f = self.get(fam, "histogram", help_)
        r = pod.inference.reset_at
        if mean is None:
            mean = np.where(count > 0, total / np.maximum(count, 1), 1.0)
        buckets = bucket_counts(count, mean, les)
        for le, row in zip(les, buckets):
            f.add(f"{fam}_bucket", labels | {"le": _le(le)}, pod.start, row, counter=True, integer=True, reset_at=r)
        f.add(f"{fam}_bucket", labels | {"le": "+Inf"}, pod.start, count, counter=True, integer=True, reset_at=r)
        f.add(f"{fam}_count", labels, pod.start, count, counter=True, integer=True, reset_at=r)
        f.add(f"{fam}_sum", labels, pod.start, np.round(total, 6), counter=True, reset_at=r)


def server_families(cl: Cluster) -> Iterator[Family]:
    fx = _Fams()
    for pod in cl.pods:
        inf = pod.inference
        if inf is None:
            continue
        c = pod.containers[0]
        scrape = {"job": f"inference/{inf.server}", "instance": f"{pod.ip}:{pod.port}", "namespace": pod.namespace,
                  "pod": pod.name, "container": c.name}
        {"vllm": _vllm, "triton": _triton, "tgi": _tgi, "otel": _otel}[inf.server](fx, pod, inf, scrape)
    yield from fx.fams.values()


def _vllm(fx: _Fams, pod: Pod, inf: Inference, scrape: dict) -> None:
    lab = {"engine": "0", "model_name": inf.served_name} | scrape
    fx.counter("vllm:prompt_tokens", "vllm:prompt_tokens_total", "Number of prefill tokens processed.", lab, pod,
               inf.input_tokens)
    fx.counter("vllm:generation_tokens", "vllm:generation_tokens_total", "Number of generation tokens processed.",
               lab, pod, inf.output_tokens)
    stop = np.floor(inf.successes * 0.86)
    for reason, v in (("stop", stop), ("length", inf.successes - stop), ("abort", inf.errors)):
        fx.counter("vllm:request_success", "vllm:request_success_total",
                   "Count of successfully processed requests.", {"finished_reason": reason} | lab, pod, v)
    fx.counter("vllm:prefix_cache_queries", "vllm:prefix_cache_queries_total",
               "Prefix cache queries, in terms of number of queried tokens.", lab, pod, inf.input_tokens)
    fx.counter("vllm:prefix_cache_hits", "vllm:prefix_cache_hits_total",
               "Prefix cache hits, in terms of number of cached tokens.", lab, pod, inf.cached_tokens)
    ok = inf.successes
    fx.histogram("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
                 lab, pod, ok, inf.prefill_s, VLLM_LATENCY)
    fx.histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                 lab, pod, ok, inf.decode_s, VLLM_LATENCY)
    fx.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", lab, pod, ok,
                 ok * inf.ttft_mean, VLLM_TTFT, mean=inf.ttft_mean)
    fx.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", lab, pod, ok,
                 ok * inf.e2e_mean, VLLM_LATENCY, mean=inf.e2e_mean)


def _triton(fx: _Fams, pod: Pod, inf: Inference, scrape: dict) -> None:
    lab = {"model": inf.served_name, "version": "1"} | scrape
    ok = inf.successes
    rejected = np.floor(inf.errors * 0.3)

    def counter(name: str, help_: str, v: np.ndarray, extra: dict | None = None) -> None:
        fx.counter(name, name, help_, (extra or {}) | lab, pod, v)

    counter("nv_inference_request_success", "Number of successful inference requests, all batch sizes", ok)
    counter("nv_inference_request_failure", "Number of failed inference requests, all batch sizes",
            inf.errors - rejected, {"reason": "BACKEND"})
    counter("nv_inference_request_failure", "Number of failed inference requests, all batch sizes", rejected,
            {"reason": "REJECTED"})
    counter("nv_inference_count", "Number of inferences performed (does not include cached requests)", ok * 4)
    counter("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)",
            np.ceil(ok / 2))
    counter("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds "
            "(includes cached requests)", np.round(ok * inf.e2e_mean * 1e6))
    counter("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds "
            "(includes cached requests)", np.round(ok * inf.queue_mean * 1e6))
    counter("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds "
            "(does not include cached requests)", np.round(ok * (inf.e2e_mean - inf.queue_mean) * 0.9e6))


def _tgi(fx: _Fams, pod: Pod, inf: Inference, scrape: dict) -> None:
    lab = dict(scrape)
    ok = inf.successes
    fx.counter("tgi_request_count", "tgi_request_count", "Total number of requests", lab, pod, ok + inf.errors)
    fx.counter("tgi_request_success", "tgi_request_success", "Number of successful requests", lab, pod, ok)
    val = np.floor(inf.errors * 0.5)
    fx.counter("tgi_request_failure", "tgi_request_failure", "Number of failed requests", {"err": "validation"} | lab,
               pod, val)
    fx.counter("tgi_request_failure", "tgi_request_failure", "Number of failed requests", {"err": "generation"} | lab,
               pod, inf.errors - val)
    fx.histogram("tgi_request_input_length", "Input tokens per request", lab, pod, ok, inf.input_tokens, TGI_INPUT)
    fx.histogram("tgi_request_generated_tokens", "Generated tokens per request", lab, pod, ok, inf.output_tokens,
                 TGI_GENERATED)
    fx.histogram("tgi_request_duration", "Request duration in seconds", lab, pod, ok, ok * inf.e2e_mean,
                 TGI_DURATION, mean=inf.e2e_mean)


def _otel(fx: _Fams, pod: Pod, inf: Inference, scrape: dict) -> None:
    lab = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
           "gen_ai_request_model": inf.served_name, "gen_ai_response_model": inf.served_name,
           "otel_scope_name": "opentelemetry.instrumentation.openai_v2", "otel_scope_version": "2.1b0"} | scrape
    ok = inf.successes
    for ttype, v in (("input", inf.input_tokens), ("output", inf.output_tokens)):
        fx.histogram("gen_ai_client_token_usage", "Number of input and output tokens used.",
                     {"gen_ai_token_type": ttype} | lab, pod, ok, v, OTEL_TOKENS)
    fx.histogram("gen_ai_client_operation_duration_seconds", "GenAI operation duration.", lab, pod, ok,
                 ok * inf.e2e_mean, OTEL_DURATION, mean=inf.e2e_mean)
    fx.histogram("gen_ai_client_operation_duration_seconds", "GenAI operation duration.",
                 {"error_type": "timeout"} | lab, pod, inf.errors, inf.errors * 30.0, OTEL_DURATION,
                 mean=np.full(inf.errors.size, 30.0))

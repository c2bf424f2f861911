"""The declarative catalog: every PromQL query the collector runs, by name.

Each query is evaluated on the step grid of :mod:`shards` with ``{r}`` = the resolution (``5m``):

- **gauges** are reduced per interval and per series in PromQL (``avg_over_time`` / ``max_over_time``); the
  aggregation to the labels we store happens in the normaliser's group-bys (``mean``/``max`` per key), after
  the label aliases are folded. A ``max by (...)``/``avg by (...)`` in a range query hashes every series' label
  set at every step: 3-5x the server time of the plain per-series function (bench/bench_collect.py);
- **counters** (cpu seconds, bytes, tokens, requests, histogram buckets and sums, Triton µs) are fetched
  as the raw step-aligned value (``last_over_time``) per series, never ``increase()``/``rate()``:
  :mod:`normalize` computes exact per-interval deltas with reset handling per series, then sums.

Alias folding (telemetry.md §9): ``exported_pod`` (ServiceMonitor with honorLabels false) and ``pod_name``
(``--use-old-namespace``) become ``pod``; likewise namespace and container; ``Hostname|hostname`` become
``node``; ``UUID|uuid`` become ``gpu_uuid``. The folding happens client-side, per series, in
:func:`normalize.frame_from_matrix` (``Query.fold``, :func:`label_expr`): gauges aggregate ``by`` the target
*and* alias labels, and the normaliser's group-bys finish the aggregation. ``label_replace`` in PromQL would do
the same, but a range query evaluates it at every step for every series: 3-4x the server time of the whole
query.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial

import polars as pl

# target label -> source labels, applied in order (a later source wins when non-empty)
ALIASES: dict[str, tuple[str, ...]] = {
    "namespace": ("pod_namespace", "exported_namespace"),
    "pod": ("pod_name", "exported_pod"),
    "container": ("container_name", "exported_container"),
    "node": ("Hostname", "hostname"),
    "gpu_uuid": ("UUID", "uuid"),
    # OTel GenAI attributes as Prometheus 3 keeps them with UTF-8 names (telemetry.md §6)
    "gen_ai_request_model": ("gen_ai.request.model",),
    "gen_ai_response_model": ("gen_ai.response.model",),
}
POD_KEYS = ("namespace", "pod")
K8S_RESOURCES = "cpu|memory|nvidia_com_gpu|nvidia_com_mig_.*"
DCGM_SENTINEL_ABOVE = 1e15  # DCGM's blank value 9223372036854775794 (and any mean it pollutes)


def canon(expr: str, *targets: str) -> str:
    """Wrap an instant-vector expression so the alias labels of ``targets`` fold into the target names
    (server-side; the catalog folds client-side instead, see the module docstring)."""
    for target in targets:
        for src in ALIASES[target]:
            expr = f'label_replace({expr}, "{target}", "$1", "{src}", "(.+)")'
    return expr


def label_expr(target: str, columns: Collection[str], fold: bool) -> pl.Expr:
    """The value of label ``target`` per series from label columns ``columns`` ('' when absent). With ``fold``,
    what ``canon`` would give it: the last non-empty alias, else the label itself."""
    exprs = [pl.when(pl.col(a) != "").then(pl.col(a)) for a in reversed(ALIASES[target]) if a in columns] \
        if fold else []
    if target in columns:
        exprs.append(pl.col(target))
    return pl.coalesce(*exprs, pl.lit("")) if exprs else pl.lit("", dtype=pl.Utf8)


@dataclass(frozen=True)
class Query:
    """One named range query. ``labels`` are the label columns the normaliser receives ('' when absent);
    ``labels=None`` keeps every label (metadata queries with ``label_*``)."""

    name: str
    family: str                      # k8s | gpu | cadvisor | inference | meta
    expr: str                        # PromQL with {r} for the range
    counter: bool = False
    labels: tuple[str, ...] | None = ()
    server: str = ""                 # inference: vllm | sglang | triton | tgi | otel
    column: str = ""                 # target column (inference) or latency metric (histograms)
    scale: float = 1.0               # unit factor applied to values (µs -> s, percent -> ratio)
    extra: dict[str, str] = field(default_factory=dict)
    fold: tuple[str, ...] = ()       # target labels whose aliases are folded client-side

    def promql(self, resolution: str) -> str:
        return self.expr.replace("{r}", resolution)

    @property
    def fields(self) -> tuple[str, ...] | None:
        """The label names the decoder keeps: ``labels`` and the aliases folded into them (None: every label)."""
        if self.labels is None:
            return None
        return tuple(dict.fromkeys((*self.labels, *(a for t in self.fold for a in ALIASES[t]))))


def _gauge(name: str, family: str, metric: str, fn: str, by: tuple[str, ...], scale: float = 1.0) -> Query:
    """Per-series ``fn(metric[r])``; ``by`` are the label columns kept (aliases folded) for the group-bys."""
    targets = tuple(t for t in by if t in ALIASES)
    return Query(name, family, f"{fn}({metric}[{{r}}])", labels=by, scale=scale, fold=targets)


def _counter(name: str, family: str, metric: str, labels: tuple[str, ...], **kw: object) -> Query:
    targets = tuple(t for t in labels if t in ALIASES)
    return Query(name, family, f"last_over_time({metric}[{{r}}])", counter=True, labels=labels, fold=targets,
                 **kw)  # type: ignore[arg-type]


# --- Kubernetes state (kube-state-metrics) -------------------------------------------------------------------
_CONT = ("namespace", "pod", "container")
K8S: tuple[Query, ...] = (
    _gauge("k8s_requests", "k8s", f'kube_pod_container_resource_requests{{resource=~"{K8S_RESOURCES}"}}',
           "max_over_time", (*_CONT, "node", "resource")),
    _gauge("k8s_limits", "k8s", f'kube_pod_container_resource_limits{{resource=~"{K8S_RESOURCES}"}}',
           "max_over_time", (*_CONT, "node", "resource")),
    _gauge("k8s_running", "k8s", "kube_pod_container_status_running", "avg_over_time", _CONT),
    Query("node_capacity", "k8s", "max_over_time(kube_node_status_capacity[{r}])", labels=("node", "resource")),
    Query("node_allocatable", "k8s", "max_over_time(kube_node_status_allocatable[{r}])",
          labels=("node", "resource")),
)

# --- metadata from kube-state-metrics (used when the Kubernetes API is not configured) --------------------------
META: tuple[Query, ...] = (
    _gauge("ksm_pod_info", "meta", "kube_pod_info", "last_over_time",
           ("namespace", "pod", "uid", "node", "created_by_kind", "created_by_name")),
    _gauge("ksm_pod_owner", "meta", "kube_pod_owner", "last_over_time",
           ("namespace", "pod", "owner_kind", "owner_name", "owner_is_controller")),
    Query("ksm_rs_owner", "meta", "last_over_time(kube_replicaset_owner[{r}])",
          labels=("namespace", "replicaset", "owner_kind", "owner_name")),
    Query("ksm_job_owner", "meta", "last_over_time(kube_job_owner[{r}])",
          labels=("namespace", "job_name", "owner_kind", "owner_name")),
    Query("ksm_pod_phase", "meta", "last_over_time(kube_pod_status_phase[{r}]) == 1",
          labels=("namespace", "pod", "phase"), fold=POD_KEYS),
    Query("ksm_pod_labels", "meta", "last_over_time(kube_pod_labels[{r}])", labels=None, fold=POD_KEYS),
    Query("ksm_namespace_labels", "meta", "last_over_time(kube_namespace_labels[{r}])", labels=None,
          fold=("namespace",)),
    Query("ksm_node_labels", "meta", "last_over_time(kube_node_labels[{r}])", labels=None),
)

# --- GPUs (DCGM exporter) ------------------------------------------------------------------------------------
_GPU = ("node", "gpu_uuid", "gpu", "modelName", "GPU_I_PROFILE", "GPU_I_ID", "namespace", "pod", "container")
GPU: tuple[Query, ...] = (
    _gauge("dcgm_util", "gpu", "DCGM_FI_DEV_GPU_UTIL", "avg_over_time", _GPU, scale=0.01),
    _gauge("dcgm_gr_active", "gpu", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "avg_over_time", _GPU),
    _gauge("dcgm_fb_used", "gpu", "DCGM_FI_DEV_FB_USED", "avg_over_time", _GPU),
    _gauge("dcgm_power", "gpu", "DCGM_FI_DEV_POWER_USAGE", "avg_over_time", _GPU),
)

# --- cAdvisor ------------------------------------------------------------------------------------------------
CADVISOR: tuple[Query, ...] = (
    _counter("cadvisor_cpu", "cadvisor", 'container_cpu_usage_seconds_total{container!="", container!="POD"}',
             _CONT),
    _gauge("cadvisor_memory", "cadvisor", 'container_memory_working_set_bytes{container!="", container!="POD"}',
           "avg_over_time", _CONT),
    _counter("cadvisor_tx", "cadvisor", 'container_network_transmit_bytes_total{container="", pod!="", '
             'interface!="lo"}', POD_KEYS),
    _counter("cadvisor_rx", "cadvisor", 'container_network_receive_bytes_total{container="", pod!="", '
             'interface!="lo"}', POD_KEYS),
)

# --- inference servers ---------------------------------------------------------------------------------------
# server -> label carrying the served model ('' = none: TGI; the cost model uses the pod's model tag)
MODEL_LABELS: dict[str, str] = {"vllm": "model_name", "sglang": "model_name", "triton": "model", "tgi": "",
                                "otel": "gen_ai_request_model"}
INFERENCE_COUNTERS: dict[str, tuple[tuple[str, str, float], ...]] = {
    # server -> (column, selector, scale). requests = successes + errors where a server has no total.
    "vllm": (("requests", "vllm:request_success_total", 1.0),
             ("errors", 'vllm:request_success_total{finished_reason=~"abort|error"}', 1.0),
             ("input_tokens", "vllm:prompt_tokens_total", 1.0),
             ("output_tokens", "vllm:generation_tokens_total", 1.0),
             ("cached_tokens", "vllm:prefix_cache_hits_total", 1.0),
             ("prefill_seconds", "vllm:request_prefill_time_seconds_sum", 1.0),
             ("decode_seconds", "vllm:request_decode_time_seconds_sum", 1.0)),
    "sglang": (("requests", "sglang:num_requests_total", 1.0),
               ("input_tokens", "sglang:prompt_tokens_total", 1.0),
               ("output_tokens", "sglang:generation_tokens_total", 1.0),
               ("cached_tokens", "sglang:cached_tokens_total", 1.0)),
    "triton": (("successes", "nv_inference_request_success", 1.0),
               ("errors", "nv_inference_request_failure", 1.0)),  # Triton reports no tokens
    "tgi": (("requests", "tgi_request_count", 1.0),
            ("successes", "tgi_request_success", 1.0),
            ("errors", "tgi_request_failure", 1.0),
            ("input_tokens", "tgi_request_input_length_sum", 1.0),
            ("output_tokens", "tgi_request_generated_tokens_sum", 1.0)),
    # OTel: one token_usage observation per successful call; failed calls only reach operation.duration
    "otel": (("successes", 'gen_ai_client_token_usage_count{gen_ai_token_type="input"}', 1.0),
             ("errors", 'gen_ai_client_operation_duration_seconds_count{error_type!=""}', 1.0),
             ("input_tokens", 'gen_ai_client_token_usage_sum{gen_ai_token_type="input"}', 1.0),
             ("output_tokens", 'gen_ai_client_token_usage_sum{gen_ai_token_type="output"}', 1.0)),
}
INFERENCE_HISTOGRAMS: dict[str, tuple[tuple[str, str], ...]] = {
    # server -> (latency metric, histogram base name); buckets are kept so any span's p50/p95/p99 works.
    "vllm": (("ttft", "vllm:time_to_first_token_seconds"), ("e2e", "vllm:e2e_request_latency_seconds"),
             ("queue", "vllm:request_queue_time_seconds"), ("inter_token", "vllm:inter_token_latency_seconds")),
    "sglang": (("ttft", "sglang:time_to_first_token_seconds"), ("e2e", "sglang:e2e_request_latency_seconds")),
    "tgi": (("e2e", "tgi_request_duration"), ("queue", "tgi_request_queue_duration"),
            ("inter_token", "tgi_request_mean_time_per_token_duration")),
    "otel": (("e2e", "gen_ai_client_operation_duration_seconds"),
             ("ttft", "gen_ai_server_time_to_first_token_seconds")),
    "triton": (),
}


# --- OTel GenAI with UTF-8 names ----------------------------------------------------------------------------
# Prometheus 3's OTLP receiver with translation_strategy NoUTF8EscapingWithSuffixes|NoTranslation keeps the
# dots: `gen_ai.client.token.usage_sum{"gen_ai.token.type"="input"}`, `gen_ai.client.operation.duration[_seconds]_*`.
# Quoted label names in selectors are Prometheus-3-only syntax (a parse error on 2.x, Thanos, older Mimir), so the
# dotted spelling is written in syntax every server parses: the name as a `__name__` matcher, a dotted label
# filter as `label_replace` (which reads any source label name) plus `and on(...)` with a one-label vector, and
# `error.type != ""` as `unless on(error_type) vector(1)`. On a server without dotted names the extra operand
# selects nothing and costs nothing. The dotted model labels fold client-side (ALIASES above).
OTEL_DOTTED: dict[str, tuple[str, str]] = {
    # underscore metric -> (dotted __name__ regex, dotted filter: "token:<type>" | "error" | "")
    'gen_ai_client_token_usage_count{gen_ai_token_type="input"}':
        (r"gen_ai[.]client[.]token[.]usage_count", "token:input"),
    'gen_ai_client_token_usage_sum{gen_ai_token_type="input"}':
        (r"gen_ai[.]client[.]token[.]usage_sum", "token:input"),
    'gen_ai_client_token_usage_sum{gen_ai_token_type="output"}':
        (r"gen_ai[.]client[.]token[.]usage_sum", "token:output"),
    'gen_ai_client_operation_duration_seconds_count{error_type!=""}':
        (r"gen_ai[.]client[.]operation[.]duration(_seconds)?_count", "error"),
    "gen_ai_client_operation_duration_seconds_bucket":
        (r"gen_ai[.]client[.]operation[.]duration(_seconds)?_bucket", ""),
    "gen_ai_server_time_to_first_token_seconds_bucket":
        (r"gen_ai[.]server[.]time_to_first_token(_seconds)?_bucket", ""),
}


def otel_dotted(name_re: str, where: str) -> str:
    """``last_over_time`` of the dotted spelling, filtered as the underscore selector is (see OTEL_DOTTED)."""
    expr = f'last_over_time({{__name__=~"{name_re}"}}[{{r}}])'
    if where.startswith("token:"):
        expr = (f'label_replace({expr}, "gen_ai_token_type", "$1", "gen_ai.token.type", "(.+)") and '
                f'on(gen_ai_token_type) label_replace(vector(1), "gen_ai_token_type", "{where[6:]}", "", "")')
    elif where == "error":
        expr = f'label_replace({expr}, "error_type", "$1", "error.type", "(.+)") unless on(error_type) vector(1)'
    return expr


def _otel_counter(name: str, metric: str, labels: tuple[str, ...], **kw: object) -> Query:
    """The underscore spelling ``or`` the dotted one; the model labels of both fold into the underscore names."""
    q = _counter(name, "inference", metric, labels, **kw)
    name_re, where = OTEL_DOTTED[metric]
    fold = tuple(dict.fromkeys((*q.fold, *(t for t in labels if t.startswith("gen_ai_")))))
    return Query(q.name, q.family, f"{q.expr} or ({otel_dotted(name_re, where)})", counter=True, labels=q.labels,
                 server=q.server, column=q.column, scale=q.scale, extra=q.extra, fold=fold)


def inference_queries(model_labels: dict[str, str] | None = None) -> tuple[Query, ...]:
    labels_by_server = {**MODEL_LABELS, **(model_labels or {})}
    out: list[Query] = []
    for server, cols in INFERENCE_COUNTERS.items():
        ml = labels_by_server.get(server, "")
        keep = (*POD_KEYS, ml) if ml else POD_KEYS
        extra = {"model_label": ml}
        if server == "otel":  # the response model when the request model is missing
            keep = (*keep, "gen_ai_response_model")
        make = _otel_counter if server == "otel" else partial(_counter, family="inference")
        for column, sel, scale in cols:
            out.append(make(f"{server}_{column}", metric=sel, labels=keep, server=server, column=column,
                            scale=scale, extra=extra))
        for metric, base in INFERENCE_HISTOGRAMS[server]:
            out.append(make(f"{server}_{metric}_bucket", metric=f"{base}_bucket", labels=(*keep, "le"),
                            server=server, column=metric, extra={**extra, "histogram": "1"}))
    return tuple(out)


# --- persistent volumes (kube-state-metrics, kubelet): raw.pvc, raw.pod_pvc (collector/prometheus/volumes.py) -----
_PVC = ("namespace", "persistentvolumeclaim")
VOLUME: tuple[Query, ...] = (
    Query("pvc_info", "volume", "last_over_time(kube_persistentvolumeclaim_info[{r}])",
          labels=(*_PVC, "storageclass", "volumename"), fold=("namespace",)),
    Query("pvc_request", "volume",
          "max_over_time(kube_persistentvolumeclaim_resource_requests_storage_bytes[{r}])", labels=_PVC,
          fold=("namespace",)),
    Query("pvc_used", "volume", "avg_over_time(kubelet_volume_stats_used_bytes[{r}])", labels=_PVC,
          fold=("namespace",)),
    Query("pod_pvc", "volume", "last_over_time(kube_pod_spec_volumes_persistentvolumeclaims_info[{r}])",
          labels=(*POD_KEYS, "persistentvolumeclaim"), fold=POD_KEYS),
)


def catalog(*, metadata: bool = True, model_labels: dict[str, str] | None = None) -> tuple[Query, ...]:
    """All queries of one collection run (metadata from kube-state-metrics only when asked)."""
    return (*K8S, *GPU, *CADVISOR, *inference_queries(model_labels), *VOLUME, *(META if metadata else ()))


TABLES_BY_FAMILY = {
    "k8s": ("raw.container_requests", "raw.node_capacity"),
    "gpu": ("raw.gpu_usage",),
    "cadvisor": ("raw.container_usage", "raw.pod_network"),
    "inference": ("raw.inference", "raw.inference_latency"),
    "volume": ("raw.pvc", "raw.pod_pvc"),
    "meta": ("raw.k8s_pod", "raw.k8s_namespace", "raw.k8s_node"),
}

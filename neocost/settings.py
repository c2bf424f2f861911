"""Settings: one TOML file plus ``NEOCOST_*`` environment overrides, validated by pydantic.

Precedence, highest first: command-line flag > ``NEOCOST_*`` environment (nested with ``__``, e.g.
``NEOCOST_PROMETHEUS__URL``) > TOML file > defaults. The file is ``--config FILE``, else ``$NEOCOST_CONFIG``,
else ``./neocost.toml`` when it exists. Library code never reads ``os.environ``: build the settings once at
the CLI entry (:func:`load_settings`) and pass them down.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from neocost.errors import SettingsError

DEFAULT_CONFIG_NAME = "neocost.toml"
# the allocation tags, in report order: label keys in [labels], bucket/prefix rules in costmodel.storage_tags
TAGS = ("team", "project", "model", "env", "cost_center")
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|[KMGT]i?B)$", re.IGNORECASE)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class WarehouseSettings(_Section):
    path: Path = Field(Path("neocost.duckdb"), description="DuckDB file of the warehouse.")
    threads: int | None = Field(None, ge=1, description="DuckDB worker threads (default: all cores).")
    memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. '4GB' (default: DuckDB's).")
    block_memory: str = Field("auto", description="Buffer memory a writing job (collect, cost, drift, demo) keeps "
                              "for reuse instead of handing it back to the OS and faulting it in again (DuckDB's "
                              "block_allocator_memory; a cost build is ~20 % faster). Only what the job uses is "
                              "touched, and it is released when the job closes the warehouse. 'auto' = a quarter "
                              "of the machine's RAM, 'off', or a size such as '4GB'.")

    @field_validator("block_memory")
    @classmethod
    def _block_memory(cls, v: str) -> str:
        if v not in ("auto", "off") and not _SIZE.match(v):
            raise ValueError(f"{v!r} is not 'auto', 'off' or a size such as '512MB' or '4GB'")
        return v


class PrometheusSettings(_Section):
    url: str | None = Field(None, description="Prometheus-compatible HTTP API base URL (Prometheus, Thanos, "
                            "Mimir with its /prometheus prefix, VictoriaMetrics).")
    bearer_token: SecretStr | None = Field(None, description="Bearer token; prefer NEOCOST_PROMETHEUS__BEARER_TOKEN.")
    basic_auth_user: str | None = Field(None, description="HTTP basic-auth user.")
    basic_auth_password: SecretStr | None = Field(None, description="HTTP basic-auth password.")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="Extra HTTP headers, e.g. {\"X-Scope-OrgID\" = \"team-a\"} for Mimir.")
    ca_file: Path | None = Field(None, description="CA bundle for TLS verification.")
    verify_tls: bool = Field(True, description="Verify the server certificate.")
    timeout_seconds: float = Field(120.0, gt=0, description="Per-request timeout.")
    retries: int = Field(4, ge=0, description="Retries with exponential backoff on timeouts and 5xx.")
    resolution: str = Field("5m", description="Interval of the warehouse time series (a PromQL duration).")
    overlap: str = Field("15m", description="Incremental runs re-read this much before the watermark (late samples).")
    workers: int = Field(2, ge=1, le=32, description="Concurrent range-query shards.")
    gzip: bool = Field(False, description="Ask for gzip responses (helps on slow links; costs server CPU).")
    max_points_per_series: int = Field(11_000, ge=100, description="Split range queries to stay under this.")
    window: str = Field("1d", description="Commit unit: each window's rows and watermark are written in one "
                        "transaction (a failed window leaves nothing behind).")
    initial_lookback: str = Field("1d", description="First incremental run (no watermark yet) starts this far back.")
    shards_per_query: int = Field(1, ge=1, le=64, description="Time shards per query and fetch batch (on the step "
                                  "grid). Each request costs Prometheus a fixed share: at large scale 2 shards "
                                  "took ~1.7x the server CPU of 1. The queries themselves keep the workers busy.")
    duckdb_memory_limit: str = Field("128MB", description="DuckDB's memory limit while collecting, unless "
                                     "warehouse.memory_limit is set: committed rows stay cached in DuckDB up to "
                                     "its limit, ~90 MB more per large-scale day, so long backfills would grow "
                                     "(a large-scale 4 h batch needs well under it).")
    model_labels: dict[str, str] = Field(default_factory=dict, description="Label carrying the served model per "
                                         "inference server, e.g. {vllm = \"model_name\", otel = "
                                         "\"gen_ai_response_model\"} (defaults per server).")

    @field_validator("resolution", "overlap", "window", "initial_lookback")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class KubernetesSettings(_Section):
    enabled: bool = Field(False, description="Read metadata from the Kubernetes API (else from kube-state-metrics).")
    kubeconfig: Path | None = Field(None, description="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, "
                                    "or in-cluster config).")
    context: str | None = Field(None, description="kubeconfig context.")
    page_size: int = Field(500, ge=1, le=10_000, description="Items per list page (limit/continue).")
    capacity_type_label: str | None = Field(None, description="Extra node label that carries spot/on-demand.")
    node_pool_label: str | None = Field(None, description="Extra node label that carries the node pool.")


class S3Settings(_Section):
    endpoint_url: str | None = Field(None, description="S3 endpoint (Nebius Object Storage, MinIO, Ceph); "
                                     "empty = AWS.")
    region: str = Field("us-east-1", description="Region name for request signing.")
    addressing_style: Literal["path", "virtual", "auto"] = Field("path", description="Bucket addressing style.")
    inventory: list[str] = Field(default_factory=list,
                                 description="Inventory destinations, s3://bucket/prefix (one per source bucket "
                                 "or a common prefix).")
    buckets: list[str] = Field(default_factory=list,
                               description="Buckets to list with ListObjectsV2 when no inventory exists.")
    prefix_depth: int = Field(2, ge=0, le=10, description="Key path depth for the storage-by-prefix table.")
    stale_after_days: int = Field(30, ge=1, description="Checkpoint-like objects older than this are stale.")
    checkpoint_patterns: list[str] = Field(
        default_factory=lambda: ["checkpoint", "checkpoints", "ckpt", "ckpts"],
        description="Path segments that mark checkpoint prefixes.")


class LabelSettings(_Section):
    team: str = Field("team", description="Label key that carries the team.")
    project: str = Field("project", description="Label key that carries the project.")
    model: str = Field("model", description="Label key that carries the model.")
    env: str = Field("env", description="Label key that carries the environment.")
    cost_center: str = Field("cost-center", description="Label key that carries the cost center.")
    renames: dict[str, str] = Field(default_factory=dict,
                                    description="Extra label renames applied before tagging, source = target.")

    def tag_keys(self) -> dict[str, str]:
        """Tag name -> label key, in report order."""
        return {tag: getattr(self, tag) for tag in TAGS}


class CostModelSettings(_Section):
    pricebook: list[Path] = Field(default_factory=list,
                                  description="Price book files (TOML or OpenCost CSV), later files override "
                                  "earlier ones; the built-in Nebius-style book is always the base.")
    base_pricebook: Literal["neocloud", "hyperscaler"] = Field("neocloud", description="Built-in base book.")
    shared_namespaces: list[str] = Field(default_factory=lambda: ["monitoring", "kube-system"],
                                         description="Namespaces whose cost is shared over tenants.")
    share_idle: Literal["weighted", "even", "none"] = Field("weighted", description="How idle cost is spread "
                                                            "on the allocation basis.")
    share_shared: Literal["weighted", "even", "none"] = Field("weighted", description="How shared-namespace cost "
                                                              "is spread on the allocation basis.")
    output_input_weight: float = Field(4.0, gt=0, description="Cost of one output token in input tokens when the "
                                       "server reports no prefill/decode time.")
    egress_fallback_split: dict[str, float] = Field(
        default_factory=lambda: {"in-zone": 0.70, "cross-region": 0.20, "internet": 0.10},
        description="Split of total transmit bytes by class when no per-class egress metric exists.")
    storage_tags: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Tags for object storage by bucket or bucket/prefix, over the bucket's own tags (per tag the "
        "longest matching prefix that sets it wins; prefixes are stored to s3.prefix_depth levels), e.g. "
        '{"ml-data/checkpoints/llama/" = {team = "nlp", model = "llama"}}.')

    @field_validator("storage_tags")
    @classmethod
    def _storage_tags(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for where, tags in v.items():
            if not where.strip("/"):
                raise ValueError("a storage_tags key is empty; use 'bucket' or 'bucket/prefix/'")
            unknown = sorted(set(tags) - set(TAGS))
            if unknown:
                raise ValueError(f"storage_tags[{where!r}] has unknown tag(s) {unknown}; allowed: {list(TAGS)}")
        return v


class DriftSettings(_Section):
    embeddings: str | None = Field(None, description="Embedding Parquet files: a directory, a glob, or "
                                   "s3://bucket/prefix.")
    window: str = Field("1h", description="Window length (a PromQL-style duration).")
    alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise false-alarm rate per window.")
    persistence: int = Field(2, ge=1, description="Consecutive windows that must agree before drift is declared.")
    floor_quantile: float = Field(0.95, gt=0.5, lt=1, description="Quantile of reference-vs-reference effects "
                                  "that an effect must exceed.")
    min_rows: int = Field(50, ge=10, description="Windows with fewer rows are 'insufficient data'.")
    permutations: int = Field(999, ge=19, description="Permutations for p-values (p = (k+1)/(B+1)).")
    methods: list[Literal["cosine_shift", "cosine_ks", "mmd_rff"]] = Field(
        default_factory=lambda: ["cosine_shift", "cosine_ks", "mmd_rff"], description="Scores computed per window.")
    method: Literal["cosine_shift", "cosine_ks", "mmd_rff"] = Field("cosine_shift", description="The score that "
                                                                     "drives the alert and the marts.")
    sample_rows: int = Field(4096, ge=100, description="Bottom-k sample kept per window (tests and p-values).")
    reference: Literal["fixed", "trailing", "baseline"] = Field("fixed", description="fixed: reference_start.."
                                                                "reference_end, else the first reference_period of "
                                                                "each series; trailing: the previous "
                                                                "reference_period; baseline: a saved baseline.")
    reference_start: datetime | None = Field(None, description="Start of a fixed reference (UTC).")
    reference_end: datetime | None = Field(None, description="End of a fixed reference (UTC, exclusive).")
    reference_period: str = Field("6h", description="Length of the automatic fixed or trailing reference.")
    baseline: str | None = Field(None, description="Baseline name for reference = 'baseline'.")
    null_trials: int = Field(200, ge=50, description="Reference-vs-reference splits that learn the effect floors.")
    domain_auc: bool = Field(False, description="Also store a cross-fitted LDA domain-classifier ROC AUC per window "
                             "(details.domain_auc; an effect size, not part of the decision; ~2-10 ms per window).")
    second_moment: bool = Field(False, description="Also store Σ u uᵀ (d² values) per window.")

    @field_validator("window", "reference_period")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class Settings(BaseSettings):
    """All neocost settings. Every field is documented in ``neocost init``'s example file."""

    model_config = SettingsConfigDict(env_prefix="NEOCOST_", env_nested_delimiter="__", extra="forbid",
                                      validate_assignment=True)

    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    costmodel: CostModelSettings = Field(default_factory=CostModelSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init kwargs carry the TOML content (see load_settings); the environment overrides it.
        return env_settings, init_settings


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """'5m' -> 300 seconds. Accepts one or more <int><unit> pairs (s, m, h, d, w), e.g. '1h30m'."""
    import re

    parts = re.fullmatch(r"(?:\d+[smhdw])+", text.strip())
    if not parts:
        raise ValueError(f"{text!r} is not a duration; use e.g. 30s, 5m, 1h, 7d")
    seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", text))
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


def find_config(explicit: Path | None, environ: dict[str, str]) -> Path | None:
    """The settings file to read: --config, then $NEOCOST_CONFIG, then ./neocost.toml if present."""
    if explicit is not None:
        return explicit
    if environ.get("NEOCOST_CONFIG"):
        return Path(environ["NEOCOST_CONFIG"])
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_settings(config: Path | None = None, overrides: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Build validated settings from the file, the environment and command-line ``overrides``.

    ``overrides`` is nested like the file, e.g. ``{"prometheus": {"url": "http://..."}}``; ``None`` values are
    ignored so unset flags do not mask the file or the environment.
    """
    environ = dict(os.environ) if environ is None else environ
    path = find_config(config, environ)
    data: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise SettingsError(f"settings file {path} does not exist; create one with `neocost init` "
                                "or drop --config / NEOCOST_CONFIG")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc})") from exc
    try:
        settings = _build(data, environ)
        if overrides:
            merged = settings.model_dump()
            _deep_merge(merged, _drop_none(overrides))
            settings = _build(merged, {})  # env is already in `merged`; re-reading it would beat the flags
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc, path)) from None
    return settings


def _build(data: dict[str, Any], environ: dict[str, str]) -> Settings:
    # pydantic-settings reads os.environ itself; scope it to the mapping we were given.
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({k: v for k, v in environ.items() if k.startswith("NEOCOST_") and k != "NEOCOST_CONFIG"})
        return Settings(**data)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            sub = _drop_none(v)
            if sub:
                out[k] = sub
        elif v is not None:
            out[k] = v
    return out


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v


def format_validation_error(exc: ValidationError, path: Path | None) -> str:
    """One line per problem: the dotted key, the bad value, what is allowed, and where it came from."""
    where = f"in {path} or NEOCOST_* environment" if path else "in NEOCOST_* environment or flags"
    lines = [f"invalid settings ({where}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        env = "NEOCOST_" + "__".join(str(p).upper() for p in err["loc"])
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown setting (value {value!r}); see `neocost init` for the valid keys")
        else:
            lines.append(f"  {key} = {value!r}: {err['msg']} (set it in the TOML file or as {env})")
    return "\n".join(lines)

"""Diurnal load and inference traffic: per-interval request, token and latency increments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neocost.simulate.model import STEP, Inference


def diurnal(t0: int, n: int, peak_hour: float = 15.0) -> np.ndarray:
    """0..1 sinusoid over the day (UTC), peaking at ``peak_hour``."""
    hours = ((t0 + STEP * np.arange(n)) % 86400) / 3600.0
    return 0.5 + 0.5 * np.cos(2 * np.pi * (hours - peak_hour) / 24.0)


@dataclass(frozen=True)
class ModelProfile:
    """Traffic shape of one served model."""

    server: str
    model_tag: str
    served_name: str
    team: str
    project: str
    gpu_desc: str
    rps: float  # mean requests/s per replica at peak
    input_mean: float  # tokens per request
    output_mean: float
    error_rate: float = 0.01
    cache_ratio: float = 0.0  # share of prompt tokens served from the prefix cache (vLLM)
    prefill_per_token: float = 0.00015  # seconds
    decode_per_token: float = 0.012
    queue_mean: float = 0.02


def make_traffic(profile: ModelProfile, load: np.ndarray, rng: np.random.Generator) -> Inference:
    """Integer request and token increments per interval for one replica, given its 0..1 diurnal load."""
    n = load.size
    lam = profile.rps * STEP * (0.3 + 0.7 * load) * rng.lognormal(0.0, 0.15, n)
    total = rng.poisson(lam).astype(np.float64)
    errors = rng.binomial(total.astype(np.int64), profile.error_rate).astype(np.float64)
    ok = total - errors
    inp = rng.poisson(ok * profile.input_mean).astype(np.float64)
    out = rng.poisson(ok * profile.output_mean).astype(np.float64)
    cached = (rng.binomial(inp.astype(np.int64), profile.cache_ratio).astype(np.float64)
              if profile.cache_ratio else np.zeros(n))
    slow = 1.0 + 0.5 * load  # busier -> slower
    with np.errstate(invalid="ignore", divide="ignore"):
        per_req_in = np.where(ok > 0, inp / np.maximum(ok, 1), profile.input_mean)
        per_req_out = np.where(ok > 0, out / np.maximum(ok, 1), profile.output_mean)
    prefill_mean = per_req_in * profile.prefill_per_token * slow
    decode_mean = per_req_out * profile.decode_per_token * slow
    queue_mean = profile.queue_mean * slow * slow
    inf = Inference(server=profile.server, model_tag=profile.model_tag, served_name=profile.served_name,
                    team=profile.team, gpu_desc=profile.gpu_desc)
    inf.successes, inf.errors, inf.input_tokens, inf.output_tokens, inf.cached_tokens = ok, errors, inp, out, cached
    inf.prefill_s = np.round(ok * prefill_mean, 6)
    inf.decode_s = np.round(ok * decode_mean, 6)
    inf.ttft_mean = queue_mean + prefill_mean + profile.decode_per_token
    inf.e2e_mean = queue_mean + prefill_mean + decode_mean
    inf.queue_mean = queue_mean
    return inf


def bucket_counts(count: np.ndarray, mean: np.ndarray, les: list[float], sigma: float = 0.6) -> np.ndarray:
    """Cumulative bucket increments (len(les) × n) for ``count`` observations, lognormal around ``mean``.

    Rounding a non-decreasing CDF times the count keeps buckets cumulative; the caller adds ``+Inf = count``.
    """
    from scipy.special import ndtr

    mu = np.log(np.maximum(mean, 1e-9)) - sigma**2 / 2
    le = np.asarray(les, dtype=np.float64)[:, None]
    cdf = ndtr((np.log(le) - mu[None, :]) / sigma)
    out = np.floor(cdf * count[None, :] + 0.5)
    return np.minimum(np.maximum.accumulate(out, axis=0), count[None, :])

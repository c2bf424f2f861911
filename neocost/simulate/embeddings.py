"""Anisotropic 384-d embeddings per model, with a topic-mix drift injected at a known time for one model.

A row is ``a·μ + topic centre + low-rank jitter + isotropic noise``, L2-normalised: a common mean direction (the
narrow cone of real sentence embeddings, mean pairwise cosine ~0.4), topic structure in a 16-d subspace, noise.
Drift = a new topic taking ``DRIFT_SHARE`` of the rows (a topic-mix shift, the case docs/drift.md calibrates).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DIM = 384
RANK = 16
TOPICS = 8
SEGMENTS = ("web", "api", "mobile")
DRIFT_SHARE = 0.2
MEAN_SCALE, TOPIC_SCALE, JITTER, NOISE = 1.0, 0.75, 0.35, 0.055


@dataclass(frozen=True)
class EmbeddingModel:
    name: str
    drifts: bool
    onset_hours_before_end: int | None  # drift onset, hours before the window end


MODELS = [EmbeddingModel("llama-3-8b", True, 12), EmbeddingModel("bge-large", False, None)]
_BY_NAME = {m.name: m for m in MODELS}


def _space(model: str) -> dict[str, np.ndarray]:
    """The model's fixed geometry (independent of any seed, so windows of one model are comparable)."""
    rng = np.random.default_rng(zlib.crc32(model.encode()))
    mu = rng.standard_normal(DIM)
    mu /= np.linalg.norm(mu)
    basis, _ = np.linalg.qr(rng.standard_normal((DIM, RANK + 1)))
    basis = basis[:, 1:] - np.outer(mu, mu @ basis[:, 1:])
    centres = rng.standard_normal((TOPICS + 1, RANK)) / np.sqrt(RANK)
    weights = rng.dirichlet(np.full(TOPICS, 3.0))
    return {"mu": mu, "basis": basis, "centres": centres, "weights": weights}


def sample_window(model: str, n: int, *, drifted: bool, seed: int) -> np.ndarray:
    """``n × 384`` float32 unit rows from the model's distribution, before or after its injected drift."""
    if model not in _BY_NAME:
        raise KeyError(f"no embeddings for model {model!r}; known: {', '.join(_BY_NAME)}")
    sp = _space(model)
    rng = np.random.default_rng([seed, zlib.crc32(model.encode()), int(drifted)])
    topic = rng.choice(TOPICS, size=n, p=sp["weights"])
    if drifted and _BY_NAME[model].drifts:
        topic = np.where(rng.random(n) < DRIFT_SHARE, TOPICS, topic)  # the new topic
    z = sp["centres"][topic] * TOPIC_SCALE + rng.standard_normal((n, RANK)) * (JITTER / np.sqrt(RANK))
    x = MEAN_SCALE * sp["mu"][None, :] + z @ sp["basis"].T + rng.standard_normal((n, DIM)) * NOISE
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def write_embeddings(out: Path, *, end: datetime, seed: int, hours: int = 48, rows_per_hour: int = 250) -> dict:
    """Per model, ``<model>/<YYYY-MM-DD>.parquet`` for the last ``hours`` of the window; returns truth's drift block."""
    drift: dict[str, dict[str, str | None]] = {}
    start = end - timedelta(hours=hours)
    for m in MODELS:
        onset = end - timedelta(hours=m.onset_hours_before_end) if m.drifts else None
        drift[m.name] = {"onset": onset.strftime("%Y-%m-%dT%H:%M:%SZ") if onset else None}
        by_day: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for h in range(hours):
            t = start + timedelta(hours=h)
            drifted = onset is not None and t >= onset
            x = sample_window(m.name, rows_per_hour, drifted=drifted, seed=seed * 100_003 + h)
            rng = np.random.default_rng([seed, h, zlib.crc32(m.name.encode())])
            offs = np.sort(rng.integers(0, 3600 * 10**6, rows_per_hour))
            ts = np.datetime64(t.replace(tzinfo=None), "us") + offs.astype("timedelta64[us]")
            seg = rng.choice(len(SEGMENTS), rows_per_hour)
            by_day.setdefault(t.strftime("%Y-%m-%d"), []).append((ts, seg, x))
        d = out / m.name
        d.mkdir(parents=True, exist_ok=True)
        for day, parts in by_day.items():
            ts = np.concatenate([p[0] for p in parts])
            seg = np.concatenate([p[1] for p in parts])
            x = np.concatenate([p[2] for p in parts])
            table = pa.table({
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "model": pa.array([m.name] * len(ts)),
                "segment": pa.array(np.asarray(SEGMENTS)[seg]),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()), DIM)})
            pq.write_table(table, d / f"{day}.parquet", compression="zstd")
    return {"window": "1h", "models": drift}


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC)

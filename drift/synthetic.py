"""Anisotropic synthetic sentence embeddings with a known answer (tests and the benchmark).

Real sentence embeddings sit in a narrow cone: a large shared mean direction plus a low-rank, power-law spread,
and topics show up as clusters. :class:`EmbeddingSpace` reproduces that shape: mean pairwise cosine ≈ 0.45,
eigenvalues decaying like 1/i, a handful of topic centres. ``sample`` draws L2-normalised float32 rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EmbeddingSpace:
    dim: int = 384
    topics: int = 8
    seed: int = 0
    cone: float = 1.0          # norm of the shared mean direction (the cone's axis)
    spread: float = 1.0        # total variance of the noise
    topic_scale: float = 0.45  # norm of a topic's offset from the cone axis
    _basis: np.ndarray = field(init=False, repr=False)
    _scales: np.ndarray = field(init=False, repr=False)
    _axis: np.ndarray = field(init=False, repr=False)
    _centres: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        q, _ = np.linalg.qr(rng.standard_normal((self.dim, self.dim)))
        lam = 1.0 / np.arange(1, self.dim + 1)
        lam *= self.spread / lam.sum()
        self._basis = q.astype(np.float32)
        self._scales = np.sqrt(lam).astype(np.float32)
        axis = rng.standard_normal(self.dim)
        self._axis = (self.cone * axis / np.linalg.norm(axis)).astype(np.float32)
        # topics: offsets along the high-variance directions, where real topics live
        offs = rng.standard_normal((self.topics + 1, self.dim)) * np.sqrt(lam) * np.sqrt(self.dim)
        offs *= self.topic_scale / np.linalg.norm(offs, axis=1, keepdims=True)
        self._centres = (offs @ q.T).astype(np.float32)  # the last one is the 'new' topic

    def sample(self, n: int, *, seed: int, mix: np.ndarray | None = None, new_topic_share: float = 0.0,
               mean_shift: np.ndarray | None = None) -> np.ndarray:
        """n unit rows: topic mixture ``mix`` (default uniform) with ``new_topic_share`` of rows from a topic
        never seen in the reference, plus an optional ``mean_shift`` added before normalising."""
        rng = np.random.default_rng(seed)
        k = self.topics
        mix = np.full(k, 1.0 / k) if mix is None else np.asarray(mix, dtype=float) / np.sum(mix)
        probs = np.append(mix * (1.0 - new_topic_share), new_topic_share)
        labels = rng.choice(k + 1, size=n, p=probs)
        z = rng.standard_normal((n, self.dim), dtype=np.float32)
        z *= self._scales
        x = z @ self._basis.T
        x += self._axis
        x += self._centres[labels]
        if mean_shift is not None:
            x += mean_shift.astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def shift_direction(self, size: float, seed: int = 99) -> np.ndarray:
        """A mean shift of norm ``size`` along a random high-variance direction."""
        rng = np.random.default_rng(seed)
        v = (rng.standard_normal(self.dim) * self._scales) @ self._basis.T
        return (size * v / np.linalg.norm(v)).astype(np.float32)

"""Drift statistics on embedding windows: pure numpy/scipy, no I/O.

Everything here is O(n·d) in the window size, or works on a bounded subsample: no n×n matrix is ever built
outside :func:`mmd_exact`, which refuses more than ``max_rows`` rows per side.

Notation: rows are L2-normalised embeddings ``u`` (reference) and ``v`` (current); ``S1 = Σ u`` is the
mergeable window sum (:mod:`drift.summaries`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from neocost.errors import DriftInputError


@dataclass(frozen=True)
class TestResult:
    """One statistic: its value, a p-value, the effect size the decision compares with a floor."""

    method: str
    statistic: float
    p_value: float
    effect: float
    p_method: str
    details: dict[str, float]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32). Zero or non-finite rows raise: filter them first."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise DriftInputError("embedding rows with NaN/inf values or zero norm cannot be normalised; "
                              "drop them before scoring (drift.io does this and reports the count)")
    return x / norms


# ---- centroid statistics from the mergeable sums -------------------------------------------------------------

def within_cosine(n: int, s1: np.ndarray) -> float:
    """Mean pairwise cosine inside a window, self-pairs excluded: (‖S1‖² − n) / (n(n − 1))."""
    return float((s1 @ s1 - n) / (n * (n - 1)))


def centroid_shift(n_ref: int, s1_ref: np.ndarray, n_cur: int, s1_cur: np.ndarray) -> TestResult:
    """Centroid displacement in units of the reference cloud's RMS radius, from the sums alone.

    ``mmd2 = W_ref + W_cur − 2·C`` (within-window mean pairwise cosines minus twice the cross-window one) is the
    unbiased linear-kernel MMD², i.e. an unbiased ‖v̄ − ū‖². It is translation invariant, so it equals the shift
    of the *reference-centred* centroids; dividing by ``1 − W_ref`` (the mean squared distance of a row to its
    centroid) makes it independent of how narrow the cone is. The raw ``1 − cos(ū, v̄)`` is kept in details:
    it is tiny (≈ 1e-3) for real sentence embeddings because every row shares the cone's mean direction.
    """
    w_ref, w_cur = within_cosine(n_ref, s1_ref), within_cosine(n_cur, s1_cur)
    cross = float(s1_ref @ s1_cur / (n_ref * n_cur))
    mmd2 = w_ref + w_cur - 2.0 * cross
    spread = max(1.0 - w_ref, 1e-12)
    effect = float(np.sqrt(max(mmd2, 0.0) / spread))
    raw_cos = float(cross / np.sqrt(max((s1_ref @ s1_ref) * (s1_cur @ s1_cur), 1e-300)) * n_ref * n_cur)
    return TestResult("cosine_shift", mmd2, float("nan"), effect, "none",
                      {"raw_cosine_distance": 1.0 - raw_cos, "within_cos_ref": w_ref, "within_cos_cur": w_cur})


# ---- permutation tests with a 0/1 selection GEMM ----------------------------------------------------------------

@lru_cache(maxsize=8)
def selection_matrix(n_cur: int, n_ref: int, permutations: int, seed: int = 0) -> np.ndarray:
    """B × (n_cur + n_ref) float32 0/1 rows, each choosing n_cur pooled rows as the 'current' window.

    It depends only on the sizes, so it is built once per size and reused for every window, reference and
    feature map (building it costs more than the GEMM it feeds).
    """
    rng = np.random.default_rng(seed)
    n = n_cur + n_ref
    template = np.zeros(n, dtype=np.float32)
    template[:n_cur] = 1.0
    w = rng.permuted(np.broadcast_to(template, (permutations, n)), axis=1)
    w.setflags(write=False)
    return w


def permutation_mean_test(cur: np.ndarray, ref: np.ndarray, permutations: int, seed: int = 0
                          ) -> tuple[float, float, str, np.ndarray]:
    """Two-sample test of equal means: statistic ‖mean(cur) − mean(ref)‖², pooled permutation null.

    Returns (statistic, p, p_method, permuted statistics). ``p = (k + 1)/(B + 1)`` (Phipson & Smyth); when no
    permutation reaches the observed value the tail beyond 1/(B + 1) is read from a gamma fitted to the
    permutation statistics (moment matching, as TorchDrift does), so a Bonferroni-corrected α below 1/(B + 1)
    stays reachable. Cost: one (B × N) @ (N × d) GEMM.
    """
    n, m = len(cur), len(ref)
    pooled = np.concatenate([cur, ref]).astype(np.float32, copy=False)
    pooled = pooled - pooled.mean(axis=0, dtype=np.float64).astype(np.float32)
    # With pooled sums at zero, sum(ref) = −sum(cur): the mean difference is sum(cur)·(1/n + 1/m).
    scale = (1.0 / n + 1.0 / m) ** 2
    observed = float(np.square(pooled[:n].sum(axis=0, dtype=np.float64)).sum() * scale)
    sel = selection_matrix(n, m, permutations, seed)
    perm = np.square(sel @ pooled, dtype=np.float32).sum(axis=1, dtype=np.float64) * scale
    k = int(np.count_nonzero(perm >= observed))
    p = (k + 1) / (permutations + 1)
    if k == 0:
        mean, var = float(perm.mean()), float(perm.var())
        if var > 0 and mean > 0:
            shape, theta = mean * mean / var, var / mean
            tail = float(stats.gamma.sf(observed, shape, scale=theta))
            return observed, max(min(p, tail), 1e-300), "permutation+gamma_tail", perm
    return observed, p, "permutation", perm


# ---- per-sample cosine to the reference centroid ---------------------------------------------------------------

def cosine_to_centroid_test(cur: np.ndarray, ref: np.ndarray, direction: np.ndarray) -> TestResult:
    """KS and Wasserstein-1 between per-row cosines to the reference centroid direction, current vs reference.

    ``direction`` must come from reference rows disjoint from ``ref`` (see :mod:`drift.calibrate`), otherwise
    every reference row is biased towards it by its own 1/n share and the test alarms at small n.
    """
    s_cur = cur @ direction
    s_ref = ref @ direction
    ks = stats.ks_2samp(s_ref, s_cur)
    w1 = float(stats.wasserstein_distance(s_ref, s_cur))
    return TestResult("cosine_ks", float(ks.statistic), float(ks.pvalue), float(ks.statistic), "ks_2samp",
                      {"wasserstein": w1, "mean_cos_cur": float(s_cur.mean()), "mean_cos_ref": float(s_ref.mean())})


def ks_effect(cur_s: np.ndarray, ref_s: np.ndarray) -> float:
    return float(stats.ks_2samp(ref_s, cur_s).statistic)


# ---- MMD: random Fourier features (default) and exact on a bounded subsample ----------------------------------

@dataclass(frozen=True)
class FourierMap:
    """Random features z ↦ √(2/D)·cos(zΩ + b) approximating an RBF kernel of bandwidth ``sigma``."""

    omega: np.ndarray
    phase: np.ndarray
    sigma: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.omega
        z += self.phase
        np.cos(z, out=z)
        z *= np.float32(np.sqrt(2.0 / self.omega.shape[1]))
        return z


def median_bandwidth(x: np.ndarray, max_rows: int = 500, seed: int = 0) -> float:
    """Median pairwise Euclidean distance on at most ``max_rows`` rows (the usual RBF heuristic)."""
    rng = np.random.default_rng(seed)
    if len(x) > max_rows:
        x = x[rng.choice(len(x), max_rows, replace=False)]
    sq = np.square(x, dtype=np.float64).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    iu = np.triu_indices(len(x), 1)
    return float(np.sqrt(np.median(d2[iu]))) or 1.0


def fourier_map(d: int, sigma: float, features: int = 256, seed: int = 0) -> FourierMap:
    rng = np.random.default_rng(seed)
    omega = (rng.standard_normal((d, features)) / sigma).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, features).astype(np.float32)
    return FourierMap(omega, phase, sigma)


def mmd2_unbiased_features(fa: np.ndarray, fb: np.ndarray) -> float:
    """Unbiased MMD² for the linear kernel on feature rows (self-pairs excluded), O(n·D)."""
    n, m = len(fa), len(fb)
    sa, sb = fa.sum(axis=0, dtype=np.float64), fb.sum(axis=0, dtype=np.float64)
    qa, qb = float(np.square(fa, dtype=np.float64).sum()), float(np.square(fb, dtype=np.float64).sum())
    return float((sa @ sa - qa) / (n * (n - 1)) + (sb @ sb - qb) / (m * (m - 1)) - 2.0 * (sa @ sb) / (n * m))


def mmd_rff_test(cur: np.ndarray, ref_features: np.ndarray, fmap: FourierMap, permutations: int,
                 seed: int = 0) -> TestResult:
    """Random-Fourier-feature MMD with a pooled permutation p-value; effect = √max(MMD²_u, 0)."""
    fc = fmap(cur)
    mmd2 = mmd2_unbiased_features(fc, ref_features)
    stat, p, how, _ = permutation_mean_test(fc, ref_features, permutations, seed)
    return TestResult("mmd_rff", mmd2, p, float(np.sqrt(max(mmd2, 0.0))), how,
                      {"sigma": fmap.sigma, "features": float(fmap.omega.shape[1])})


def mmd_exact(cur: np.ndarray, ref: np.ndarray, permutations: int = 199, max_rows: int = 1000,
              seed: int = 0) -> TestResult:
    """Exact unbiased RBF MMD² with permutation p-value, on at most ``max_rows`` rows per side (n² kernel)."""
    rng = np.random.default_rng(seed)
    if len(cur) > max_rows:
        cur = cur[rng.choice(len(cur), max_rows, replace=False)]
    if len(ref) > max_rows:
        ref = ref[rng.choice(len(ref), max_rows, replace=False)]
    n, m = len(cur), len(ref)
    z = np.concatenate([cur, ref]).astype(np.float64)
    sigma = median_bandwidth(z, seed=seed)
    sq = np.square(z).sum(axis=1)
    k = np.exp(-np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0) / (2 * sigma * sigma))
    np.fill_diagonal(k, 0.0)

    def stat(w: np.ndarray) -> np.ndarray:  # w: B × N 0/1 rows marking 'current'
        kw = w @ k
        within_c = (kw * w).sum(axis=1)
        total = k.sum()
        row = kw.sum(axis=1)
        within_r = total - 2 * row + within_c
        cross = row - within_c
        return within_c / (n * (n - 1)) + within_r / (m * (m - 1)) - 2 * cross / (n * m)

    w0 = np.zeros((1, n + m))
    w0[0, :n] = 1
    observed = float(stat(w0)[0])
    perm = stat(selection_matrix(n, m, permutations, seed).astype(np.float64))
    p = (int(np.count_nonzero(perm >= observed)) + 1) / (permutations + 1)
    return TestResult("mmd_exact", observed, p, float(np.sqrt(max(observed, 0.0))), "permutation",
                      {"sigma": sigma, "rows_per_side": float(max(n, m))})

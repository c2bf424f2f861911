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

# Batch ends of the sequential permutation test: most null windows stop after the first batch (Besag–Clifford),
# windows far in the tail after the second; only borderline ones use all B permutations.
BATCHES = (49, 99, 199, 399, 999)


def batch_bounds(permutations: int) -> list[tuple[int, int]]:
    ends = [b for b in BATCHES if b < permutations] + [permutations]
    return list(zip([0, *ends[:-1]], ends, strict=True))


@lru_cache(maxsize=32)
def selection_rows(n_cur: int, n_ref: int, lo: int, hi: int, seed: int = 0) -> np.ndarray:
    """Relabelings lo..hi as (hi − lo) × (n_cur + n_ref) float32 0/1 rows, each choosing n_cur pooled rows as the
    'current' window. Built per batch (a window that stops after 49 relabelings never builds the rest) and cached
    per size, so windows of the same size share them (building them costs more than the GEMM they feed)."""
    rng = np.random.default_rng([seed, n_cur, n_ref, lo])
    template = np.zeros(n_cur + n_ref, dtype=np.float32)
    template[:n_cur] = 1.0
    w = rng.permuted(np.broadcast_to(template, (hi - lo, n_cur + n_ref)), axis=1)
    w.setflags(write=False)
    return w


def selection_matrix(n_cur: int, n_ref: int, permutations: int, seed: int = 0) -> np.ndarray:
    """All B relabelings (the batches of :func:`selection_rows` stacked)."""
    return np.vstack([selection_rows(n_cur, n_ref, lo, hi, seed) for lo, hi in batch_bounds(permutations)])


@dataclass(frozen=True)
class PermutationResult:
    statistic: float
    p_value: float
    p_method: str
    permutations: int   # permutations actually evaluated


def _centred_sums(cur: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Pooled rows centred on the pooled mean (float32) and the observed ‖mean(cur) − mean(ref)‖²."""
    n, m = len(cur), len(ref)
    pooled = np.concatenate([cur, ref]).astype(np.float32, copy=False)
    pooled = pooled - pooled.mean(axis=0, dtype=np.float64).astype(np.float32)
    # With pooled sums at zero, sum(ref) = −sum(cur): the mean difference is sum(cur)·(1/n + 1/m).
    scale = (1.0 / n + 1.0 / m) ** 2
    return pooled, float(np.square(pooled[:n].sum(axis=0, dtype=np.float64)).sum() * scale), scale


def _gamma_tail(observed: float, perm: np.ndarray) -> float:
    mean, var = float(perm.mean()), float(perm.var())
    if var <= 0 or mean <= 0:
        return 1.0
    return float(stats.gamma.sf(observed, mean * mean / var, scale=var / mean))


def permutation_tests(blocks: list[tuple[np.ndarray, np.ndarray]], permutations: int, *, seed: int = 0,
                      alpha: float | None = None, h: int = 20, min_tail: int = 99, risk: float = 0.001
                      ) -> list[PermutationResult]:
    """Equal-means tests (statistic ‖mean(cur) − mean(ref)‖²) for several feature maps of the *same* rows, on one
    shared set of relabelings: each batch is one GEMM of a b × N 0/1 selection matrix with the pooled, centred
    blocks side by side (the centroid test's rows and the RFF features together).

    Sequential, per statistic, on batches ending at :data:`BATCHES` (capped at ``permutations`` = B):

    - Besag–Clifford (1991): stop at the ``h``-th permuted statistic ≥ the observed one, after L relabelings,
      with ``p = h/L``; a statistic that never reaches h exceedances gets ``p = (k+1)/(B+1)`` (Phipson & Smyth).
      Both are valid p-values. Null windows typically stop after 49 relabelings.
    - Far in the tail: after ≥ ``min_tail`` relabelings with none reaching the observed value, when a gamma
      fitted to the permuted statistics (moment matching, as TorchDrift) puts the observed value below
      ``alpha``/10, stop: more relabelings would only confirm k = 0. Whenever k = 0 the reported p is the
      smaller of 1/(L+1) and the gamma tail (``p_method = permutation+gamma_tail``), so a Bonferroni-corrected
      α below 1/(B+1) stays reachable.
    - Settled decision: after ≥ ``min_tail`` relabelings with k exceedances, when the Clopper–Pearson upper
      bound (confidence 1 − ``risk``) of the true permutation p is below ``alpha``, stop with p = (k+1)/(L+1):
      the decision p < α would not change with more relabelings except with probability ``risk`` (Gandy 2009).
    """
    if not blocks:
        return []
    n, m = len(blocks[0][0]), len(blocks[0][1])
    parts, observed, scale, cols = [], [], 1.0, [0]
    for cur, ref in blocks:
        if len(cur) != n or len(ref) != m:
            raise ValueError("permutation_tests: every block must hold the same rows (same n and m)")
        pooled, obs, scale = _centred_sums(cur, ref)
        parts.append(pooled)
        observed.append(obs)
        cols.append(cols[-1] + pooled.shape[1])
    pooled = parts[0] if len(parts) == 1 else np.ascontiguousarray(np.concatenate(parts, axis=1))
    stats_: list[list[np.ndarray]] = [[] for _ in blocks]
    done: list[PermutationResult | None] = [None] * len(blocks)
    for lo, end in batch_bounds(permutations):
        active = [i for i, d in enumerate(done) if d is None]
        if not active:
            break
        proj = selection_rows(n, m, lo, end, seed) @ pooled
        for i in active:
            perm = np.square(proj[:, cols[i]:cols[i + 1]], dtype=np.float32).sum(axis=1, dtype=np.float64) * scale
            stats_[i].append(perm)
            allp = np.concatenate(stats_[i])
            hits = np.flatnonzero(allp >= observed[i])
            if len(hits) >= h:  # Besag–Clifford: stop at the h-th exceedance
                done[i] = PermutationResult(observed[i], h / (int(hits[h - 1]) + 1), "permutation_sequential",
                                            int(hits[h - 1]) + 1)
            elif len(hits) == 0 and alpha is not None and end >= min_tail and end < permutations \
                    and _gamma_tail(observed[i], allp) < alpha / 10:
                done[i] = PermutationResult(observed[i], max(min(1 / (end + 1), _gamma_tail(observed[i], allp)),
                                                             1e-300), "permutation+gamma_tail", end)
            elif alpha is not None and end >= min_tail and end < permutations \
                    and stats.beta.ppf(1 - risk, len(hits) + 1, end - len(hits)) < alpha:
                # the decision is settled: the true permutation p is below α with probability ≥ 1 − risk
                # (Gandy 2009's resampling risk), so more relabelings would not change it
                k = len(hits)
                done[i] = (PermutationResult(observed[i], (k + 1) / (end + 1), "permutation_sequential", end) if k
                           else PermutationResult(observed[i], max(min(1 / (end + 1), _gamma_tail(observed[i], allp)),
                                                                   1e-300), "permutation+gamma_tail", end))
    for i, d in enumerate(done):
        if d is None:
            allp = np.concatenate(stats_[i])
            k = int(np.count_nonzero(allp >= observed[i]))
            if k == 0:
                tail = _gamma_tail(observed[i], allp)
                done[i] = PermutationResult(observed[i], max(min(1 / (len(allp) + 1), tail), 1e-300),
                                            "permutation+gamma_tail", len(allp))
            else:
                done[i] = PermutationResult(observed[i], (k + 1) / (len(allp) + 1), "permutation", len(allp))
    return [d for d in done if d is not None]


def permutation_mean_test(cur: np.ndarray, ref: np.ndarray, permutations: int, seed: int = 0,
                          alpha: float | None = None) -> tuple[float, float, str]:
    """One equal-means permutation test (see :func:`permutation_tests`): (statistic, p, p_method)."""
    r = permutation_tests([(cur, ref)], permutations, seed=seed, alpha=alpha)[0]
    return r.statistic, r.p_value, r.p_method


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
    qa, qb = float(np.einsum("ij,ij->", fa, fa)), float(np.einsum("ij,ij->", fb, fb))
    return float((sa @ sa - qa) / (n * (n - 1)) + (sb @ sb - qb) / (m * (m - 1)) - 2.0 * (sa @ sb) / (n * m))


def mmd_rff_effect(fc: np.ndarray, ref_features: np.ndarray, fmap: FourierMap, perm: PermutationResult
                   ) -> TestResult:
    """RFF-MMD result from the current window's features and its (shared) permutation test."""
    mmd2 = mmd2_unbiased_features(fc, ref_features)
    return TestResult("mmd_rff", mmd2, perm.p_value, float(np.sqrt(max(mmd2, 0.0))), perm.p_method,
                      {"sigma": fmap.sigma, "features": float(fmap.omega.shape[1]),
                       "permutations": float(perm.permutations)})


def mmd_rff_test(cur: np.ndarray, ref_features: np.ndarray, fmap: FourierMap, permutations: int,
                 seed: int = 0, alpha: float | None = None) -> TestResult:
    """Random-Fourier-feature MMD with a pooled permutation p-value; effect = √max(MMD²_u, 0)."""
    fc = fmap(cur)
    perm = permutation_tests([(fc, ref_features)], permutations, seed=seed, alpha=alpha)[0]
    return mmd_rff_effect(fc, ref_features, fmap, perm)


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

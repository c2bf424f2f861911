"""Reference fitting: centring split, test split, and effect floors learned from reference-vs-reference splits.

The reference sample (the bottom-k samples of the reference windows, merged) is split once, at random:

- the **fit split** gives the centre ``μ_ref`` and the centroid direction used by the per-row cosine test.
  It is disjoint from the test split, so reference rows are not pulled towards a centroid they are part of;
- the **test split** is the reference side of every two-sample test, and the pool from which the null
  (reference-vs-reference) effects are drawn.

Floors: ``trials`` random pairs of disjoint halves of the test split give each method's effect under "no
drift" at size h per side. Every effect here shrinks like √(1/n + 1/m) under the null (a χ²-type quadratic
form for the centroid and MMD, the Kolmogorov scaling for KS), so the null effects are stored divided by
√(2/h) and the floor for a window of n rows against a reference of m rows is their ``q``-quantile times
√(1/n + 1/m). When the window is no larger than the pool allows (n ≤ h) the splits are drawn at n exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drift import domain, scores
from neocost.errors import DriftInputError

METHODS = ("cosine_shift", "cosine_ks", "mmd_rff")


@dataclass
class Reference:
    """Everything needed to score windows against one reference, fitted once."""

    n: int                      # rows in the whole reference period (from the sums)
    s1: np.ndarray              # Σ u over the whole reference period
    centre: np.ndarray          # μ_ref from the fit split
    direction: np.ndarray       # unit centroid direction from the fit split
    test: np.ndarray            # test split rows (float32, unit)
    test_cos: np.ndarray        # per-row cosine of the test split to ``direction``
    fmap: scores.FourierMap
    test_features: np.ndarray
    pool: np.ndarray            # the whole reference sample (fit + test): the reference side of the permutation
    pool_features: np.ndarray   # tests, which are translation invariant and so need no disjoint centring split
    null: dict[str, np.ndarray] = field(default_factory=dict)  # method -> null effects / √(2/h)
    null_size: int = 0
    label: str = ""
    seed: int = 0               # fit seed; the job also draws every window's relabelings from it (see score_window)
    test_cos_sorted: np.ndarray | None = None  # ``test_cos`` sorted once, for the per-window KS/Wasserstein
    test_feature_sums: tuple[np.ndarray, float] | None = None  # scores.feature_sums(test_features), once
    _sides: dict[tuple[str, ...], scores.PoolSide] = field(default_factory=dict, repr=False)
    _lda: np.ndarray | None = field(default=None, repr=False)
    _quantiles: dict[tuple[str, float], float] = field(default_factory=dict, repr=False)

    @property
    def dim(self) -> int:
        return int(self.s1.shape[0])

    def side(self, methods: tuple[str, ...]) -> scores.PoolSide:
        """The reference side of the shared permutation test for these blocks (``cosine_shift`` = the rows,
        ``mmd_rff`` = their random features), prepared on first use and reused by every window."""
        if methods not in self._sides:
            if not self._sides:
                self._sides[("cosine_shift", "mmd_rff")] = scores.pool_side([self.pool, self.pool_features])
            both = self._sides[("cosine_shift", "mmd_rff")]
            part = {"cosine_shift": 0, "mmd_rff": 1}
            self._sides[methods] = scores.PoolSide(*(tuple(f[part[m]] for m in methods)
                                                     for f in (both.blocks, both.centres, both.sums)))
        return self._sides[methods]

    def lda_precision(self) -> np.ndarray:
        """The test split's shrunk inverse covariance for :func:`drift.domain.domain_auc`, computed on first use."""
        if self._lda is None:
            self._lda = domain.lda_precision(self.test)
        return self._lda

    def floor(self, method: str, n_cur: int, quantile: float) -> float:
        """Effect floor for a window of ``n_cur`` rows (the rows the method actually sees)."""
        m = self.n if method == "cosine_shift" else len(self.test)
        key = (method, quantile)
        if key not in self._quantiles:  # np.quantile costs ~0.5 ms a call: once per reference, not per window
            self._quantiles[key] = float(np.quantile(self.null[method], quantile))
        return self._quantiles[key] * float(np.sqrt(1.0 / n_cur + 1.0 / m))


def fit_reference(sample: np.ndarray, n: int, s1: np.ndarray, *, test_rows: int = 4096, trials: int = 200,
                  null_size: int | None = None, features: int = scores.RFF_FEATURES, seed: int = 0, label: str = ""
                  ) -> Reference:
    """Fit a reference from its bottom-k sample and exact sums.

    ``test_rows`` caps the test split (the reference side of the tests); the rest (at least a quarter of the
    sample) is the fit split. ``null_size`` is the per-side size of the null splits (default: half the test
    split, or the typical window size when smaller).
    """
    if len(sample) < 40:
        raise DriftInputError(f"reference has only {len(sample)} sampled rows; at least 40 are needed "
                              "(choose a longer reference period or a larger drift.sample_rows)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sample))
    n_fit = max(len(sample) // 4, len(sample) - test_rows)
    fit, test = sample[order[:n_fit]], np.ascontiguousarray(sample[order[n_fit:]])
    centre = fit.mean(axis=0, dtype=np.float64)
    direction = (centre / np.linalg.norm(centre)).astype(np.float32)
    sigma = scores.median_bandwidth(test - centre.astype(np.float32), seed=seed)
    fmap = scores.fourier_map(sample.shape[1], sigma, features, seed)
    ref = Reference(n=n, s1=np.asarray(s1, dtype=np.float64), centre=centre.astype(np.float32),
                    direction=direction, test=test, test_cos=test @ direction, fmap=fmap,
                    test_features=fmap(test), pool=np.ascontiguousarray(sample, dtype=np.float32),
                    pool_features=fmap(np.asarray(sample, dtype=np.float32)), label=label)
    ref.test_cos_sorted = np.sort(ref.test_cos)
    ref.test_feature_sums = scores.feature_sums(ref.test_features)
    ref.side(("cosine_shift", "mmd_rff"))  # the permutation tests' reference side, once per reference
    h = len(test) // 2 if null_size is None else min(null_size, len(test) // 2)
    ref.null, ref.null_size, ref.seed = null_effects(ref, h, trials, seed + 1), h, seed
    return ref


def null_effects(ref: Reference, h: int, trials: int, seed: int) -> dict[str, np.ndarray]:
    """Effects of each method on ``trials`` disjoint half/half splits of the test split, divided by √(2/h).

    Vectorised over trials: a ±1/0 split matrix turns the split sums into two GEMMs, and the KS statistics
    into one cumulative sum over the sorted per-row cosines.
    """
    rng = np.random.default_rng(seed)
    m = len(ref.test)
    labels = np.zeros((trials, m), dtype=np.int8)
    labels[:, :h], labels[:, h:2 * h] = 1, -1
    labels = rng.permuted(labels, axis=1)
    a, b = (labels == 1).astype(np.float32), (labels == -1).astype(np.float32)
    norm = np.sqrt(2.0 / h)
    out: dict[str, np.ndarray] = {}
    # centroid: unbiased ‖ā − b̄‖² over the within-cosine spread, exactly as scores.centroid_shift
    sa, sb = (a @ ref.test).astype(np.float64), (b @ ref.test).astype(np.float64)
    wa = (np.einsum("ij,ij->i", sa, sa) - h) / (h * (h - 1))
    wb = (np.einsum("ij,ij->i", sb, sb) - h) / (h * (h - 1))
    cross = np.einsum("ij,ij->i", sa, sb) / (h * h)
    out["cosine_shift"] = np.sqrt(np.maximum(wa + wb - 2 * cross, 0) / np.maximum(1 - wa, 1e-12)) / norm
    # KS: max |ECDF_a − ECDF_b| along the sorted cosines
    steps = (a - b)[:, np.argsort(ref.test_cos, kind="stable")] / h
    out["cosine_ks"] = np.abs(np.cumsum(steps, axis=1)).max(axis=1) / norm
    # RFF-MMD²_u on the split feature sums
    f = ref.test_features
    q = np.square(f, dtype=np.float64).sum(axis=1)
    fa, fb = (a @ f).astype(np.float64), (b @ f).astype(np.float64)
    qa, qb = a @ q, b @ q
    mmd2 = ((np.einsum("ij,ij->i", fa, fa) - qa) / (h * (h - 1)) + (np.einsum("ij,ij->i", fb, fb) - qb) / (h * (h - 1))
            - 2 * np.einsum("ij,ij->i", fa, fb) / (h * h))
    out["mmd_rff"] = np.sqrt(np.maximum(mmd2, 0)) / norm
    return out

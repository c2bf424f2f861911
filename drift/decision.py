"""Scoring one window against a fitted reference, and the alert rule.

Drift is declared for a (model, segment, method) series only when, for ``persistence`` consecutive scored
windows, both hold: ``p < α / S`` (Bonferroni over the S model/segment pairs tested in the run) **and**
``effect > floor`` (the ``floor_quantile`` of reference-vs-reference effects at that window size). Windows
with fewer than ``min_rows`` rows are ``insufficient_data``: never "no drift", and they neither extend nor
break a streak. States: ``insufficient_data``, ``no_drift``, ``pending`` (signal, not yet persistent),
``drift``. Every row keeps the p-value, effect, floor and corrected α, so an alert can be explained.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np

from drift import domain, scores
from drift.calibrate import Reference

_blas: Any = None


def _one_blas_thread() -> Any:
    """A context that runs BLAS on one thread. The window GEMMs are small (≤ 1k × 12k × 640 per batch); with two
    OpenBLAS threads on the shared 2-core machine (load ≈ 4) a 49 × 12k × 640 batch took 445 ms wall instead of
    17 ms (threads spin-wait for a busy core), and even when idle they cost 4–6× the single-thread CPU time."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


_pool: ThreadPoolExecutor | None = None


def _helper() -> ThreadPoolExecutor:
    """One helper thread, so that a window's GEMMs use both cores with one BLAS thread each (no spin-waiting, see
    :func:`_one_blas_thread`): half of the random features, then the MMD's relabelings (the two permutation
    statistics share their relabelings, not their GEMMs) while the calling thread runs the centroid test's."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neocost-drift")
    return _pool


def _features(fmap: scores.FourierMap, rows: np.ndarray) -> np.ndarray:
    """``fmap(rows)``, the second half of the rows on the helper thread."""
    out = np.empty((len(rows), fmap.omega.shape[1]), dtype=np.float32)
    half = len(rows) // 2
    other = _helper().submit(fmap, rows[half:], out=out[half:])
    try:
        fmap(rows[:half], out=out[:half])
    finally:
        wait([other])
    other.result()
    return out


STATES = ("insufficient_data", "no_drift", "pending", "drift")


@dataclass(frozen=True)
class Rule:
    alpha: float = 0.05
    persistence: int = 2
    floor_quantile: float = 0.95
    min_rows: int = 200
    permutations: int = 999
    methods: tuple[str, ...] = ("cosine_shift", "cosine_ks", "mmd_rff")
    domain_auc: bool = False   # add details["domain_auc"] (cross-fitted LDA ROC AUC) to every row of a window


@dataclass(frozen=True)
class Score:
    """One row of ``model.drift_score``."""

    model: str
    segment: str
    window_start: datetime
    window_end: datetime
    method: str
    n: int
    n_ref: int
    statistic: float | None
    p_value: float | None
    p_method: str
    effect: float | None
    floor: float | None
    alpha: float
    alpha_corrected: float
    signal: bool
    state: str = "no_drift"
    streak: int = 0
    onset: datetime | None = None
    reference: str = ""
    details: dict[str, float] = field(default_factory=dict)


def score_window(ref: Reference, n: int, s1: np.ndarray, sample: np.ndarray, rule: Rule,
                 tests: int = 1, seed: int = 0) -> list[tuple[str, scores.TestResult | None, float | None, int]]:
    """Each method's (name, result, floor, rows seen). ``None`` results mean too few rows to test."""
    out: list[tuple[str, scores.TestResult | None, float | None, int]] = []
    if n < rule.min_rows or len(sample) < 2:
        return [(m, None, None, n) for m in rule.methods]
    # The centroid test and the RFF-MMD share one set of relabelings against the whole reference sample: a pooled
    # permutation test is translation invariant, so it needs no disjoint centring split (using only the test
    # split cost ~10 points of power at 1k rows).
    unknown = set(rule.methods) - {"cosine_shift", "cosine_ks", "mmd_rff"}
    if unknown:
        raise ValueError(f"unknown drift method {sorted(unknown)[0]!r}; choose from cosine_shift, cosine_ks, mmd_rff")
    alpha = rule.alpha / max(tests, 1)
    perm_methods = tuple(m for m in ("cosine_shift", "mmd_rff") if m in rule.methods)
    index = {m: i for i, m in enumerate(perm_methods)}
    # h=10, min_tail=24: a null window stops at its 10th exceedance (p ≈ 0.5: after ~20 relabelings) and one far
    # in the tail (gamma tail < α/1000) after the first batch of 24
    test = partial(scores.permutation_test_block, side=ref.side(perm_methods) if perm_methods else None,
                   permutations=rule.permutations, seed=seed, alpha=alpha, h=10, min_tail=24)
    results: dict[str, scores.TestResult] = {}

    def feature_tests(fc: np.ndarray | None) -> None:
        """The MMD on the random features, and the KS test (on the helper thread)."""
        if fc is not None:
            results["mmd_rff"] = scores.mmd_rff_effect(fc, ref.test_features, ref.fmap, test(fc, i=index["mmd_rff"]),
                                                       ref.test_feature_sums)
        if "cosine_ks" in rule.methods:
            results["cosine_ks"] = scores.cosine_to_centroid_test(sample, ref.test, ref.direction,
                                                                  ref.test_cos_sorted)

    with _one_blas_thread():
        # the random features on both threads, then the MMD's relabelings and KS on the helper thread while this
        # one runs the centroid test's relabelings
        other = _helper().submit(feature_tests, _features(ref.fmap, sample) if "mmd_rff" in index else None)
        try:
            if "cosine_shift" in index:
                pr = test(sample, i=index["cosine_shift"])
                res = scores.centroid_shift(ref.n, ref.s1, n, s1)
                results["cosine_shift"] = replace(
                    res, p_value=pr.p_value, p_method=pr.p_method,
                    details={**res.details, "p_rows": float(len(sample)), "permutations": float(pr.permutations),
                             "unit_rows": float(pr.unit_rows)})
        finally:
            wait([other])  # the helper is done with the BLAS limit and the window before either goes
        other.result()
    for method in rule.methods:
        seen = n if method == "cosine_shift" else len(sample)
        out.append((method, results[method], ref.floor(method, seen, rule.floor_quantile), seen))
    if rule.domain_auc:  # an effect size in Evidently's terms, stored with every method's row
        with _one_blas_thread():
            auc = domain.domain_auc(sample, ref.test, ref.lda_precision(), seed=seed)
        out = [(m, replace(r, details={**r.details, "domain_auc": auc}), f, s) for m, r, f, s in out]
    return out


def make_scores(model: str, segment: str, window_start: datetime, window_end: datetime, n: int, n_ref: int,
                reference: str, results: list[tuple[str, scores.TestResult | None, float | None, int]], rule: Rule,
                tests: int) -> list[Score]:
    """Rows for one window, before persistence is applied (state = signal or not)."""
    a_corr = rule.alpha / max(tests, 1)
    rows = []
    for method, res, floor, _seen in results:
        if res is None:
            rows.append(Score(model, segment, window_start, window_end, method, n, n_ref, None, None, "none", None,
                              None, rule.alpha, a_corr, False, "insufficient_data", reference=reference))
            continue
        signal = bool(res.p_value < a_corr and floor is not None and res.effect > floor)
        rows.append(Score(model, segment, window_start, window_end, method, n, n_ref, res.statistic, res.p_value,
                          res.p_method, res.effect, floor, rule.alpha, a_corr, signal,
                          "pending" if signal else "no_drift", reference=reference, details=res.details))
    return rows


def apply_persistence(rows: list[Score], persistence: int, streak: int = 0, onset: datetime | None = None
                      ) -> list[Score]:
    """Walk one series' rows in time order; ``streak``/``onset`` continue from the previous run's last row."""
    out = []
    for r in sorted(rows, key=lambda r: r.window_start):
        if r.state == "insufficient_data":
            out.append(replace(r, streak=streak, onset=onset if streak >= persistence else None))
            continue
        if r.signal:
            if streak == 0:
                onset = r.window_start
            streak += 1
            state = "drift" if streak >= persistence else "pending"
            out.append(replace(r, state=state, streak=streak, onset=onset if state == "drift" else None))
        else:
            streak, onset = 0, None
            out.append(replace(r, state="no_drift", streak=0, onset=None))
    return out

"""Baseline comparison: is this run worse than the baseline by more than the allowed margin,
beyond what noise explains?

1. Compare whole-run values: `change` is the relative change in the bad direction. Within
   `max_regression` -> PASS.
2. Otherwise a one-sided Mann-Whitney U test over per-chunk values (e.g. p95 of every 10 s)
   asks whether the current chunks are stochastically worse than the baseline's chunks
   *with the allowed margin applied* (baseline x 1.10 for a 10% ceiling). p < alpha -> FAIL;
   otherwise INCONCLUSIVE: the run looks worse but the difference is within the noise.
3. Too few chunks on either side (fewer than `min_chunks`), or no baseline -> INCONCLUSIVE.

Mann-Whitney U is rank-based, so it needs no normality assumption and tolerates outliers;
with the chunk counts of a load test (tens to hundreds) the normal approximation of U (with
tie and continuity corrections) is accurate.
"""

from __future__ import annotations

import math

import numpy as np

from budgets.model import BaselineSpec, Level
from budgets.timeline import F64
from budgets.verdict import BaselineOutcome, BaselineResult


def mann_whitney_greater(x: F64, y: F64) -> float:
    """One-sided p-value for H1: values of `x` tend to be greater than values of `y`
    (normal approximation with tie and continuity corrections)."""
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return 1.0
    allv = np.concatenate((x, y))
    ranks = _rankdata(allv)
    r1 = float(ranks[:n1].sum())
    u1 = r1 - n1 * (n1 + 1) / 2.0
    mean = n1 * n2 / 2.0
    _, counts = np.unique(allv, return_counts=True)
    n = n1 + n2
    tie = float((counts**3 - counts).sum())
    var = n1 * n2 / 12.0 * ((n + 1) - tie / (n * (n - 1)))
    if var <= 0:
        return 0.5 if u1 == mean else (0.0 if u1 > mean else 1.0)
    z = (u1 - mean - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _rankdata(a: F64) -> F64:
    """Average ranks (1-based), ties share the mean of their positions."""
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    boundaries = np.concatenate(([True], sorted_a[1:] != sorted_a[:-1], [True]))
    idx = np.nonzero(boundaries)[0]
    avg = (idx[:-1] + idx[1:] + 1) / 2.0  # mean of 1-based positions idx..idx_next-1
    per_sorted = np.repeat(avg, np.diff(idx))
    ranks = np.empty(a.size)
    ranks[order] = per_sorted
    return ranks


def compare(
    spec: BaselineSpec,
    *,
    higher_is_worse: bool,
    current_value: float | None,
    current_chunks: F64,
    baseline_value: float | None,
    baseline_chunks: F64,
    baseline_label: str,
    baseline_run: str | None,
) -> BaselineResult:
    def result(outcome: BaselineOutcome, reason: str, **kw: float | int | None) -> BaselineResult:
        level = {
            BaselineOutcome.PASS: Level.PASS,
            BaselineOutcome.FAIL: spec.on_regression,
            BaselineOutcome.INCONCLUSIVE: spec.on_inconclusive,
        }[outcome]
        return BaselineResult(
            outcome=outcome,
            reason=reason,
            baseline=baseline_label,
            baseline_run=baseline_run,
            baseline_value=baseline_value,
            current_value=current_value,
            max_regression=spec.max_regression,
            alpha=spec.alpha,
            n_current=int(current_chunks.size),
            n_baseline=int(baseline_chunks.size),
            level=level,
            **kw,
        )

    if baseline_run is None:
        return result(BaselineOutcome.INCONCLUSIVE, f"no baseline: {baseline_label}")
    if baseline_value is None or current_value is None:
        return result(BaselineOutcome.INCONCLUSIVE, "no data in the baseline run for this budget")
    change = relative_change(current_value, baseline_value, higher_is_worse)
    if change <= spec.max_regression + 1e-12:
        return result(
            BaselineOutcome.PASS,
            f"{_pct(change)} vs baseline, within the {_pct(spec.max_regression, sign=False)} limit",
            change=change,
        )
    if current_chunks.size < spec.min_chunks or baseline_chunks.size < spec.min_chunks:
        return result(
            BaselineOutcome.INCONCLUSIVE,
            f"{_pct(change)} vs baseline, but too few chunks to test "
            f"({current_chunks.size} current, {baseline_chunks.size} baseline; "
            f"need {spec.min_chunks})",
            change=change,
        )
    margin = 1.0 + spec.max_regression if higher_is_worse else 1.0 - spec.max_regression
    shifted = baseline_chunks * margin
    p = (
        mann_whitney_greater(current_chunks, shifted)
        if higher_is_worse
        else mann_whitney_greater(-current_chunks, -shifted)
    )
    if p < spec.alpha:
        return result(
            BaselineOutcome.FAIL,
            f"{_pct(change)} vs baseline, beyond the {_pct(spec.max_regression, sign=False)} "
            f"limit (Mann-Whitney p={p:.3g} < {spec.alpha:g})",
            change=change,
            p_value=p,
        )
    return result(
        BaselineOutcome.INCONCLUSIVE,
        f"{_pct(change)} vs baseline, but not significant (Mann-Whitney p={p:.3g} >= "
        f"{spec.alpha:g}): within the noise",
        change=change,
        p_value=p,
    )


def relative_change(current: float, baseline: float, higher_is_worse: bool) -> float:
    """How much worse `current` is than `baseline`, relative (negative = better)."""
    diff = current - baseline if higher_is_worse else baseline - current
    if baseline == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / abs(baseline)


def _pct(x: float, sign: bool = True) -> str:
    if not math.isfinite(x):
        return "+inf%" if x > 0 else "-inf%"
    return f"{x * 100:+.1f}%" if sign else f"{x * 100:.1f}%"

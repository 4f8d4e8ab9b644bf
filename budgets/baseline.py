"""Baseline comparison statistics: is this run worse than the baseline by more than the budget's
minimum effect, beyond what noise explains? A pure function of per-chunk values.

Which run is the baseline is decided elsewhere (castiel/gate.py); this module only compares.

* **Samples.** Each side is the budget's aggregation over consecutive chunks of the run
  (e.g. p95 of every 10 s), plus the whole-run value. Values are compared in the bad direction
  (a floor budget is mirrored), so a positive shift is always a regression.
* **Effect size.** The Hodges-Lehmann shift, the median of every pairwise difference
  `current_i - baseline_j`, with a distribution-free confidence interval obtained by
  inverting the Mann-Whitney test (the interval holds every shift the test does not reject;
  its lower end is the one-sided (1 - alpha) bound). Effects are reported relative to the
  baseline's whole-run value.
* **Test.** One-sided Mann-Whitney U of H0 "the shift is at most the minimum effect"
  (`max_increase` x the baseline value): exact p-values for small samples without ties,
  a permutation distribution for small samples with ties, the normal approximation with tie
  and continuity corrections for larger ones (scipy.stats.mannwhitneyu in every case).
* **Decision.** FAIL (a regression) only when the interval's lower end lies beyond the
  minimum effect *and* the comparison survives the run's false-discovery control: every
  comparison of one run is corrected together (Benjamini-Hochberg, `correct`), and a
  regression needs `q <= fdr`. PASS when the estimated shift is within the minimum effect.
  INCONCLUSIVE otherwise (worse, but within the noise), and when there is no baseline or too
  few chunks to test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Literal

import numpy as np

from budgets.model import BaselineSpec, Level
from budgets.timeline import F64
from budgets.verdict import BaselineComparison, BaselineOutcome, PValueMethod

MAX_CHUNKS = 1000
"""More chunks than this per side are thinned evenly (pairwise differences grow as n^2)."""
EXACT_MAX = 50
"""Exact p-values (no ties) up to this many chunks per side."""
PERMUTATION_MAX_N = 100
"""With ties: the exact permutation distribution up to this many chunks in all."""


@dataclass(frozen=True)
class Sample:
    """One side of a comparison: the whole-run value and the per-chunk values."""

    value: float | None
    chunks: F64


@dataclass(frozen=True)
class ComparedRun:
    """Which run the baseline is, for people (`label`) and for links (`run_id`: None when no
    baseline was found; the label then says what was looked for)."""

    label: str
    run_id: str | None


def compare(
    current: Sample,
    baseline: Sample | None,
    spec: BaselineSpec,
    *,
    higher_is_worse: bool,
    ref: ComparedRun,
) -> BaselineComparison:
    """Compare one budget group's current run with its baseline (a family of one: `correct`
    then corrects a run's comparisons together)."""
    base = BaselineComparison(
        outcome=BaselineOutcome.INCONCLUSIVE,
        reason="",
        baseline=ref.label,
        baseline_run=ref.run_id,
        current_value=current.value,
        baseline_value=None if baseline is None else baseline.value,
        min_effect=spec.max_increase,
        alpha=spec.alpha,
        fdr=spec.fdr,
        n_current=int(current.chunks.size),
        n_baseline=0 if baseline is None else int(baseline.chunks.size),
        level=spec.on_inconclusive,
    )
    if baseline is None or ref.run_id is None:
        return replace(base, reason=f"no baseline: {ref.label}")
    if baseline.value is None or current.value is None:
        return replace(base, reason="no data in the baseline run for this budget")
    change = relative_change(current.value, baseline.value, higher_is_worse)
    base = replace(base, change=change)
    few = min(current.chunks.size, baseline.chunks.size) < spec.min_chunks
    if few:
        if change <= spec.max_increase + 1e-12:
            return _decide(replace(base, effect=change), spec)
        return replace(
            base,
            reason=f"{_pct(change)} vs baseline, but too few chunks to test "
            f"({current.chunks.size} current, {baseline.chunks.size} baseline; "
            f"need {spec.min_chunks})",
        )
    sign = 1.0 if higher_is_worse else -1.0
    x = _thin(sign * current.chunks)
    y = _thin(sign * baseline.chunks)
    scale = abs(baseline.value)
    margin = spec.max_increase * scale
    p, method = mann_whitney_p(x - margin, y)
    low, high = shift_interval(x, y, spec.alpha)
    shift = hodges_lehmann(x, y)
    tested = replace(
        base,
        effect=_relative(shift, scale),
        ci_low=_relative(low, scale),
        ci_high=_relative(high, scale),
        ci_level=1.0 - 2.0 * spec.alpha,
        p_value=p,
        q_value=p,
        method=method,
        beyond_min_effect=low > margin,
    )
    return _decide(tested, spec)


def correct(
    comparisons: Sequence[BaselineComparison], specs: Sequence[BaselineSpec]
) -> list[BaselineComparison]:
    """Benjamini-Hochberg over every tested comparison of one run: each gets its q-value and
    its decision again (a regression needs q <= its budget's `fdr`). Untested comparisons (no
    baseline, too few chunks) pass through unchanged."""
    tested = [i for i, c in enumerate(comparisons) if c.p_value is not None]
    out = list(comparisons)
    if not tested:
        return out
    ps = np.array([comparisons[i].p_value for i in tested], dtype=np.float64)
    stats = _stats()
    qs = stats.false_discovery_control(ps, method="bh") if len(tested) > 1 else ps
    for i, q in zip(tested, qs.tolist(), strict=True):
        out[i] = _decide(replace(comparisons[i], q_value=float(q), family=len(tested)), specs[i])
    return out


def _decide(c: BaselineComparison, spec: BaselineSpec) -> BaselineComparison:
    limit = _pct(spec.max_increase, sign=False)
    if c.p_value is None:
        # Too few chunks to test, but the whole-run values are within the limit.
        assert c.change is not None
        return replace(
            c,
            outcome=BaselineOutcome.PASS,
            level=Level.PASS,
            reason=f"{_pct(c.change)} vs baseline, within the {limit} limit",
        )
    assert c.effect is not None and c.q_value is not None
    interval = f"shift {_pct(c.effect)}, {c.ci_level:.0%} CI {_pct(c.ci_low)} to {_pct(c.ci_high)}"
    stat = f"Mann-Whitney {c.method.value} p={c.p_value:.3g}, q={c.q_value:.3g}"
    if c.beyond_min_effect and c.q_value <= spec.fdr:
        return replace(
            c,
            outcome=BaselineOutcome.FAIL,
            level=spec.on_regression,
            reason=f"regression: {interval} lies beyond the {limit} limit ({stat} <= {spec.fdr:g})",
        )
    within = c.effect <= spec.max_increase + 1e-12
    if within and (c.change is None or c.change <= spec.max_increase + 1e-12):
        return replace(
            c,
            outcome=BaselineOutcome.PASS,
            level=Level.PASS,
            reason=f"{interval}: within the {limit} limit",
        )
    if within:
        return replace(
            c,
            outcome=BaselineOutcome.INCONCLUSIVE,
            level=spec.on_inconclusive,
            reason=f"the whole run is {_pct(c.change)} vs baseline, beyond the {limit} limit, "
            f"but the chunks are not shifted ({interval}): a transient, not a regression",
        )
    if not c.beyond_min_effect:
        why = "the interval reaches into the limit"
    else:
        why = f"not significant after correcting {c.family} comparisons (q > {spec.fdr:g})"
    return replace(
        c,
        outcome=BaselineOutcome.INCONCLUSIVE,
        level=spec.on_inconclusive,
        reason=f"{interval}: worse than the {limit} limit but within the noise ({why}; {stat})",
    )


def mann_whitney_p(x: F64, y: F64) -> tuple[float, PValueMethod]:
    """One-sided p-value of H1 "values of x tend to be greater than values of y", with the
    method that suits the sample: exact (scipy), the exact permutation distribution when
    values tie, or the normal approximation (with tie and continuity corrections, scipy)."""
    if x.size == 0 or y.size == 0:
        return 1.0, PValueMethod.ASYMPTOTIC
    pooled = np.concatenate((x, y))
    if np.all(pooled == pooled[0]):
        return 1.0, PValueMethod.EXACT  # nothing to rank: no evidence either way
    ties = np.unique(pooled).size < pooled.size
    if not ties and max(x.size, y.size) <= EXACT_MAX:
        result = _stats().mannwhitneyu(x, y, alternative="greater", method="exact")
        return float(result.pvalue), PValueMethod.EXACT
    if ties and pooled.size <= PERMUTATION_MAX_N:
        return permutation_p(x, y), PValueMethod.PERMUTATION
    return _asymptotic_p(x, y, "greater"), PValueMethod.ASYMPTOTIC


def permutation_p(x: F64, y: F64) -> float:
    """P(rank sum of x >= observed) over every way to split the pooled values into groups of
    x's and y's sizes: the exact permutation p-value, ties included (midranks). Counted by
    dynamic programming over the doubled midranks (integers), so 50 + 50 values take
    milliseconds where enumerating (or sampling) arrangements takes seconds."""
    pooled = np.concatenate((x, y))
    doubled = np.rint(2 * _stats().rankdata(pooled)).astype(np.int64)
    n1 = x.size
    observed = int(doubled[:n1].sum())
    top = int(np.sort(doubled)[-n1:].sum())
    # ways[k, s]: the number of k-subsets of the values seen so far with doubled rank sum s
    ways = np.zeros((n1 + 1, top + 1))
    ways[0, 0] = 1.0
    for r in doubled.tolist():
        if r <= top:
            ways[1:, r:] += ways[:-1, : top + 1 - r].copy()
    return float(ways[n1, observed:].sum() / ways[n1].sum())


Alternative = Literal["greater", "less"]


def _stats() -> ModuleType:
    """scipy.stats, imported when a comparison is tested: it takes 0.7 s to import, half of
    what `castiel check` spends before its first query, and most runs compare nothing."""
    from scipy import stats  # noqa: PLC0415 - see above

    return stats


def _asymptotic_p(x: F64, y: F64, alternative: Alternative) -> float:
    pooled = np.concatenate((x, y))
    if np.all(pooled == pooled[0]):
        return 1.0
    test = _stats().mannwhitneyu(x, y, alternative=alternative, method="asymptotic")
    return float(test.pvalue)


def hodges_lehmann(x: F64, y: F64) -> float:
    """The Hodges-Lehmann shift: the median of every difference x_i - y_j."""
    return float(np.median(np.subtract.outer(x, y)))


def shift_interval(x: F64, y: F64, alpha: float) -> tuple[float, float]:
    """The shifts d that a one-sided test at `alpha` does not reject on either side: every
    shift below the lower end makes "shift > d" significant, every shift above the upper end
    makes "shift < d" significant; together a (1 - 2 alpha) interval. Its ends are pairwise
    differences (the Hodges-Lehmann interval); the test is the normal approximation with tie
    correction, so finding the ends needs no permutations."""
    diffs = np.unique(np.subtract.outer(x, y).ravel())
    pad = max(1e-9, float(diffs[-1] - diffs[0]))
    # The test's p-value is constant between two differences: probe at the midpoints.
    below = np.concatenate(([diffs[0] - pad], (diffs[:-1] + diffs[1:]) / 2))
    above = np.concatenate(((diffs[:-1] + diffs[1:]) / 2, [diffs[-1] + pad]))

    def rejects(d: float, alternative: Alternative) -> bool:
        return _asymptotic_p(x - d, y, alternative) < alpha

    # "shift > d" is rejected for small d and not for large d: the last probe that rejects.
    i = _boundary(diffs.size, lambda k: rejects(float(below[k]), "greater"), last=True)
    # "shift < d" is rejected for large d: the first probe that rejects.
    j = _boundary(diffs.size, lambda k: rejects(float(above[k]), "less"), last=False)
    low = float(diffs[i]) if i is not None else -math.inf
    high = float(diffs[j]) if j is not None else math.inf
    return low, high


def _boundary(n: int, holds: Callable[[int], bool], *, last: bool) -> int | None:
    """Binary search on a monotone predicate over 0..n-1: the last index where it holds
    (true then false) or the first (false then true); None when it never holds."""
    lo, hi = 0, n - 1
    found = None
    while lo <= hi:
        mid = (lo + hi) // 2
        if holds(mid):
            found = mid
            if last:
                lo = mid + 1
            else:
                hi = mid - 1
        elif last:
            hi = mid - 1
        else:
            lo = mid + 1
    return found


def _thin(a: F64) -> F64:
    if a.size <= MAX_CHUNKS:
        return a
    idx = np.linspace(0, a.size - 1, MAX_CHUNKS).round().astype(np.int64)
    thinned: F64 = a[idx]
    return thinned


def _relative(shift: float, scale: float) -> float:
    if scale > 0:
        return shift / scale
    if shift == 0:
        return 0.0
    return math.copysign(math.inf, shift)


def relative_change(current: float, baseline: float, higher_is_worse: bool) -> float:
    """How much worse `current` is than `baseline`, relative (negative = better)."""
    diff = current - baseline if higher_is_worse else baseline - current
    if baseline == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / abs(baseline)


def _pct(x: float | None, sign: bool = True) -> str:
    if x is None:
        return "?"
    if not math.isfinite(x):
        return "+inf%" if x > 0 else "-inf%"
    return f"{x * 100:+.1f}%" if sign else f"{x * 100:.1f}%"

"""Baseline comparison statistics: p-values against scipy's, the effect size and its interval,
the minimum effect, and the false-discovery control over one run's comparisons."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from budgets.baseline import (
    ComparedRun,
    Sample,
    compare,
    correct,
    hodges_lehmann,
    mann_whitney_p,
    relative_change,
    shift_interval,
)
from budgets.model import BaselineSpec, Level
from budgets.verdict import BaselineOutcome, PValueMethod

REF = ComparedRun("last passing run r", "r")


def brute_force_p(x: list[float], y: list[float]) -> float:
    """P(U >= observed U) over every assignment of the pooled values to the two groups
    (ties counted 0.5): the permutation p-value, by enumeration."""
    pooled = x + y

    def u(a: list[float], b: list[float]) -> float:
        return sum(1.0 if i > j else 0.5 if i == j else 0.0 for i in a for j in b)

    observed = u(x, y)
    hits = total = 0
    for idx in combinations(range(len(pooled)), len(x)):
        chosen = set(idx)
        a = [pooled[i] for i in idx]
        b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        hits += u(a, b) >= observed - 1e-12
        total += 1
    return hits / total


def test_small_samples_get_the_exact_p_value() -> None:
    """The defect: 4,5,6 vs 1,2,3 gave p=0.040 (normal approximation); the exact p is 1/20."""
    p, method = mann_whitney_p(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]))
    assert method is PValueMethod.EXACT and p == pytest.approx(0.05)
    assert p == pytest.approx(brute_force_p([4, 5, 6], [1, 2, 3]))


def test_small_samples_with_ties_get_the_permutation_p_value() -> None:
    x, y = [1.0, 2, 2, 3, 5], [1.0, 1, 2, 2, 3]
    p, method = mann_whitney_p(np.array(x), np.array(y))
    assert method is PValueMethod.PERMUTATION
    assert p == pytest.approx(brute_force_p(x, y))


def test_the_permutation_distribution_agrees_with_scipys() -> None:
    """Our exact counting vs scipy enumerating every one of the 12,870 arrangements."""
    rng = np.random.default_rng(11)
    x = np.round(rng.uniform(0, 1, 8), 1) + 0.1
    y = np.round(rng.uniform(0, 1, 8), 1)
    p, method = mann_whitney_p(x, y)
    assert method is PValueMethod.PERMUTATION
    every = stats.PermutationMethod(n_resamples=20_000)  # > C(16, 8): exact enumeration
    ref = stats.mannwhitneyu(x, y, alternative="greater", method=every)
    assert p == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_large_samples_use_the_normal_approximation_with_corrections() -> None:
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(1.1, 0.2, 80), 2)  # rounded: ties on purpose, 170 values in all
    y = np.round(rng.normal(1.0, 0.2, 90), 2)
    p, method = mann_whitney_p(x, y)
    assert method is PValueMethod.ASYMPTOTIC
    ref = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    assert p == pytest.approx(float(ref.pvalue), rel=1e-12)
    # By hand: tie-corrected variance and the continuity correction.
    pooled = np.concatenate((x, y))
    ranks = stats.rankdata(pooled)
    n1, n2, n = x.size, y.size, pooled.size
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    _, counts = np.unique(pooled, return_counts=True)
    var = n1 * n2 / 12 * ((n + 1) - (counts**3 - counts).sum() / (n * (n - 1)))
    z = (u1 - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    assert p == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    y=st.lists(st.integers(0, 6), min_size=1, max_size=6),
)
def test_small_sample_p_values_match_enumeration(x: list[int], y: list[int]) -> None:
    p, method = mann_whitney_p(np.array(x, float), np.array(y, float))
    if len(set(x + y)) == 1:
        assert p == 1.0
    elif min(len(x), len(y)) >= 2 or method is PValueMethod.EXACT:
        # at most 924 arrangements: the permutation distribution is enumerated, not sampled
        assert method is not PValueMethod.ASYMPTOTIC
        assert p == pytest.approx(brute_force_p([float(v) for v in x], [float(v) for v in y]))
    else:
        assert 0.0 <= p <= 1.0


def test_identical_values_are_no_evidence() -> None:
    assert mann_whitney_p(np.full(8, 2.0), np.full(8, 2.0))[0] == 1.0


def test_hodges_lehmann_and_its_interval() -> None:
    x = np.array([11.0, 12, 13, 14, 15, 16, 17, 18, 19, 20])
    y = x - 5.0
    assert hodges_lehmann(x, y) == 5.0
    low, high = shift_interval(x, y, 0.05)
    assert low < 5.0 < high
    # The lower end is the boundary of the one-sided test at alpha: shifting by it is
    # (just) still significant, by the next difference above it no longer.
    assert stats.mannwhitneyu(x - low, y, alternative="greater").pvalue < 0.05
    diffs = np.unique(np.subtract.outer(x, y))
    above = diffs[diffs > low][0]
    assert stats.mannwhitneyu(x - above, y, alternative="greater").pvalue >= 0.05


def test_relative_change() -> None:
    assert relative_change(110.0, 100.0, higher_is_worse=True) == pytest.approx(0.10)
    assert relative_change(90.0, 100.0, higher_is_worse=True) == pytest.approx(-0.10)
    assert relative_change(90.0, 100.0, higher_is_worse=False) == pytest.approx(0.10)
    assert relative_change(0.0, 0.0, higher_is_worse=True) == 0.0
    assert relative_change(1.0, 0.0, higher_is_worse=True) == math.inf


def side(values: list[float]) -> Sample:
    a = np.array(values)
    return Sample(float(np.median(a)), a)


def outcome(spec: BaselineSpec, cur: list[float], base: list[float]) -> BaselineOutcome:
    return compare(side(cur), side(base), spec, higher_is_worse=True, ref=REF).outcome


STEADY = [1.0, 1.01, 0.99, 1.003, 1.02, 0.98, 1.006, 1.012, 0.995, 1.005]


def test_outcomes() -> None:
    spec = BaselineSpec(max_increase=0.1, min_chunks=5)
    assert outcome(spec, [x * 1.05 for x in STEADY], STEADY) is BaselineOutcome.PASS
    assert outcome(spec, [x * 1.5 for x in STEADY], STEADY) is BaselineOutcome.FAIL
    noisy = [1.0, 3.0, 0.5, 1.4, 0.7, 2.2, 1.3, 0.6]
    assert outcome(spec, [x * 1.2 for x in noisy], noisy) is BaselineOutcome.INCONCLUSIVE
    assert outcome(spec, [5.0, 5.0], [1.0, 1.0]) is BaselineOutcome.INCONCLUSIVE


def test_a_significant_shift_inside_the_minimum_effect_is_no_regression() -> None:
    """8 % worse on every chunk is certain, but under a 10 % minimum effect it passes."""
    result = compare(
        side([x * 1.08 for x in STEADY] * 3),
        side(STEADY * 3),
        BaselineSpec(max_increase=0.1),
        higher_is_worse=True,
        ref=REF,
    )
    assert result.outcome is BaselineOutcome.PASS
    assert result.effect == pytest.approx(0.08, abs=0.01)
    assert result.ci_low is not None and result.ci_low > 0.0  # significant, yet small
    assert not result.beyond_min_effect


def test_a_regression_reports_effect_interval_p_and_q() -> None:
    result = compare(
        side([x * 1.5 for x in STEADY]),
        side(STEADY),
        BaselineSpec(on_regression=Level.WARN),
        higher_is_worse=True,
        ref=REF,
    )
    assert result.outcome is BaselineOutcome.FAIL and result.level is Level.WARN
    assert result.effect == pytest.approx(0.5, abs=0.02)
    assert result.ci_low is not None and result.ci_high is not None
    assert 0.1 < result.ci_low <= 0.5 <= result.ci_high
    assert result.ci_level == pytest.approx(0.9)
    assert result.p_value is not None and result.p_value < 0.05
    assert result.q_value == result.p_value and result.method is PValueMethod.EXACT
    assert "regression" in result.reason and "CI" in result.reason


def test_floor_budgets_compare_in_the_bad_direction() -> None:
    result = compare(
        side([x * 0.6 for x in STEADY]),  # throughput down 40 %
        side(STEADY),
        BaselineSpec(),
        higher_is_worse=False,
        ref=REF,
    )
    assert result.outcome is BaselineOutcome.FAIL
    assert result.effect == pytest.approx(0.4, abs=0.02)


def test_no_baseline_or_too_few_chunks_is_inconclusive() -> None:
    spec = BaselineSpec()
    none = compare(side(STEADY), None, spec, higher_is_worse=True, ref=ComparedRun("none", None))
    assert none.outcome is BaselineOutcome.INCONCLUSIVE and none.level is Level.WARN
    assert "no baseline" in none.reason
    few = compare(side([2.0, 2.0]), side([1.0, 1.0]), spec, higher_is_worse=True, ref=REF)
    assert few.outcome is BaselineOutcome.INCONCLUSIVE and "too few chunks" in few.reason
    fine = compare(side([1.0, 1.0]), side([1.0, 1.0]), spec, higher_is_worse=True, ref=REF)
    assert fine.outcome is BaselineOutcome.PASS and fine.p_value is None


def test_benjamini_hochberg_over_a_run() -> None:
    spec = BaselineSpec(fdr=0.05)
    rng = np.random.default_rng(3)
    base = list(rng.normal(1.0, 0.05, 12))
    borderline = compare(
        side([x * 1.16 for x in base]), side(base), spec, higher_is_worse=True, ref=REF
    )
    assert borderline.outcome is BaselineOutcome.FAIL  # alone, significant
    assert borderline.p_value is not None
    # 40 clean comparisons beside it: the borderline one no longer survives the correction.
    clean = [
        compare(side(base), side(base), spec, higher_is_worse=True, ref=REF) for _ in range(40)
    ]
    corrected = correct([borderline, *clean], [spec] * 41)
    first = corrected[0]
    expected_q = stats.false_discovery_control(
        [c.p_value for c in [borderline, *clean]], method="bh"
    )[0]
    assert first.q_value == pytest.approx(expected_q)
    assert first.family == 41
    if first.q_value > 0.05:
        assert first.outcome is BaselineOutcome.INCONCLUSIVE
        assert "after correcting 41 comparisons" in first.reason
    # A clear regression survives any family.
    clear = compare(side([x * 2 for x in base]), side(base), spec, higher_is_worse=True, ref=REF)
    assert correct([clear, *clean], [spec] * 41)[0].outcome is BaselineOutcome.FAIL

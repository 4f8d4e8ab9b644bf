"""The statistical test and the outcome rules of baseline comparisons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgets.baseline import compare, mann_whitney_greater, relative_change
from budgets.model import BaselineSpec, Level
from budgets.verdict import BaselineOutcome


def test_mann_whitney_hand_computed_without_ties() -> None:
    # x = 4,5,6 vs y = 1,2,3: U1 = 9, mean 4.5, var = 3*3*7/12 = 5.25,
    # z = (9 - 4.5 - 0.5) / sqrt(5.25) = 1.7457 -> p = 0.0404 (scipy's asymptotic value)
    p = mann_whitney_greater(np.array([4.0, 5, 6]), np.array([1.0, 2, 3]))
    assert p == pytest.approx(0.0404, abs=5e-4)
    assert mann_whitney_greater(np.array([1.0, 2, 3]), np.array([4.0, 5, 6])) > 0.95


def test_mann_whitney_hand_computed_with_ties() -> None:
    # pooled 1,1,1,2,2,2: ranks 2 and 5; R1 = 2+2+5 = 9, U1 = 3; tie term 2*(27-3) = 48,
    # var = 9/12 * (7 - 48/30) = 4.05, z = (3 - 4.5 - 0.5)/sqrt(4.05) = -0.99381
    p = mann_whitney_greater(np.array([1.0, 1, 2]), np.array([1.0, 2, 2]))
    assert p == pytest.approx(0.5 * math.erfc(-0.99381 / math.sqrt(2)), abs=1e-4)
    assert p == pytest.approx(0.8399, abs=1e-3)


def test_mann_whitney_degenerate_inputs() -> None:
    assert mann_whitney_greater(np.array([]), np.array([1.0])) == 1.0
    assert mann_whitney_greater(np.array([2.0, 2.0]), np.array([2.0, 2.0])) == 0.5


def test_relative_change() -> None:
    assert relative_change(110.0, 100.0, higher_is_worse=True) == pytest.approx(0.10)
    assert relative_change(90.0, 100.0, higher_is_worse=True) == pytest.approx(-0.10)
    assert relative_change(90.0, 100.0, higher_is_worse=False) == pytest.approx(0.10)
    assert relative_change(0.0, 0.0, higher_is_worse=True) == 0.0
    assert relative_change(1.0, 0.0, higher_is_worse=True) == math.inf


def run(spec: BaselineSpec, cur: list[float], base: list[float]) -> BaselineOutcome:
    c, b = np.array(cur), np.array(base)
    return compare(
        spec,
        higher_is_worse=True,
        current_value=float(np.median(c)),
        current_chunks=c,
        baseline_value=float(np.median(b)),
        baseline_chunks=b,
        baseline_label="x",
        baseline_run="r",
    ).outcome


def test_outcomes_and_their_levels() -> None:
    spec = BaselineSpec(max_regression=0.1, min_chunks=5)
    steady = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01]
    assert run(spec, [x * 1.05 for x in steady], steady) is BaselineOutcome.PASS
    assert run(spec, [x * 1.5 for x in steady], steady) is BaselineOutcome.FAIL
    noisy = [1.0, 3.0, 0.5, 1.4, 0.7, 2.2, 1.3, 0.6]
    assert run(spec, [x * 1.2 for x in noisy], noisy) is BaselineOutcome.INCONCLUSIVE
    few = [1.0, 1.0]
    assert run(spec, [5.0, 5.0], few) is BaselineOutcome.INCONCLUSIVE
    result = compare(
        BaselineSpec(on_regression=Level.WARN),
        higher_is_worse=True,
        current_value=3.0,
        current_chunks=np.full(20, 3.0) + np.arange(20) * 0.01,
        baseline_value=1.0,
        baseline_chunks=np.full(20, 1.0) + np.arange(20) * 0.01,
        baseline_label="x",
        baseline_run="r",
    )
    assert result.outcome is BaselineOutcome.FAIL and result.level is Level.WARN

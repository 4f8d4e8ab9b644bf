"""Calibration: run-to-run noise and A/A false alarms per budget, over runs of one config."""

from __future__ import annotations

import numpy as np
import pytest

from budgets.calibrate import CalibrationRun, calibrate
from collectors.model import RunInfo

from .helpers import budgets, hist

SECONDS = range(1, 121)
TEXT = """
budgets:
  - name: steady
    metric: steady_seconds
    aggregation: p95
    fail: "< 10s"
    baseline: {max_increase: 10%}
  - name: jumpy
    metric: jumpy_seconds
    aggregation: p95
    fail: "< 10s"
  - name: no-baseline-ratio
    metric: steady_seconds
    aggregation: count
    fail: "> 0"
"""


def runs(levels: list[float]) -> list[CalibrationRun]:
    """One run per level: `steady` the same every time, `jumpy` at that run's level."""
    out = []
    for k, level in enumerate(levels):
        rng = np.random.default_rng(k)
        steady = {t: list(rng.uniform(0.09, 0.11, 10)) for t in SECONDS}
        jumpy = {t: list(rng.uniform(0.09, 0.11, 10) * level) for t in SECONDS}
        run = RunInfo(f"r{k}", started_at=0.0, ended_at=120.0)
        out.append(
            CalibrationRun(run, [hist("steady_seconds", steady), hist("jumpy_seconds", jumpy)])
        )
    return out


def test_noise_and_false_alarms_per_budget() -> None:
    results = {c.budget: c for c in calibrate(budgets(TEXT), runs([1.0, 1.3, 0.95, 1.0]))}
    steady, jumpy = results["steady"], results["jumpy"]
    assert len(steady.values) == 4 and steady.comparisons == 12  # every ordered pair
    assert steady.noise < 0.05 and steady.false_alarms == 0 and not steady.untrustworthy
    # +30 % between two runs of the same code: an A/A comparison calls it a regression
    assert jumpy.noise == pytest.approx(1.3 / 0.95 - 1, rel=0.03)
    assert jumpy.max_increase == 0.10  # no baseline: judged with the default comparison
    assert jumpy.false_alarms > 0 and jumpy.untrustworthy
    assert jumpy.suggested_max_increase == pytest.approx(0.40)
    assert results["no-baseline-ratio"].noise == 0.0  # the same count every run


def test_needs_two_runs() -> None:
    with pytest.raises(ValueError, match="at least 2 runs"):
        calibrate(budgets(TEXT), runs([1.0]))

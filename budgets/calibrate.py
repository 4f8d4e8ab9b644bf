"""Calibration: how noisy is each budget from run to run, and how often would a baseline
comparison of two runs of the *same* code cry regression? A pure function of K runs of one
configuration (`castiel calibrate` collects them).

Per budget and group:
* `values`: the whole-run value of every run;
* `noise`: the largest relative change in the bad direction between any two runs: what an
  A/A comparison of whole-run values can see with nothing changed;
* `false_alarms` / `comparisons`: A/A comparisons (every ordered pair of runs, through the
  evaluator exactly as `castiel check` compares, with the run's false-discovery control) that
  declared a regression;
* `untrustworthy`: the noise exceeds the budget's `max_increase` (or A/A comparisons raised
  false alarms): a regression of that size cannot be told from noise. Budgets without a
  `baseline:` are judged with the default comparison (`max_increase: 10%`).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from budgets.baseline import relative_change
from budgets.evaluate import BaselineRun, baseline_key, evaluate
from budgets.model import BaselineRef, BaselineSpec, Budget
from budgets.verdict import BaselineOutcome
from collectors.model import RunInfo, SeriesData

GroupKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Calibration:
    budget: str
    group: GroupKey
    values: tuple[float, ...]
    max_increase: float
    noise: float
    """Largest relative change (bad direction) between two runs; 0 with fewer than 2 values."""
    cv: float | None
    """Coefficient of variation of the values (None when the mean is 0)."""
    false_alarms: int
    comparisons: int

    @property
    def untrustworthy(self) -> bool:
        return self.noise > self.max_increase + 1e-12 or self.false_alarms > 0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.comparisons if self.comparisons else 0.0

    @property
    def suggested_max_increase(self) -> float:
        """The noise rounded up to the next 5 %: the smallest limit above what A/A showed."""
        return math.ceil(self.noise * 20 + 1e-9) / 20


@dataclass(frozen=True)
class CalibrationRun:
    run: RunInfo
    series: Sequence[SeriesData]


def with_comparison(budgets: Sequence[Budget]) -> list[Budget]:
    """Every budget compares with "the other run" (its own baseline settings, or defaults)."""
    out = []
    for b in budgets:
        spec = b.baseline or BaselineSpec()
        other = dataclasses.replace(spec, ref=BaselineRef.LAST_PASSING, name=None)
        out.append(dataclasses.replace(b, baseline=other))
    return out


def calibrate(budgets: Sequence[Budget], runs: Sequence[CalibrationRun]) -> list[Calibration]:
    """Run-to-run noise and A/A false alarms per budget and group, over K >= 2 runs."""
    if len(runs) < 2:
        raise ValueError("calibration needs at least 2 runs of one configuration")
    compared = with_comparison(budgets)
    specs = {b.name: b for b in compared}
    values: dict[tuple[str, GroupKey], list[float]] = {}
    alarms: dict[tuple[str, GroupKey], list[int]] = {}
    for r in runs:
        for v in evaluate(
            [dataclasses.replace(b, baseline=None) for b in budgets], r.series, r.run
        ):
            if v.observed is not None and not v.missing and math.isfinite(v.observed):
                values.setdefault((v.budget, v.group), []).append(v.observed)
    for i, base in enumerate(runs):
        for j, cur in enumerate(runs):
            if i == j:
                continue
            other = BaselineRun(f"run {base.run.id}", base.run, base.series)
            baselines = {baseline_key(BaselineSpec()): other}
            for v in evaluate(compared, cur.series, cur.run, baselines):
                if v.baseline is None or v.baseline.p_value is None:
                    continue
                cell = alarms.setdefault((v.budget, v.group), [0, 0])
                cell[0] += v.baseline.outcome is BaselineOutcome.FAIL
                cell[1] += 1
    out = []
    for (name, group), vals in sorted(values.items()):
        budget = specs[name]
        assert budget.baseline is not None
        fails, total = alarms.get((name, group), [0, 0])
        out.append(
            Calibration(
                budget=name,
                group=group,
                values=tuple(vals),
                max_increase=budget.baseline.max_increase,
                noise=_noise(vals, budget.higher_is_worse),
                cv=_cv(vals),
                false_alarms=fails,
                comparisons=total,
            )
        )
    return out


def _noise(values: Sequence[float], higher_is_worse: bool) -> float:
    worst = 0.0
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if i != j:
                worst = max(worst, relative_change(b, a, higher_is_worse))
    return worst


def _cv(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / abs(mean) if mean else None

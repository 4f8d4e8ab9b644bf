"""Verdicts: the evaluator's output, each with the evidence behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from budgets.model import Condition, Level
from budgets.units import Unit


class BaselineOutcome(StrEnum):
    PASS = "pass"  # noqa: S105
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def to_json(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end}


class PValueMethod(StrEnum):
    """How a Mann-Whitney p-value was computed."""

    EXACT = "exact"
    PERMUTATION = "permutation"
    ASYMPTOTIC = "asymptotic"


@dataclass(frozen=True)
class BaselineComparison:
    """A budget group compared with its baseline run (`budgets.baseline.compare`). Relative
    numbers are in the bad direction: 0.12 = 12 % worse, negative = better."""

    outcome: BaselineOutcome
    reason: str
    baseline: str
    """Which baseline was used, for people: "last passing run 2026... on main/peak"."""
    baseline_run: str | None = None
    baseline_value: float | None = None
    current_value: float | None = None
    change: float | None = None
    """Relative change of the whole-run values."""
    effect: float | None = None
    """Relative Hodges-Lehmann shift of the per-chunk values (the effect size)."""
    ci_low: float | None = None
    ci_high: float | None = None
    """The effect's confidence interval (relative), at `ci_level`."""
    ci_level: float | None = None
    min_effect: float = 0.0
    """The budget's `max_increase`: a regression must lie beyond it."""
    beyond_min_effect: bool = False
    """The interval's lower end lies beyond the minimum effect."""
    p_value: float | None = None
    """One-sided Mann-Whitney p of H0 "worse by at most the minimum effect"."""
    q_value: float | None = None
    """The p-value adjusted over the run's comparisons (Benjamini-Hochberg)."""
    method: PValueMethod = PValueMethod.ASYMPTOTIC
    alpha: float = 0.05
    fdr: float = 0.05
    family: int = 1
    """How many comparisons of this run were corrected together."""
    n_current: int = 0
    n_baseline: int = 0
    level: Level = Level.PASS
    """What this outcome contributes to the verdict's status."""

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reason": self.reason,
            "baseline": self.baseline,
            "baseline_run": self.baseline_run,
            "baseline_value": _num(self.baseline_value),
            "current_value": _num(self.current_value),
            "change": _num(self.change),
            "effect": _num(self.effect),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "ci_level": _num(self.ci_level),
            "min_effect": self.min_effect,
            "beyond_min_effect": self.beyond_min_effect,
            "p_value": _num(self.p_value),
            "q_value": _num(self.q_value),
            "method": self.method.value,
            "alpha": self.alpha,
            "fdr": self.fdr,
            "family": self.family,
            "n_current": self.n_current,
            "n_baseline": self.n_baseline,
            "level": self.level.label,
        }


@dataclass(frozen=True)
class Verdict:
    budget: str
    status: Level
    aggregation: str
    observed: float | None
    thresholds: tuple[tuple[Level, Condition], ...]
    """(level, condition that must hold), values in base units (see `unit`)."""
    sample_count: int
    window: Window | None
    """The part of the run that was evaluated (after ramp-up)."""
    scope: str
    group: tuple[tuple[str, str], ...] = ()
    breached: tuple[Level, Condition] | None = None
    """The highest level whose condition did not hold, e.g. (FAIL, < 0.3)."""
    worst: Window | None = None
    """The worst window (window scope), the sustained stretch, or the worst interval."""
    missing: bool = False
    message: str = ""
    baseline: BaselineComparison | None = None
    series: int = 0
    """How many series the selector matched for this group."""
    trace: tuple[tuple[float, float], ...] = field(default=(), compare=False)
    """(time, value) of the aggregation over the run, for charts."""
    description: str = ""
    metric: str = ""
    """The budget's selector, as written."""
    unit: Unit = Unit.NONE
    """The unit of `observed` and of the thresholds' values."""

    @property
    def group_label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.group)

    @property
    def title(self) -> str:
        return f"{self.budget} [{self.group_label}]" if self.group else self.budget

    def to_json(self, with_trace: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "budget": self.budget,
            "group": dict(self.group),
            "status": self.status.label,
            "aggregation": self.aggregation,
            "observed": _num(self.observed),
            "thresholds": {lv.label: str(cond) for lv, cond in self.thresholds},
            "limits": {
                lv.label: {"op": cond.op.value, "value": cond.value} for lv, cond in self.thresholds
            },
            "unit": self.unit.value,
            "breached": breached_text(self.breached),
            "sample_count": self.sample_count,
            "scope": self.scope,
            "window": self.window.to_json() if self.window else None,
            "worst": self.worst.to_json() if self.worst else None,
            "missing": self.missing,
            "message": self.message,
            "series": self.series,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "description": self.description,
            "metric": self.metric,
        }
        if with_trace:
            out["trace"] = [[t, _num(v)] for t, v in self.trace]
        return out


def breached_text(breached: tuple[Level, Condition] | None) -> str | None:
    """`fail: < 0.3` (the JSON form)."""
    if breached is None:
        return None
    level, cond = breached
    return f"{level.label}: {cond}"


def overall(verdicts: list[Verdict]) -> Level:
    return max((v.status for v in verdicts), default=Level.PASS, key=lambda lv: lv.value)


def _num(value: float | None) -> float | None:
    """JSON has no inf/nan: report them as null (the message says why)."""
    if value is None or not math.isfinite(value):
        return None
    return value

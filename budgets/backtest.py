"""Back-testing a budget file: how its budgets would have judged stored runs, per budget, so
a lead can tighten one without discovering its flakiness in CI. Pure: the verdicts come in
(castiel/backtest.py evaluates the runs), counts come out, with a JSON form both ways (the
dashboard shows what `castiel check --runs ... --json` wrote)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from budgets.model import Budget, Level
from budgets.units import Unit
from budgets.verdict import Verdict


@dataclass(frozen=True)
class BacktestRow:
    """One budget over the runs (a grouped budget counts a run by its worst group)."""

    budget: str
    unit: Unit
    runs: int
    passed: int = 0
    warned: int = 0
    failed: int = 0
    missing: int = 0
    """Runs without data for it (each also counted under the level its `on_missing` gives)."""
    failed_runs: tuple[str, ...] = ()
    warned_runs: tuple[str, ...] = ()
    worst: float | None = None
    """The worst observed value over the runs, in base units (`unit`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "unit": self.unit.value,
            "runs": self.runs,
            "pass": self.passed,
            "warn": self.warned,
            "fail": self.failed,
            "missing": self.missing,
            "failed_runs": list(self.failed_runs),
            "warned_runs": list(self.warned_runs),
            "worst": self.worst,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BacktestRow:
        worst = raw.get("worst")
        return cls(
            budget=str(raw["budget"]),
            unit=Unit(raw.get("unit", "")),
            runs=int(raw["runs"]),
            passed=int(raw.get("pass", 0)),
            warned=int(raw.get("warn", 0)),
            failed=int(raw.get("fail", 0)),
            missing=int(raw.get("missing", 0)),
            failed_runs=tuple(raw.get("failed_runs", ())),
            warned_runs=tuple(raw.get("warned_runs", ())),
            worst=None if worst is None else float(worst),
        )


@dataclass(frozen=True)
class Backtest:
    budgets_file: str
    runs: tuple[str, ...]
    """The runs evaluated, oldest first."""
    rows: tuple[BacktestRow, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "budgets_file": self.budgets_file,
            "runs": list(self.runs),
            "budgets": [r.to_json() for r in self.rows],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Backtest:
        return cls(
            budgets_file=str(raw.get("budgets_file", "")),
            runs=tuple(raw.get("runs", ())),
            rows=tuple(BacktestRow.from_json(r) for r in raw.get("budgets", ())),
        )


def tally(
    budgets_file: str, budgets: Sequence[Budget], evaluated: Sequence[tuple[str, Sequence[Verdict]]]
) -> Backtest:
    """`evaluated`: (run id, that run's verdicts) per run, oldest first."""
    rows = []
    for budget in budgets:
        levels: list[tuple[str, Level]] = []
        missing, worst, unit = 0, None, Unit.NONE
        for run_id, verdicts in evaluated:
            mine = [v for v in verdicts if v.budget == budget.name]
            if not mine:
                continue
            unit = mine[0].unit
            levels.append((run_id, max(v.status for v in mine)))
            missing += any(v.missing for v in mine)
            for v in mine:
                if v.observed is not None and math.isfinite(v.observed):
                    worse = worst is None or (
                        v.observed > worst if budget.higher_is_worse else v.observed < worst
                    )
                    worst = v.observed if worse else worst
        rows.append(
            BacktestRow(
                budget=budget.name,
                unit=unit,
                runs=len(levels),
                passed=sum(1 for _, lv in levels if lv is Level.PASS),
                warned=sum(1 for _, lv in levels if lv is Level.WARN),
                failed=sum(1 for _, lv in levels if lv >= Level.FAIL),
                missing=missing,
                failed_runs=tuple(r for r, lv in levels if lv >= Level.FAIL),
                warned_runs=tuple(r for r, lv in levels if lv is Level.WARN),
                worst=worst,
            )
        )
    return Backtest(budgets_file, tuple(r for r, _ in evaluated), tuple(rows))

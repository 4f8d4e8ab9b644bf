"""Budgets' verdicts -> alert inputs (the engine's input)."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.model import AlertInput, labelset
from budgets.verdict import Verdict


def alert_input(v: Verdict, run_id: str, kind: str = "budget") -> AlertInput:
    return AlertInput(
        rule=v.budget,
        group=labelset(v.group),
        reached=v.status,
        missing=v.missing,
        observed=v.observed,
        thresholds=tuple((lv, str(cond)) for lv, cond in v.thresholds),
        aggregation=v.aggregation,
        metric=v.metric,
        description=v.description,
        message=v.message,
        run_id=run_id,
        kind=kind,
    )


def alert_inputs(
    verdicts: Sequence[Verdict], run_id: str, kind: str = "budget"
) -> list[AlertInput]:
    return [alert_input(v, run_id, kind) for v in verdicts]

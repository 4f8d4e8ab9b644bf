"""Standalone alert rules on any metric selector. Each rule is a budget that only alerts: it is
evaluated by the budgets evaluator (same aggregations and group_by) and its verdicts become
alert inputs of kind "rule".

A budget's `window` scope means "the worst window of the whole run" (a verdict about the run).
An alert rule's `window` means "the last window": each rule sees only the data of its last
`window` seconds, so it resolves when the metric recovers, also in an endless
`castiel monitor`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from alerts.config import AlertRule
from alerts.from_verdicts import alert_inputs
from alerts.model import AlertInput
from budgets.evaluate import evaluate
from collectors.model import RunInfo, SeriesData


def recent(series: Sequence[SeriesData], since: float) -> list[SeriesData]:
    """The part of each series after `since` (histograms by interval end)."""
    out = []
    for s in series:
        points = tuple(p for p in s.points if p.timestamp > since)
        hists = tuple(h for h in s.histograms if h.end > since)
        if points or hists:
            out.append(replace(s, points=points, histograms=hists))
    return out


def evaluate_rules(
    rules: Sequence[AlertRule], series: Sequence[SeriesData], run: RunInfo, now: float
) -> list[AlertInput]:
    inputs: list[AlertInput] = []
    whole = [r.budget for r in rules if r.budget.scope.window is None]
    if whole:
        inputs += alert_inputs(evaluate(whole, series, run, now=now), run.id, kind="rule")
    for r in rules:
        window = r.budget.scope.window
        if window is None:
            continue
        # The last `window` seconds, evaluated as one whole-run budget over them.
        budget = replace(r.budget, scope=replace(r.budget.scope, window=None))
        verdicts = evaluate([budget], recent(series, now - window), run, now=now)
        inputs += alert_inputs(verdicts, run.id, kind="rule")
    return inputs

"""Verdicts read back from their JSON form (`Verdict.to_json`), as the store keeps them: the
one reader, so every page and command gets numbers, units and levels, never text to parse."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from budgets.aggregations import Aggregation
from budgets.model import Condition, Level, Op
from budgets.shorthand import parse_condition
from budgets.units import Unit, unit_of
from budgets.verdict import BaselineComparison, BaselineOutcome, PValueMethod, Verdict, Window
from collectors.store import VerdictRecord


def verdict_from_json(
    payload: Mapping[str, Any],
    *,
    budget: str,
    group: Mapping[str, str],
    status: str,
) -> Verdict:
    """The inverse of `Verdict.to_json`. A value the JSON lacks (no inf/nan there) reads as
    NaN unless the verdict says its data was missing; the trace is read when it was kept."""
    p = payload
    observed = _num(p.get("observed"))
    thresholds = _thresholds(p)
    return Verdict(
        budget=budget,
        status=level_of(status),
        aggregation=str(p.get("aggregation", "")),
        observed=math.nan if observed is None and not p.get("missing") else observed,
        thresholds=thresholds,
        sample_count=int(p.get("sample_count") or 0),
        window=_window(p.get("window")),
        scope=str(p.get("scope", "")),
        group=tuple(sorted(group.items())),
        breached=_breached(p.get("breached"), thresholds),
        worst=_window(p.get("worst")),
        missing=bool(p.get("missing")),
        message=str(p.get("message", "")),
        baseline=_baseline(p.get("baseline")),
        series=int(p.get("series") or 0),
        trace=_trace(p.get("trace")),
        description=str(p.get("description", "")),
        metric=str(p.get("metric", "")),
        unit=_unit(p),
    )


def verdict_from_record(record: VerdictRecord) -> Verdict:
    """A verdict as the store keeps it, typed again."""
    return verdict_from_json(
        record.payload, budget=record.budget, group=record.group, status=record.status
    )


def level_of(text: str) -> Level:
    """A stored level name; anything else (a newer Castiel's level) reads as PASS."""
    try:
        return Level.parse(text)
    except ValueError:
        return Level.PASS


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _window(raw: Mapping[str, Any] | None) -> Window | None:
    if not raw:
        return None
    return Window(float(raw["start"]), float(raw["end"]))


def _trace(raw: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        (float(t), math.nan if v is None else float(v))
        for t, v in raw
        if isinstance(t, int | float)
    )


def _baseline(raw: Mapping[str, Any] | None) -> BaselineComparison | None:
    if not raw:
        return None
    method = str(raw.get("method", "asymptotic"))
    return BaselineComparison(
        outcome=BaselineOutcome(raw.get("outcome", "inconclusive")),
        reason=str(raw.get("reason", "")),
        baseline=str(raw.get("baseline", "")),
        baseline_run=raw.get("baseline_run"),
        baseline_value=_num(raw.get("baseline_value")),
        current_value=_num(raw.get("current_value")),
        change=_num(raw.get("change")),
        effect=_num(raw.get("effect")),
        ci_low=_num(raw.get("ci_low")),
        ci_high=_num(raw.get("ci_high")),
        ci_level=_num(raw.get("ci_level")),
        # verdicts stored before the minimum effect was named kept it as max_regression
        min_effect=float(raw.get("min_effect", raw.get("max_regression")) or 0.0),
        beyond_min_effect=bool(raw.get("beyond_min_effect")),
        p_value=_num(raw.get("p_value")),
        q_value=_num(raw.get("q_value")),
        method=PValueMethod(method)
        if method in PValueMethod.__members__.values()
        else PValueMethod.ASYMPTOTIC,
        alpha=float(raw.get("alpha") or 0.05),
        fdr=float(raw.get("fdr") or 0.05),
        family=int(raw.get("family") or 1),
        n_current=int(raw.get("n_current") or 0),
        n_baseline=int(raw.get("n_baseline") or 0),
        level=level_of(str(raw.get("level", "pass"))),
    )


def _thresholds(p: Mapping[str, Any]) -> tuple[tuple[Level, Condition], ...]:
    """Typed limits, in level order (a store may keep JSON keys sorted). Verdicts stored
    before they existed carry only each condition in the budget language (`< 0.3`), which
    its own grammar reads."""
    out: list[tuple[Level, Condition]] = []
    typed = p.get("limits")
    if isinstance(typed, Mapping):
        for lvl, cond in typed.items():
            with contextlib.suppress(KeyError, TypeError, ValueError):
                out.append((level_of(lvl), Condition(Op(cond["op"]), float(cond["value"]))))
    else:
        for lvl, text in (p.get("thresholds") or {}).items():
            with contextlib.suppress(ValueError):
                out.append((level_of(lvl), parse_condition(str(text))))
    return tuple(sorted(out, key=lambda pair: pair[0].value))


def _breached(
    text: Any, thresholds: tuple[tuple[Level, Condition], ...]
) -> tuple[Level, Condition] | None:
    if not isinstance(text, str):
        return None
    level = level_of(text.partition(":")[0])
    cond = dict(thresholds).get(level)
    return None if cond is None else (level, cond)


def _unit(p: Mapping[str, Any]) -> Unit:
    with contextlib.suppress(ValueError):
        if "unit" in p:
            return Unit(p["unit"])
        return unit_of(
            str(p.get("metric", "")).split("{", 1)[0], Aggregation.parse(p["aggregation"])
        )
    return Unit.NONE

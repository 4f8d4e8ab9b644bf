"""Verdicts and histories as the dashboard shows them: typed columns (level, observed value in
base units with its unit, limits, the baseline comparison's numbers) beside the same values
formatted for people, read through budgets.verdict_json. No Streamlit here."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from budgets import history
from budgets.aggregations import PERCENTILE, Aggregation
from budgets.history import BudgetHistory
from budgets.reports.report import format_thresholds
from budgets.selectors import MatchKind, parse_selector
from budgets.units import Unit, chart_scale, format_quantity
from budgets.verdict import BaselineComparison, Verdict
from budgets.verdict_json import verdict_from_record
from collectors.store import Store
from dashboard.data import BADGES, LATENCY_METRICS

VERDICT_COLUMNS = [
    "level",
    "status",
    "budget",
    "group",
    "labels",
    "aggregation",
    "unit",
    "observed",
    "value",
    "thresholds",
    "limits",
    "baseline run",
    "vs baseline",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "effect text",
    "samples",
    "metric",
    "metric_name",
    "worst_start",
    "worst_end",
    "message",
    "trace",
]


def verdicts_frame(store: Store, run_id: str, source: str | None = "check") -> pd.DataFrame:
    """One row per budget and group, typed (`level`, `observed` in base units with its
    `unit`, `limits` as numbers, the baseline comparison's numbers) beside the same values
    formatted for people (`status`, `value`, `thresholds`, `effect text`)."""
    rows = [verdict_row(verdict_from_record(r)) for r in store.verdicts(run_id, source)]
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def verdict_row(v: Verdict) -> dict[str, Any]:
    b = v.baseline
    worst = v.worst
    return {
        "level": v.status.value,
        "status": BADGES.get(v.status.label, v.status.label),
        "budget": v.budget,
        "group": ", ".join(f"{k}={val}" for k, val in v.group) or "-",
        "labels": dict(v.group),
        "aggregation": v.aggregation,
        "unit": v.unit.value,
        "observed": v.observed,
        "value": format_quantity(v.observed, v.unit),
        "thresholds": format_thresholds(v),
        "limits": {lv.label: cond.value for lv, cond in v.thresholds},
        "baseline run": b.baseline_run if b else None,
        "vs baseline": b.outcome.value.upper() if b else "",
        "effect": b.effect if b else None,
        "ci_low": b.ci_low if b else None,
        "ci_high": b.ci_high if b else None,
        "p_value": b.p_value if b else None,
        "effect text": effect_text(b) if b else "",
        "samples": v.sample_count,
        "metric": v.metric,
        "metric_name": metric_name(v.metric),
        "worst_start": worst.start if worst else None,
        "worst_end": worst.end if worst else None,
        "message": v.message,
        "trace": v.trace,
    }


def metric_name(selector: str) -> str:
    """The metric a budget's selector names, read by the budget language's own parser ("" for
    a name pattern, or a selector from a newer Castiel it cannot read)."""
    try:
        name = parse_selector(selector).name
    except ValueError:
        return ""
    return name.pattern if name.kind is MatchKind.EXACT and not name.negate else ""


def effect_text(b: BaselineComparison) -> str:
    """`+12.3 % (90 % CI +8.1 to +15.9 %), p=0.003`; the whole-run change when untested."""
    if b.effect is None:
        return "" if b.change is None else f"{_pct(b.change)} (too few chunks to test)"
    text = _pct(b.effect)
    if b.ci_level is not None and b.ci_low is not None and b.ci_high is not None:
        text += f" ({b.ci_level * 100:.0f} % CI {_pct(b.ci_low)} to {_pct(b.ci_high)})"
    if b.p_value is not None:
        text += f", p={b.p_value:.2g}"
    return text


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %" if math.isfinite(x) else ("+inf %" if x > 0 else "-inf %")


def latency_limits(verdicts: pd.DataFrame, column: str = "p95") -> dict[tuple[str, str], float]:
    """Threshold lines (ms) for a latency chart of `column`: every budget in seconds on a
    latency metric with that aggregation, e.g. {("endpoint p95", "fail"): 2000.0}."""
    if verdicts.empty:
        return {}
    out: dict[tuple[str, str], float] = {}
    factor, _ = chart_scale(Unit.SECONDS)
    for row in verdicts.itertuples():
        if row.metric_name not in LATENCY_METRICS or row.aggregation != column or row.unit != "s":
            continue
        for level, value in dict(row.limits).items():
            out[(str(row.budget), str(level))] = value * factor
    return out


def percentiles_of(verdicts: pd.DataFrame, always: Sequence[float] = (50, 95, 99)) -> list[float]:
    """The percentiles a latency chart offers: `always`, and every percentile a budget on a
    latency metric judges (p90, p99.9...), so each budget is charted as what it is."""
    qs = set(always)
    if not verdicts.empty:
        for row in verdicts.itertuples():
            if row.metric_name not in LATENCY_METRICS:
                continue
            with contextlib.suppress(ValueError):
                agg = Aggregation.parse(str(row.aggregation))
                if agg.kind is PERCENTILE and agg.q is not None:
                    qs.add(float(agg.q))
    return sorted(qs)


def budget_history(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """For the sparkline column: per budget and group, the observed value in each of
    `run_ids` (oldest first), from what `castiel check` recorded for those runs."""
    values: dict[tuple[str, str], list[float | None]] = {}
    found = store.verdicts_of(run_ids, "check")
    for i, run_id in enumerate(run_ids):
        for record in found.get(run_id, []):
            v = verdict_from_record(record)
            group = ", ".join(f"{k}={val}" for k, val in v.group) or "-"
            observed = v.observed if v.observed is not None and math.isfinite(v.observed) else None
            values.setdefault((v.budget, group), [None] * len(run_ids))[i] = observed
    return pd.DataFrame(
        [
            {"budget": b, "group": g, "trend": [x for x in seq if x is not None]}
            for (b, g), seq in values.items()
        ],
        columns=["budget", "group", "trend"],
    )


def trace_frame(
    trace: Sequence[tuple[float, float]], who: str, column: str, factor: float
) -> pd.DataFrame:
    """A verdict's trace (time, value in base units) as a chart's frame: series, t, column
    (values times `factor`, the chart's unit)."""
    ts = np.array([t for t, _ in trace], dtype=np.float64)
    vs = np.array([v for _, v in trace], dtype=np.float64) * factor
    return pd.DataFrame(
        {"series": who, "t": pd.to_datetime(ts, unit="s", utc=True), column: vs}
    ).dropna()


def history_points(h: BudgetHistory, factor: float) -> pd.DataFrame:
    """One row per run of a budget's history: t (run start), value (times `factor`), status,
    run, commit, branch."""
    return pd.DataFrame(
        {
            "t": pd.to_datetime([p.run.started_at for p in h.points], unit="s", utc=True),
            "value": [np.nan if p.value is None else p.value * factor for p in h.points],
            "status": [p.verdict.status.label for p in h.points],
            "run": [p.run.id for p in h.points],
            "commit": [(p.run.git_commit or "")[:7] for p in h.points],
            "branch": [p.run.git_branch or "" for p in h.points],
        }
    )


def history_changes(h: BudgetHistory) -> pd.DataFrame:
    """One row per change point: where, how large (with its interval), and a link comparing
    the first run after it with the one before."""
    rows = [
        {
            "t": pd.Timestamp(c.run.started_at, unit="s", tz="UTC"),
            "text": history.short_text(c),
            "run": c.run.id,
            "commit": c.commit,
            "branch": c.run.git_branch or "",
            "before": format_quantity(c.before, h.unit),
            "after": format_quantity(c.after, h.unit),
            "shift": history.shift_text(c, h.aggregation),
            "p": c.p_value,
            "direction": "worse" if c.worse else "better",
            "compare": f"/compare?a={c.previous.id}&b={c.run.id}",
        }
        for c in h.changes
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "t",
            "text",
            "run",
            "commit",
            "branch",
            "before",
            "after",
            "shift",
            "p",
            "direction",
            "compare",
        ],
    )

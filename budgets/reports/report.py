"""The report model shared by every format, and value formatting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from budgets.knee import Saturation
from budgets.model import Level
from budgets.verdict import Verdict, overall
from collectors.model import RunInfo

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Report:
    run: RunInfo
    budgets_file: str
    verdicts: tuple[Verdict, ...]
    generated_at: float
    baselines: tuple[str, ...] = field(default=())
    """Human descriptions of the baselines used."""
    notes: tuple[str, ...] = field(default=())
    """What else a reader must know about the run (e.g. why it was stopped early)."""
    saturation: Saturation | None = None
    """A stepped or ramped run's steps and knee (budgets/knee.py); None at constant load."""

    @property
    def status(self) -> Level:
        return overall(list(self.verdicts))

    def count(self, level: Level) -> int:
        return sum(1 for v in self.verdicts if v.status is level)


def build_report(
    run: RunInfo,
    budgets_file: str,
    verdicts: Sequence[Verdict],
    generated_at: float,
    baselines: Sequence[str] = (),
    notes: Sequence[str] = (),
    saturation: Saturation | None = None,
) -> Report:
    return Report(
        run, budgets_file, tuple(verdicts), generated_at, tuple(baselines), tuple(notes), saturation
    )


def saturation_rows(sat: Saturation) -> list[tuple[str, str, str, str, str]]:
    """The steps as table rows: offered, throughput, follow, p95, marker."""
    rows = []
    knee = sat.knee
    for s in sat.steps:
        p95 = "—" if s.p95 is None else f"{s.p95 * 1000:.4g} ms"
        mark = "knee" if knee and s.offered == knee.offered else ""
        mark = "last sustained" if knee and s.offered == knee.sustained_offered else mark
        offered, throughput = f"{s.offered:g} {sat.unit}", f"{s.throughput:.4g} req/s"
        rows.append((offered, throughput, f"{s.follow:.0%}", p95, mark))
    return rows


class Unit(StrEnum):
    """How a budget's values read: the metric's base unit decides, seconds shown as ms/s."""

    SECONDS = "seconds"
    RATIO = "ratio"
    RATE = "rate"
    PLAIN = "plain"


def unit_of(aggregation: str, metric: str) -> Unit:
    if aggregation == "ratio":
        return Unit.RATIO
    if aggregation == "rate":
        return Unit.RATE
    name = metric.split("{", 1)[0]
    if name.endswith("_seconds") and aggregation not in ("count", "sum"):
        return Unit.SECONDS
    return Unit.PLAIN


def format_quantity(value: float, aggregation: str, metric: str) -> str:
    """Seconds as ms/s, ratios as percentages, everything else with 4 significant digits."""
    if not math.isfinite(value):
        return "—"
    match unit_of(aggregation, metric):
        case Unit.RATIO:
            return f"{value * 100:.3g}%"
        case Unit.RATE:
            return f"{value:.4g}/s"
        case Unit.SECONDS:
            return f"{value * 1000:.4g} ms" if abs(value) < 1.0 else f"{value:.4g} s"
    return f"{value:.4g}"


def format_value(value: float | None, verdict: Verdict) -> str:
    if value is None:
        return "—"
    return format_quantity(value, verdict.aggregation, verdict.metric)


def format_thresholds(verdict: Verdict) -> str:
    """Thresholds in the same units as the observed value: "warn < 200 ms, fail < 250 ms"."""
    parts = []
    for lv, cond in verdict.thresholds:
        op, _, number = cond.partition(" ")
        try:
            shown = format_value(float(number), verdict)
        except ValueError:
            shown = number
        parts.append(f"{lv.label} {op} {shown}")
    return ", ".join(parts) or "—"


def evidence(verdict: Verdict) -> str:
    """One line of evidence for people: what was observed where, against what."""
    parts = []
    if verdict.missing:
        parts.append(verdict.message)
    else:
        parts.append(
            f"{verdict.aggregation} = {format_value(verdict.observed, verdict)} "
            f"over {verdict.scope} ({verdict.sample_count} samples, {verdict.series} series)"
        )
        if verdict.breached:
            parts.append(f"breaks {verdict.breached}")
        if verdict.worst is not None:
            parts.append(f"worst {_span(verdict.worst.start, verdict.worst.end)}")
        if verdict.message:
            parts.append(verdict.message)
    return "; ".join(parts)


def _span(start: float, end: float) -> str:
    a = datetime.fromtimestamp(start, UTC).strftime("%H:%M:%S")
    b = datetime.fromtimestamp(end, UTC).strftime("%H:%M:%S")
    return f"{a}-{b} UTC"

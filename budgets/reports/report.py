"""The report model shared by every format, and value formatting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from budgets.knee import Saturation
from budgets.model import Condition, Level
from budgets.units import format_quantity
from budgets.validity import Validity
from budgets.verdict import BaselineOutcome, Verdict, overall
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
    validity: Validity = field(default_factory=Validity)
    """Whether the run's numbers can be trusted (budgets/validity.py)."""

    @property
    def status(self) -> Level:
        return overall(list(self.verdicts))

    @property
    def inconclusive(self) -> bool:
        """The run would have passed, but its numbers cannot be trusted (a FAIL stands)."""
        return self.validity.inconclusive and self.status <= Level.WARN

    @property
    def headline(self) -> str:
        """PASS, WARN, FAIL, ABORT or INCONCLUSIVE (the run's numbers cannot be trusted)."""
        return "INCONCLUSIVE" if self.inconclusive else self.status.label.upper()

    def count(self, level: Level) -> int:
        return sum(1 for v in self.verdicts if v.status is level)


def build_report(
    run: RunInfo,
    budgets_file: str,
    verdicts: Sequence[Verdict],
    generated_at: float,
    baselines: Sequence[str] = (),
    notes: Sequence[str] = (),
    validity: Validity | None = None,
    saturation: Saturation | None = None,
) -> Report:
    correction = correction_note(verdicts)
    all_notes = (*notes, correction) if correction else tuple(notes)
    return Report(
        run,
        budgets_file,
        tuple(verdicts),
        generated_at,
        tuple(baselines),
        all_notes,
        saturation=saturation,
        validity=validity or Validity(),
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


def correction_note(verdicts: Sequence[Verdict]) -> str | None:
    """What every report says about the run's baseline comparisons as a family."""
    tested = [v.baseline for v in verdicts if v.baseline and v.baseline.p_value is not None]
    if not tested:
        return None
    rates = sorted({c.fdr for c in tested})
    rate = " / ".join(f"{r:.3g}" for r in rates)
    failed = sum(1 for c in tested if c.outcome is BaselineOutcome.FAIL)
    return (
        f"{len(tested)} baseline comparison(s) were corrected together (Benjamini-Hochberg, "
        f"false discovery rate {rate}); a regression needs its confidence interval beyond the "
        f"budget's max_increase and q within the rate: {failed} regression(s)."
    )


def format_value(value: float | None, verdict: Verdict) -> str:
    """A value of this verdict's budget in its unit: ms/s, percentages, per second."""
    return format_quantity(value, verdict.unit)


def format_condition(cond: Condition, verdict: Verdict) -> str:
    """`< 300 ms`: a threshold in the unit of the observed value."""
    return f"{cond.op.value} {format_value(cond.value, verdict)}"


def format_thresholds(verdict: Verdict) -> str:
    """Thresholds in the same units as the observed value: "warn < 200 ms, fail < 300 ms"."""
    parts = [f"{lv.label} {format_condition(cond, verdict)}" for lv, cond in verdict.thresholds]
    return ", ".join(parts) or "—"


def format_breach(verdict: Verdict) -> str | None:
    """What broke, in the budget's unit: "p95 412 ms > 300 ms (fail: < 300 ms)"."""
    if verdict.breached is None or verdict.observed is None:
        return None
    level, cond = verdict.breached
    observed = verdict.observed
    relation = ">" if observed > cond.value else ("<" if observed < cond.value else "=")
    return (
        f"{verdict.aggregation} {format_value(observed, verdict)} {relation} "
        f"{format_value(cond.value, verdict)} ({level.label}: {format_condition(cond, verdict)})"
    )


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
        if verdict.breached is not None:
            level, cond = verdict.breached
            parts.append(f"breaks {level.label}: {format_condition(cond, verdict)}")
        if verdict.worst is not None:
            parts.append(f"worst {_span(verdict.worst.start, verdict.worst.end)}")
        if verdict.message:
            parts.append(verdict.message)
    return "; ".join(parts)


def _span(start: float, end: float) -> str:
    a = datetime.fromtimestamp(start, UTC).strftime("%H:%M:%S")
    b = datetime.fromtimestamp(end, UTC).strftime("%H:%M:%S")
    return f"{a}-{b} UTC"

"""A budget across runs: each run's observed value, thresholds and verdict, and the change
points of the series (budgets/changepoints.py), each named by the first run and commit after
the change with the size of the shift and its confidence interval.

Pure: `histories` takes runs and their typed verdicts (oldest first); `read_entries` is the
one reader of them from a store (any object with the Store's `runs` and `verdicts`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np

from budgets.changepoints import MAX_P, MIN_RUNS, WINDOW, detect
from budgets.model import Condition, Level
from budgets.units import Unit
from budgets.verdict import Verdict
from budgets.verdict_json import verdict_from_record
from collectors.model import RunInfo
from collectors.store import VerdictRecord

CI_LEVEL = 0.95
SCAN = 5000
"""Newest runs read to find the last N of one branch (retention keeps 500 by default)."""

GroupKey = tuple[tuple[str, str], ...]


class VerdictSource(Protocol):
    """What history needs from a store (collectors.store.Store has it)."""

    def runs(self, limit: int = ...) -> list[RunInfo]: ...

    def verdicts_of(
        self, run_ids: Sequence[str], source: str | None = ...
    ) -> dict[str, list[VerdictRecord]]: ...


@dataclass(frozen=True)
class Entry:
    """One run and the verdicts `castiel check` recorded for it."""

    run: RunInfo
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class Point:
    run: RunInfo
    verdict: Verdict

    @property
    def value(self) -> float | None:
        v = self.verdict.observed
        return v if v is not None and math.isfinite(v) else None


@dataclass(frozen=True)
class Change:
    """A detected change point of one budget's history."""

    run: RunInfo
    """The first run after the change."""
    previous: RunInfo
    """The last run before it (compare the two)."""
    before: float
    after: float
    """Mean observed value of the runs between the neighbouring change points."""
    change: float
    """(after - before) / |before|: +0.18 is 18 % higher."""
    ci_low: float
    ci_high: float
    """Welch's interval of the shift of the means, relative to `before`, at `ci_level`."""
    ci_level: float
    p_value: float
    worse: bool
    """In the budget's bad direction (higher for a ceiling, lower for a floor)."""

    @property
    def commit(self) -> str:
        return (self.run.git_commit or "")[:7] or self.run.id


@dataclass(frozen=True)
class BudgetHistory:
    budget: str
    group: GroupKey
    unit: Unit
    aggregation: str
    thresholds: tuple[tuple[Level, Condition], ...]
    """The newest run's thresholds (a budget file can change over time: each point keeps
    its own in `verdict.thresholds`)."""
    points: tuple[Point, ...]
    """Oldest first."""
    changes: tuple[Change, ...]

    @property
    def title(self) -> str:
        label = ",".join(f"{k}={v}" for k, v in self.group)
        return f"{self.budget} [{label}]" if label else self.budget


def read_entries(
    store: VerdictSource,
    *,
    branch: str | None = None,
    scenario: str | None = None,
    last: int = 50,
    until: RunInfo | None = None,
    source: str = "check",
) -> list[Entry]:
    """The last `last` finished runs with recorded verdicts (of `branch` and `scenario` when
    given; up to and including `until`), oldest first. A history compares like with like:
    a peak run's numbers are not a normal run's, and a run stopped early or found
    inconclusive (its numbers cannot be trusted) is no point of it."""
    candidates = [
        run
        for run in store.runs(SCAN)
        if run.status == "finished"
        and run.verdict != "inconclusive"
        and (branch is None or run.git_branch == branch)
        and (scenario is None or run.scenario == scenario)
        and (until is None or (run.started_at, run.id) <= (until.started_at, until.id))
    ]
    picked: list[Entry] = []
    # The newest `last` candidates in one query; more only when some had no verdicts.
    while candidates and len(picked) < last:
        chunk, candidates = candidates[:last], candidates[last:]
        found = store.verdicts_of([run.id for run in chunk], source)
        for run in chunk:
            if records := found.get(run.id):
                picked.append(Entry(run, tuple(verdict_from_record(r) for r in records)))
                if len(picked) >= last:
                    break
    return picked[::-1]


def histories(
    entries: Sequence[Entry],
    budget: str | None = None,
    *,
    window: int = WINDOW,
    max_p: float = MAX_P,
    min_runs: int = MIN_RUNS,
) -> list[BudgetHistory]:
    """One history per budget and group (of `budget` only when given), in the newest run's
    budget order, with its change points."""
    series: dict[tuple[str, GroupKey], list[Point]] = {}
    for entry in entries:
        for v in entry.verdicts:
            if budget is None or v.budget == budget:
                series.setdefault((v.budget, v.group), []).append(Point(entry.run, v))
    out = []
    for (name, group), points in series.items():
        newest = points[-1].verdict
        out.append(
            BudgetHistory(
                budget=name,
                group=group,
                unit=newest.unit,
                aggregation=newest.aggregation,
                thresholds=newest.thresholds,
                points=tuple(points),
                changes=changes(points, window=window, max_p=max_p, min_runs=min_runs),
            )
        )
    order = {(v.budget, v.group): i for i, v in enumerate(entries[-1].verdicts)} if entries else {}
    return sorted(out, key=lambda h: (order.get((h.budget, h.group), len(order)), h.title))


def changes(
    points: Sequence[Point],
    *,
    window: int = WINDOW,
    max_p: float = MAX_P,
    min_runs: int = MIN_RUNS,
) -> tuple[Change, ...]:
    """The change points of the points that have a value (runs without one are left out)."""
    valued = [p for p in points if p.value is not None]
    values = np.array([p.value for p in valued], dtype=np.float64)
    found = detect(values, window=window, max_p=max_p, min_runs=min_runs)
    bounds = [0, *(c.index for c in found), len(valued)]
    out = []
    for i, cp in enumerate(found):
        before, after = values[bounds[i] : cp.index], values[cp.index : bounds[i + 2]]
        low, high = _welch_interval(after, before)
        scale = abs(cp.mean_before)
        change = _relative(cp.mean_after - cp.mean_before, scale)
        out.append(
            Change(
                run=valued[cp.index].run,
                previous=valued[cp.index - 1].run,
                before=cp.mean_before,
                after=cp.mean_after,
                change=change,
                ci_low=_relative(low, scale),
                ci_high=_relative(high, scale),
                ci_level=CI_LEVEL,
                p_value=cp.p_value,
                worse=(change > 0) == _higher_is_worse(valued[cp.index].verdict),
            )
        )
    return tuple(out)


def newly_confirmed(
    history: BudgetHistory,
    *,
    window: int = WINDOW,
    max_p: float = MAX_P,
    min_runs: int = MIN_RUNS,
) -> list[Change]:
    """The change points that the newest run made significant: found with it, not without it
    (a change point that only moved by one run is the same one). Pass the parameters the
    history was built with."""
    if not history.points:
        return []
    before = changes(history.points[:-1], window=window, max_p=max_p, min_runs=min_runs)
    known = [_position(history.points, c.run) for c in before]
    return [
        c
        for c in history.changes
        if all(abs(_position(history.points, c.run) - k) > 1 for k in known)
    ]


def _position(points: Sequence[Point], run: RunInfo) -> int:
    return next(i for i, p in enumerate(points) if p.run.id == run.id)


def _higher_is_worse(v: Verdict) -> bool:
    for _, cond in v.thresholds:
        if cond.direction is not None:
            return cond.direction
    return True


def _welch_interval(after: Iterable[float], before: Iterable[float]) -> tuple[float, float]:
    """Welch's interval of mean(after) - mean(before) at CI_LEVEL (as scipy's
    `ttest_ind(equal_var=False).confidence_interval()`, written out: identical values, as
    Locust's rounded milliseconds often are, made scipy warn of precision loss)."""
    a = np.asarray(list(after), dtype=np.float64)
    b = np.asarray(list(before), dtype=np.float64)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return -math.inf, math.inf
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    if va + vb == 0:
        return diff, diff
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(_special().stdtrit(df, 0.5 + CI_LEVEL / 2)) * math.sqrt(va + vb)
    return diff - half, diff + half


def _relative(shift: float, scale: float) -> float:
    if scale > 0:
        return shift / scale
    return 0.0 if shift == 0 else math.copysign(math.inf, shift)


def describe(change: Change, aggregation: str) -> str:
    """`a change point at commit abc1234 (+18 % p95, 95 % CI 12-24 %)`."""
    return f"a change point at commit {change.commit} ({shift_text(change, aggregation)})"


def shift_text(change: Change, aggregation: str = "") -> str:
    """`+18 % p95, 95 % CI 12-24 %`; an interval that crosses or lies below zero keeps its
    signs (`-24 to -12 %`)."""
    what = f" {aggregation}" if aggregation else ""
    low, high = _pct(change.ci_low), _pct(change.ci_high)
    if change.ci_low > 0 and math.isfinite(change.ci_high):
        interval = f"{low.lstrip('+')}-{high.lstrip('+')} %"
    else:
        interval = f"{low} to {high} %"
    return f"{_pct(change.change)} %{what}, {change.ci_level * 100:.0f} % CI {interval}"


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "+inf" if x > 0 else "-inf"
    return f"{x * 100:+.0f}"


def short_text(change: Change) -> str:
    """`abc1234 +18 %`: a chart's label of the change."""
    return f"{change.commit} {_pct(change.change)} %"


def _special() -> ModuleType:
    """scipy.special, imported when a t-test runs (~0.25 s, paid by every `castiel check`
    that imports this module otherwise, most of which test nothing)."""
    from scipy import special  # noqa: PLC0415 - see above

    return special

"""The budget evaluator: a pure function of (budgets, series, run metadata[, baselines]) ->
verdicts. No I/O, no clock (pass `now` for a live run), no globals; the CLI and the live
monitor load data and hand it in.

Per budget: select series, split them into groups (`group_by`), align each group on one time
axis after the ramp-up, reduce over the scope's windows, compare with the thresholds, then
(optionally) with the baseline. Missing data always yields an explicit verdict by policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from budgets import windows as win
from budgets.baseline import ComparedRun, Sample, compare, correct
from budgets.evidence import check_counter, check_ratio
from budgets.model import (
    THRESHOLD_LEVELS,
    BaselineRef,
    BaselineSpec,
    Budget,
    Condition,
    Level,
)
from budgets.timeline import BOOL, F64, MixedKinds, RowsCache, Timeline, TimelineCache
from budgets.units import Unit, unit_of
from budgets.verdict import BaselineComparison, Verdict, Window
from collectors.model import MetricKind, RunInfo, SeriesData, SeriesKey

GroupKey = tuple[tuple[str, str], ...]
ValueFn = Callable[[win.Windows], tuple[F64, F64]]
"""A group's (values, samples) per window."""
TRACE_POINTS = 240
"""Points of a verdict's chart trace at most (each block's worst value is kept)."""


@dataclass(frozen=True)
class BaselineRun:
    """A baseline handed to the evaluator: `label` says which one for people; `run` is None
    when none was found (the label then says what was looked for)."""

    label: str
    run: RunInfo | None = None
    series: Sequence[SeriesData] = ()


def evaluate(
    budgets: Sequence[Budget],
    series: Sequence[SeriesData],
    run: RunInfo,
    baselines: Mapping[str, BaselineRun] | None = None,
    *,
    now: float | None = None,
) -> list[Verdict]:
    """One verdict per budget and group, in budget order then group order. The baseline
    comparisons of the run are corrected together (Benjamini-Hochberg) before any verdict
    is decided."""
    data = _RunData(run, now, TimelineCache(RowsCache()))
    base_data: dict[str, _RunData] = {}
    for key, br in (baselines or {}).items():
        if br.run is not None:
            base_data[key] = _RunData(br.run, None, TimelineCache(RowsCache()))
    results: dict[tuple[int, int], Verdict | _Outcome] = {}
    tasks: list[_Task] = []
    for bi, budget in enumerate(budgets):
        if budget.run_scenario is not None and budget.run_scenario != run.scenario:
            results[(bi, 0)] = _not_applicable(budget, run)
            continue
        tasks.extend(_plan(bi, budget, series, baselines or {}, base_data, results))
    # Visit groups series by series so their timelines are built once and shared.
    tasks.sort(key=lambda t: t.order)
    for task in tasks:
        results[(task.budget_index, task.group_index)] = _run_task(task, data)
    _correct_baselines([r for r in results.values() if isinstance(r, _Outcome)])
    return [_finish(results[k], data) for k in sorted(results)]


def baseline_key(spec: BaselineSpec) -> str:
    """The key under which the caller passes the baseline a budget asks for."""
    if spec.ref is BaselineRef.NAMED:
        return f"named:{spec.name}"
    return "last_passing"


def budget_unit(budget: Budget) -> Unit:
    """The unit of the budget's values (its aggregation's, or its metric's)."""
    return unit_of(budget.selector.name.pattern, budget.aggregation)


# --- planning: which groups each budget judges, in which runs ----------------------------------


@dataclass
class _RunData:
    """One run being evaluated (the current one, or a baseline): its times and the
    timelines built from its series, shared by every budget that reads them."""

    info: RunInfo
    now: float | None
    """Live: the evaluation's time (the run has not ended)."""
    cache: TimelineCache

    def range(self, budget: Budget) -> tuple[float, float]:
        """The part of the run `budget` judges: after its ramp-up, until the end (or now)."""
        t0 = self.info.started_at + budget.ramp_up
        if budget.ramp_up_phase is not None:
            phase = self.info.phases.get(budget.ramp_up_phase)
            if phase is not None:
                t0 = phase + budget.ramp_up
            elif self.info.ended_at is None:
                # Live, and the phase has not come yet: everything so far is ramp-up.
                t0 = self.now if self.now is not None else math.inf
        if self.info.ended_at is not None:
            return t0, self.info.ended_at
        return t0, self.now if self.now is not None else math.inf


@dataclass(frozen=True)
class _Task:
    budget_index: int
    group_index: int
    budget: Budget
    group: GroupKey
    num: list[SeriesData]
    den: list[SeriesData]
    baseline: BaselineRun | None
    baseline_data: _RunData | None
    baseline_group: tuple[list[SeriesData], list[SeriesData]] | None

    @property
    def order(self) -> tuple[tuple[SeriesKey, ...], tuple[SeriesKey, ...], int, int]:
        return (
            tuple(s.key for s in self.num),
            tuple(s.key for s in self.den),
            self.budget_index,
            self.group_index,
        )


def _plan(
    bi: int,
    budget: Budget,
    series: Sequence[SeriesData],
    baselines: Mapping[str, BaselineRun],
    base_data: Mapping[str, _RunData],
    results: dict[tuple[int, int], Verdict | _Outcome],
) -> list[_Task]:
    groups = _groups(budget, series)
    if not groups:
        what = f"no series match {budget.selector}"
        if budget.promql is not None:
            what = (
                f"no data for the PromQL expression {budget.promql.expr!r} (series "
                f"{budget.promql.series}): it is collected only from a Prometheus source "
                "(sources.prometheus in castiel.yaml)"
            )
        if budget.denominator:
            what = f"no series match the denominator {', '.join(map(str, budget.denominator))}"
        results[(bi, 0)] = _verdict(budget, (), _Measure(None, 0, None, missing=what), 0, None)
        return []
    base_groups: dict[GroupKey, tuple[list[SeriesData], list[SeriesData]]] = {}
    br: BaselineRun | None = None
    bdata: _RunData | None = None
    if budget.baseline is not None:
        bkey = baseline_key(budget.baseline)
        br = baselines.get(bkey)
        bdata = base_data.get(bkey)
        if br is not None and br.run is not None:
            base_groups = _groups(budget, br.series)
    return [
        _Task(bi, gi, budget, gk, *groups[gk], br, bdata, base_groups.get(gk))
        for gi, gk in enumerate(sorted(groups))
    ]


def _groups(
    budget: Budget, series: Sequence[SeriesData]
) -> dict[GroupKey, tuple[list[SeriesData], list[SeriesData]]]:
    groups: dict[GroupKey, tuple[list[SeriesData], list[SeriesData]]] = {}

    def key(s: SeriesData) -> GroupKey:
        return tuple((label, s.key.label(label)) for label in budget.group_by)

    for s in series:
        if budget.selector.matches(s.key):
            groups.setdefault(key(s), ([], []))[0].append(s)
        if budget.denominator and any(d.matches(s.key) for d in budget.denominator):
            groups.setdefault(key(s), ([], []))[1].append(s)
    if budget.aggregation.kind.denominator:
        # A group exists when its denominator has data: no error series simply means 0 errors.
        groups = {k: v for k, v in groups.items() if v[1]}
    return groups


def _run_task(task: _Task, data: _RunData) -> Verdict | _Outcome:
    budget = task.budget
    for s in (*task.num, *task.den):
        if s.kind is MetricKind.COUNTER:
            rows = data.cache.rows.scalar(s)
            check_counter(budget.name, s, rows.ts, rows.values)
    try:
        measure = _measure(budget, task.num, task.den, data)
        if budget.aggregation.kind.denominator and measure.observed is not None:
            denominator = ", ".join(map(str, budget.denominator))
            check_ratio(budget.name, measure.observed, str(budget.selector), denominator)
        comparison = None
        if budget.baseline is not None and measure.missing is None:
            comparison = _baseline(budget, budget.baseline, task, data)
    except (win.Undefined, MixedKinds) as exc:
        return _error_verdict(budget, task.group, str(exc), len(task.num))
    return _Outcome(task, measure, comparison)


@dataclass
class _Outcome:
    """A measured group, waiting for the run's baseline comparisons to be corrected."""

    task: _Task
    measure: _Measure
    comparison: BaselineComparison | None


def _correct_baselines(outcomes: list[_Outcome]) -> None:
    compared = [o for o in outcomes if o.comparison is not None]
    corrected = correct(
        [o.comparison for o in compared if o.comparison is not None],
        [o.task.budget.baseline for o in compared if o.task.budget.baseline is not None],
    )
    for o, c in zip(compared, corrected, strict=True):
        o.comparison = c


def _finish(result: Verdict | _Outcome, data: _RunData) -> Verdict:
    if isinstance(result, Verdict):
        return result
    t = result.task
    return _verdict(t.budget, t.group, result.measure, len(t.num), result.comparison, data)


# --- measuring: a group's value over the budget's scope -----------------------------------------


@dataclass(frozen=True)
class _Measure:
    observed: float | None
    samples: int
    window: Window | None
    worst: Window | None = None
    trace: tuple[tuple[float, float], ...] = ()
    note: str = ""
    missing: str | None = None
    """Why there is no value (None when there is one)."""


def _value_fn(
    budget: Budget,
    num: Sequence[SeriesData],
    den: Sequence[SeriesData],
    data: _RunData,
    t0: float,
    t1: float,
) -> tuple[Timeline, ValueFn]:
    if budget.aggregation.kind.denominator:
        both = [*num, *den]
        ntl = data.cache.get(num, t0, t1, axis_series=both)
        dtl = data.cache.get(den, t0, t1, axis_series=both)
        return dtl, lambda w: win.ratio(ntl, dtl, w)
    tl = data.cache.get(num, t0, t1)
    agg = budget.aggregation
    return tl, lambda w: win.reduce(agg, tl, w)


def _measure(
    budget: Budget, num: Sequence[SeriesData], den: Sequence[SeriesData], data: _RunData
) -> _Measure:
    """The group's value over the budget's scope: the whole run, its worst window, or its
    worst stretch held for `for`."""
    t0, t1 = data.range(budget)
    tl, fn = _value_fn(budget, num, den, data, t0, t1)
    if len(tl) == 0:
        after = f" after the {budget.ramp_up:g}s ramp-up" if budget.ramp_up else ""
        return _Measure(None, 0, None, missing=f"no data points in the run{after}")
    end = t1 if math.isfinite(t1) else float(tl.ts[-1])
    if budget.scope.kind == "run":
        return _whole_run(budget, tl, fn, t0, end)
    return _windowed(budget, tl, fn, t0, end)


def _whole_run(budget: Budget, tl: Timeline, fn: ValueFn, t0: float, end: float) -> _Measure:
    vals, samp = fn(win.whole(tl, t0, end))
    trace, worst = _run_trace(tl, fn, t0, end, budget.higher_is_worse)
    samples = int(samp[0])
    if not (samples >= budget.min_samples and math.isfinite(vals[0])):
        missing = _too_few(samples, budget.min_samples)
        return _Measure(None, samples, Window(t0, end), trace=trace, missing=missing)
    return _Measure(float(vals[0]), samples, Window(t0, end), worst, trace)


def _windowed(budget: Budget, tl: Timeline, fn: ValueFn, t0: float, end: float) -> _Measure:
    """Sliding windows of the scope's `window` (one collection interval for a bare `for`).
    A run shorter than one window is judged whole, with a note (a sustained scope cannot)."""
    span, worse, need, scope = (
        Window(t0, end),
        budget.higher_is_worse,
        budget.min_samples,
        budget.scope,
    )
    length = scope.window if scope.window is not None else tl.step
    ws = win.sliding(tl, length)
    note = ""
    if len(ws) == 0:
        if scope.kind == "sustained":
            return _Measure(None, 0, span, missing=f"the run is shorter than {scope}")
        ws = win.whole(tl, t0, end)
        note = f"the run is shorter than the {scope}; evaluated the whole run"
    vals, samp = fn(ws)
    valid = (samp >= need) & np.isfinite(vals)
    trace = _downsample(ws.end, np.where(valid, vals, np.nan), worse)
    if not valid.any():
        best = int(samp.max()) if samp.size else 0
        missing = f"no window of {length:g}s had enough data ({_too_few(best, need)})"
        return _Measure(None, best, span, trace=trace, missing=missing)
    if scope.kind == "sustained":
        return _sustained(budget, tl, fn, ws, vals, valid, span, trace)
    i = _worst_valid(vals, valid, worse)
    worst = Window(float(ws.start[i]), float(ws.end[i]))
    return _Measure(float(vals[i]), int(samp[i]), span, worst, trace, note)


def _sustained(
    budget: Budget,
    tl: Timeline,
    fn: ValueFn,
    ws: win.Windows,
    vals: F64,
    valid: BOOL,
    span: Window,
    trace: tuple[tuple[float, float], ...],
) -> _Measure:
    """The worst value that held for `for` without a break: for a ceiling, the maximum over
    time of the minimum over the trailing `for` (a floor mirrors it). Windows without enough
    data break a stretch: a sustained breach must be proven by data."""
    assert budget.scope.sustained is not None
    hold = budget.scope.sustained
    worse = budget.higher_is_worse
    g = np.where(valid, vals if worse else -vals, -np.inf)
    we = ws.end
    complete = we - hold >= we[0] - tl.step - win.EPS
    idx = np.nonzero(complete)[0]
    if idx.size == 0:
        return _Measure(
            None, 0, span, trace=trace, missing=f"the run is shorter than {budget.scope}"
        )
    j = np.searchsorted(we, we[idx] - hold + win.EPS, side="left").astype(np.int64)
    held = win.range_reduce(g, j, idx + 1, np.minimum, np.inf)
    k = int(np.argmax(held))
    if not math.isfinite(held[k]):
        return _Measure(
            None,
            0,
            span,
            trace=trace,
            missing=f"no {budget.scope} stretch had enough data in every window",
        )
    end_t = float(we[idx[k]])
    stretch = Window(end_t - hold, end_t)
    rows = win.Windows(
        np.array([np.searchsorted(tl.ts, end_t - hold + win.EPS)], np.int64),
        np.array([np.searchsorted(tl.ts, end_t + win.EPS)], np.int64),
        np.array([end_t - hold]),
        np.array([end_t]),
    )
    _, samp = fn(rows)
    observed = float(held[k]) if worse else -float(held[k])
    return _Measure(observed, int(samp[0]), span, stretch, trace)


def _worst_valid(vals: F64, valid: BOOL, worse: bool) -> int:
    masked = np.where(valid, vals if worse else -vals, -np.inf)
    return int(np.argmax(masked))


def _too_few(samples: int, need: int) -> str:
    return f"{samples} samples, min_samples is {need}"


def _run_trace(
    tl: Timeline,
    fn: ValueFn,
    t0: float,
    end: float,
    worse: bool,
) -> tuple[tuple[tuple[float, float], ...], Window | None]:
    chunk = max(tl.step, (end - t0) / 120.0)
    ws = win.tumbling(tl, chunk, t0)
    vals, samp = fn(ws)
    ok = (samp > 0) & np.isfinite(vals)
    trace = tuple((float(t), float(v)) for t, v, good in zip(ws.end, vals, ok, strict=True) if good)
    if not ok.any():
        return trace, None
    i = _worst_valid(vals, ok, worse)
    return trace, Window(float(ws.start[i]), float(ws.end[i]))


def _downsample(t: F64, v: F64, worse: bool) -> tuple[tuple[float, float], ...]:
    """At most TRACE_POINTS points, keeping each block's worst value so peaks stay visible."""
    n = t.size
    if n == 0:
        return ()
    block = max(1, math.ceil(n / TRACE_POINTS))
    rows = math.ceil(n / block)
    padded = np.full(rows * block, np.nan)
    padded[:n] = v if worse else -v
    grid = padded.reshape(rows, block)
    filled = np.where(np.isnan(grid), -np.inf, grid)
    pick = np.argmax(filled, axis=1)
    keep = np.isfinite(filled[np.arange(rows), pick])
    idx = np.arange(rows)[keep] * block + pick[keep]
    return tuple(zip(t[idx].tolist(), v[idx].tolist(), strict=True))


# --- comparing with the baseline run -------------------------------------------------------------


def _baseline(
    budget: Budget, spec: BaselineSpec, task: _Task, data: _RunData
) -> BaselineComparison:
    br, bdata, base_group = task.baseline, task.baseline_data, task.baseline_group
    t0, t1 = data.range(budget)
    chunk = spec.chunk_for(_span(t0, t1, task.num, task.den))
    current = _sample(budget, chunk, task.num, task.den, data)
    label = br.label if br is not None else "no baseline was loaded"
    run_id = br.run.id if br is not None and br.run is not None else None
    baseline = None
    if run_id is not None and bdata is not None and base_group is not None:
        baseline = _sample(budget, chunk, base_group[0], base_group[1], bdata)
    elif run_id is not None:
        baseline = Sample(None, np.zeros(0))
    return compare(
        current,
        baseline,
        spec,
        higher_is_worse=budget.higher_is_worse,
        ref=ComparedRun(label, run_id),
    )


def _span(t0: float, t1: float, num: Sequence[SeriesData], den: Sequence[SeriesData]) -> float:
    if math.isfinite(t1):
        return t1 - t0
    last = max((s.points[-1].timestamp for s in (*num, *den) if s.points), default=t0)
    last_h = max((s.histograms[-1].end for s in (*num, *den) if s.histograms), default=t0)
    return max(last, last_h) - t0


def _sample(
    budget: Budget,
    chunk: float,
    num: Sequence[SeriesData],
    den: Sequence[SeriesData],
    data: _RunData,
) -> Sample:
    """The whole-run value and the per-chunk values of one side of a comparison."""
    t0, t1 = data.range(budget)
    tl, fn = _value_fn(budget, num, den, data, t0, t1)
    if len(tl) == 0:
        return Sample(None, np.zeros(0))
    end = t1 if math.isfinite(t1) else float(tl.ts[-1])
    vals, samp = fn(win.whole(tl, t0, end))
    value = float(vals[0]) if samp[0] >= budget.min_samples and math.isfinite(vals[0]) else None
    cv, cs = fn(win.tumbling(tl, chunk, t0))
    chunks: F64 = cv[(cs > 0) & np.isfinite(cv)]
    return Sample(value, chunks)


# --- verdicts ------------------------------------------------------------------------------------


def _status(budget: Budget, observed: float) -> tuple[Level, tuple[Level, Condition] | None]:
    for level in reversed(THRESHOLD_LEVELS):
        cond = budget.condition(level)
        if cond is not None and not cond.holds(observed):
            return level, (level, cond)
    return Level.PASS, None


def _verdict(
    budget: Budget,
    group: GroupKey,
    m: _Measure,
    nseries: int,
    baseline: BaselineComparison | None,
    data: _RunData | None = None,
) -> Verdict:
    """The verdict on one group: the thresholds' level (held below abort while `abort_after`
    runs), raised by the baseline comparison's; missing data decides by `on_missing`."""
    measured = replace(
        _about(budget, Level.PASS),
        sample_count=m.samples,
        window=m.window,
        group=group,
        series=nseries,
        trace=m.trace,
    )
    if m.missing is not None or m.observed is None:
        policy = budget.on_missing
        return replace(
            measured,
            status=policy.level,
            missing=True,
            message=f"missing data: {m.missing}; on_missing: {policy.value}",
        )
    status, breached = _status(budget, m.observed)
    messages = [m.note] if m.note else []
    if status is Level.ABORT and data is not None and _abort_held(budget, data):
        status = Level.FAIL
        messages.append(f"abort held until {budget.abort_after:g}s into the run (abort_after)")
    if baseline is not None:
        messages.append(f"baseline {baseline.outcome.value}: {baseline.reason}")
        status = max(status, baseline.level)
    return replace(
        measured,
        status=status,
        observed=m.observed,
        breached=breached,
        worst=m.worst,
        message="; ".join(messages),
        baseline=baseline,
    )


def _about(budget: Budget, status: Level) -> Verdict:
    """A verdict saying what every verdict says about its budget; the callers add the rest."""
    return Verdict(
        budget=budget.name,
        status=status,
        aggregation=str(budget.aggregation),
        observed=None,
        thresholds=budget.thresholds,
        sample_count=0,
        window=None,
        scope=str(budget.scope),
        description=budget.description,
        metric=str(budget.selector),
        unit=budget_unit(budget),
    )


def _abort_held(budget: Budget, data: _RunData) -> bool:
    """Live and younger than `abort_after`: the abort level does not stop the run yet."""
    if budget.abort_after is None or data.info.ended_at is not None or data.now is None:
        return False
    return data.now - data.info.started_at < budget.abort_after


def _not_applicable(budget: Budget, run: RunInfo) -> Verdict:
    """A budget for another scenario (k6's `{scenario:...}`): an explicit pass that says why."""
    return replace(
        _about(budget, Level.PASS),
        missing=True,
        message=f"not applicable: this budget is for scenario {budget.run_scenario!r}, "
        f"the run's scenario is {run.scenario or '(none)'!r}",
    )


def _error_verdict(budget: Budget, group: GroupKey, message: str, nseries: int) -> Verdict:
    return replace(
        _about(budget, Level.FAIL),
        group=group,
        message=f"cannot evaluate: {message}",
        series=nseries,
    )

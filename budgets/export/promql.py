"""Budgets as PromQL: label matchers, the value a budget's aggregation takes over a window,
how many samples back it, and the share of bad events that burn-rate alerts watch. Pure:
every builder returns an expression or raises `Unexpressible` saying why not.

Semantics follow the evaluator (budgets/windows.py): series of a group add up (`sum by`),
histograms count observations, ratios divide summed rates (a group without numerator
series has a ratio of 0, one without denominator series has none)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from budgets.aggregations import AGGREGATIONS, PERCENTILE
from budgets.export.catalogue import Catalogue, MetricInfo
from budgets.model import Budget, Condition, Level, PromQLKind
from budgets.selectors import Matcher, MatchKind, Selector
from collectors.model import MetricKind
from collectors.promql import DEFAULT_WITHOUT, MAX_GAUGES, promql_duration, substitute_interval


class Unexpressible(ValueError):
    """This budget (or this part of it) has no PromQL equivalent; the message says why."""


def string(value: str) -> str:
    """A PromQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def glob_regex(pattern: str) -> str:
    """An RE2 regex (PromQL's dialect, anchored by PromQL) matching what the glob matches."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def matcher(label: str, m: Matcher) -> str:
    if m.kind is MatchKind.EXACT:
        return f"{label}{'!=' if m.negate else '='}{string(m.pattern)}"
    pattern = glob_regex(m.pattern) if m.kind is MatchKind.GLOB else m.pattern
    return f"{label}{'!~' if m.negate else '=~'}{string(pattern)}"


def metric_name(selector: Selector) -> str:
    if selector.name.kind is not MatchKind.EXACT or selector.name.negate:
        raise Unexpressible(
            f"the metric name {selector.name.pattern!r} is a pattern; name one metric per "
            "budget for Prometheus"
        )
    return selector.name.pattern


def vector(selector: Selector, suffix: str = "", extra: str = "") -> str:
    body = ",".join([*(matcher(k, m) for k, m in selector.labels), *([extra] if extra else [])])
    name = metric_name(selector) + suffix
    return f"{name}{{{body}}}" if body else name


def by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def number(value: float) -> str:
    """A PromQL number, rounded to 12 significant digits so 99.9 / 100 reads 0.999."""
    return f"{float(value):.12g}"


def info_of(catalogue: Catalogue, selector: Selector) -> MetricInfo:
    found = catalogue.lookup(metric_name(selector)).info
    if found.unavailable:
        raise Unexpressible(f"{found.name} is {found.unavailable}")
    return found


# --- the value of a budget over a window -------------------------------------------------------


def value(budget: Budget, window: float, catalogue: Catalogue) -> str:
    """The budget's aggregation over the trailing `window`, one series per group."""
    if budget.promql is not None:
        return _promql_value(budget, window)
    if budget.aggregation.kind.denominator:
        return ratio(budget, window, catalogue)
    info = info_of(catalogue, budget.selector)
    if info.kind is MetricKind.HISTOGRAM:
        return _histogram_value(budget, window)
    if info.kind is MetricKind.COUNTER:
        return _counter_value(budget, window)
    return _gauge_value(budget, _gauge_inner(budget, info), window)


def _fill(budget: Budget, form: str, window: float, **parts: str) -> str:
    """An aggregation's PromQL form (budgets.aggregations.PromQL) for this budget."""
    agg, g = budget.aggregation, budget.group_by
    return form.format(
        by=by(g),
        by_le=by(("le", *g)),
        w=promql_duration(window),
        seconds=number(window),
        q=number(agg.q / 100) if agg.q is not None else "",
        **parts,
    )


def _histogram_value(budget: Budget, window: float) -> str:
    agg, sel = budget.aggregation, budget.selector
    form = agg.kind.promql.histogram
    if form is None:
        why = agg.kind.promql.not_histogram or "{agg} is not defined for a histogram"
        raise Unexpressible(why.format(agg=agg))
    parts = {s: vector(sel, f"_{s}") for s in ("bucket", "sum", "count")}
    return _fill(budget, form, window, **parts)


def _counter_value(budget: Budget, window: float) -> str:
    agg = budget.aggregation
    form = agg.kind.promql.counter
    if form is None:
        can = _listing([k.name for k in AGGREGATIONS if k.promql.counter is not None])
        raise Unexpressible(
            f"{agg} of a counter is taken over Castiel's per-interval increments, which depend "
            f"on its collection interval; {can} are expressible"
        )
    return _fill(budget, form, window, series=vector(budget.selector))


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _gauge_inner(budget: Budget, info: MetricInfo) -> str:
    reading = vector(budget.selector)
    if info.name in MAX_GAUGES:
        # Every instance reports the same reading (read from Redis): one of them, not the sum.
        reading = f"max without ({', '.join(DEFAULT_WITHOUT)}) ({reading})"
    return f"sum{by(budget.group_by)} ({reading})"


def _gauge_value(budget: Budget, inner: str, window: float) -> str:
    agg = budget.aggregation
    form = agg.kind.promql.gauge
    if form is None:
        raise Unexpressible(f"{agg} is not defined for a gauge (readings, not events)")
    return _fill(budget, form, window, inner=inner)


def _promql_value(budget: Budget, window: float) -> str:
    assert budget.promql is not None
    expr, kind, agg = budget.promql.expr, budget.promql.kind, budget.aggregation
    if kind is PromQLKind.GAUGE:
        return _gauge_value(budget, f"sum{by(budget.group_by)} ({expr})", window)
    forms = agg.kind.promql
    form = forms.counter_expression if kind is PromQLKind.COUNTER else forms.histogram_expression
    if form is None:
        raise Unexpressible(
            f"{agg} of a {kind.value} PromQL expression is taken over Castiel's collection "
            "intervals; the PromQL equivalent is not defined"
        )
    return _fill(budget, form, window, over=substitute_interval(expr, window))


# --- ratios ------------------------------------------------------------------------------------


def _events(sel: Selector, window: float, catalogue: Catalogue) -> str:
    """Events per second of one selector: a counter's rate, a histogram's observations."""
    info = info_of(catalogue, sel)
    w = promql_duration(window)
    if info.kind is MetricKind.COUNTER:
        return f"rate({vector(sel)}[{w}])"
    if info.kind is MetricKind.HISTOGRAM:
        return f"rate({vector(sel, '_count')}[{w}])"
    raise Unexpressible(f"a ratio of gauges ({info.name}) is not a share of events")


def events_sum(
    selectors: Sequence[Selector], window: float, catalogue: Catalogue, group: Sequence[str]
) -> str:
    """Summed events of several selectors per group. Each term is tagged with a label of its
    own first, so `or` keeps series of different metrics that share their labels."""
    terms = [_events(s, window, catalogue) for s in selectors]
    if len(terms) == 1:
        return f"sum{by(group)} ({terms[0]})"
    tagged = " or ".join(
        f'label_replace({t}, "castiel_term", "{i}", "", "")' for i, t in enumerate(terms)
    )
    return f"sum{by(group)} ({tagged})"


def ratio(budget: Budget, window: float, catalogue: Catalogue) -> str:
    num = events_sum((budget.selector,), window, catalogue, budget.group_by)
    den = events_sum(budget.denominator, window, catalogue, budget.group_by)
    # A group without numerator events has a ratio of 0, as in the evaluator.
    return f"({num} or {den} * 0) / {den}"


# --- samples, for min_samples ------------------------------------------------------------------


def samples(budget: Budget, window: float, catalogue: Catalogue) -> str | None:
    """What the evaluator counts as samples, where Prometheus has it: observations of a
    histogram, the denominator's events of a ratio. None elsewhere (readings and
    per-interval increments depend on Castiel's collection interval)."""
    if budget.promql is not None:
        return None
    g, w = budget.group_by, window
    if budget.aggregation.kind.denominator:
        return f"{events_sum(budget.denominator, w, catalogue, g)} * {number(w)}"
    if info_of(catalogue, budget.selector).kind is MetricKind.HISTOGRAM:
        return f"sum{by(g)} (increase({vector(budget.selector, '_count')}[{promql_duration(w)}]))"
    return None


# --- burn rates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """A budget read as an SLO: the share of bad events it allows (`error_budget`), and how
    to compute the bad share over any window."""

    error_budget: float
    what: str
    """What counts as bad, for people: "5xx responses", "requests slower than 250ms"."""
    budget: Budget
    le: float | None = None
    """For latency objectives: the bucket boundary that separates good from bad."""

    def bad_share(self, window: float, catalogue: Catalogue) -> str:
        b = self.budget
        if self.le is None:
            share = ratio(b, window, catalogue)
            return share if b.higher_is_worse else f"1 - ({share})"
        w, g = promql_duration(window), b.group_by
        good = f"sum{by(g)} (rate({vector(b.selector, '_bucket', _le_matcher(self.le))}[{w}]))"
        every = f"sum{by(g)} (rate({vector(b.selector, '_count')}[{w}]))"
        return f"1 - ({good} / {every})"


def _le_matcher(le: float) -> str:
    # Client libraries spell bucket bounds differently (Python 1.0, Go 1): accept both.
    spellings = sorted({str(floatToGoString(le)), f"{le:g}"})  # type: ignore[no-untyped-call]
    return f"le=~{string('|'.join(re.escape(s) for s in spellings))}"


def slo_condition(budget: Budget) -> tuple[Level, Condition] | None:
    for level in (Level.FAIL, Level.WARN):
        cond = budget.condition(level)
        if cond is not None:
            return level, cond
    return None


def objective(budget: Budget, catalogue: Catalogue) -> Objective:
    """The budget as an SLO for burn-rate alerts, or Unexpressible saying why it is not one.
    Ratio budgets are (bad share = the ratio, or 1 - the ratio for a floor such as a hit
    ratio); so are percentile budgets on a histogram whose threshold is a bucket boundary:
    `p95 < T` allows 5 % of observations above T."""
    found = slo_condition(budget)
    agg = budget.aggregation
    if found is None:
        raise Unexpressible("no warn or fail threshold to derive an error budget from")
    _, cond = found
    if budget.promql is not None:
        raise Unexpressible("a PromQL-expression budget has no events to count")
    if agg.kind.denominator:
        allowed = cond.value if cond.higher_is_worse else 1.0 - cond.value
        if not 0.0 < allowed < 1.0:
            raise Unexpressible(f"a ratio threshold {cond} leaves no error budget in (0, 1)")
        dens = " + ".join(map(str, budget.denominator))
        what = (
            f"{budget.selector} among {dens}"
            if cond.higher_is_worse
            else f"{dens} not counted by {budget.selector}"
        )
        return Objective(allowed, what, budget)
    if agg.kind is not PERCENTILE:
        raise Unexpressible(f"{agg} is not a share of events (ratio and percentile budgets are)")
    assert agg.q is not None
    info = info_of(catalogue, budget.selector)
    if info.kind is not MetricKind.HISTOGRAM:
        raise Unexpressible(f"{info.name} is not a histogram, so there are no events to count")
    if not cond.higher_is_worse or agg.q >= 100:
        raise Unexpressible(f"{agg} {cond} does not bound a share of slow events")
    if not info.buckets:
        raise Unexpressible(
            f"the bucket boundaries of {info.name} are unknown (give them in castiel.yaml "
            "oncall.metrics)"
        )
    le = next((b for b in info.buckets if math.isclose(b, cond.value, rel_tol=1e-9)), None)
    if le is None:
        shown = ", ".join(f"{b:g}" for b in info.buckets)
        raise Unexpressible(
            f"{cond.value:g} is not a bucket boundary of {info.name} ({shown}), so the share "
            "of slower observations cannot be counted"
        )
    return Objective(1.0 - agg.q / 100.0, f"observations above {cond.value:g}", budget, le)

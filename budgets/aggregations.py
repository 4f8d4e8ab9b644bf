"""Budget aggregations: one `AggKind` object per aggregation, listed once in `AGGREGATIONS`.

Each says how it is written (the budget grammar, the JSON Schema's pattern, the error
message's list), its unit, what it computes over the windows of each kind of series (the
evaluator, budgets/windows.py), and how `castiel budgets export prometheus` and `... azure`
write it, or that they cannot. Nothing else lists aggregations, so a new one is one object
here and one line in `AGGREGATIONS` (docs/development.md); tests/budgets/test_aggregations.py
checks that every registered one is complete.

| aggregation | histogram              | counter (increments)          | gauge (readings)        |
|-------------|------------------------|-------------------------------|-------------------------|
| pNN         | merged histogram       | over per-interval increments  | over readings           |
| avg         | sum / observations     | mean increment per interval   | mean reading            |
| min, max    | smallest/largest value | smallest/largest increment    | lowest/highest reading  |
| rate        | observations / second  | increase / second             | undefined               |
| count       | observations           | total increase                | number of readings      |
| sum         | sum of values          | total increase                | sum of readings         |
| last        | undefined              | last increment                | last reading            |
| ratio       | numerator / denominator, each summed (histograms: observations)       |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from budgets.timeline import F64
from budgets.units import Unit
from budgets.windows import HistogramWindows, ScalarWindows, Undefined
from collectors.model import MetricKind

HistogramValue = Callable[[HistogramWindows, float | None], F64]
ScalarValue = Callable[[ScalarWindows, float | None], F64]
"""What an aggregation computes per window; the float is its parameter (p95's 95), if any."""


@dataclass(frozen=True)
class Parameter:
    """A number written into an aggregation's name (p95's 95)."""

    pattern: re.Pattern[str]
    """Matches a lower-cased spelling; group 1 is the number."""
    schema: str
    """Every spelling, as a JSON Schema (ECMA-262) regex without anchors."""
    words: Mapping[str, float]
    """Spellings without a number (`med` = 50)."""
    check: Callable[[float], None]
    """Raises ValueError for a number out of range."""
    show: Callable[[float], str]
    listed_as: str
    """How the error message for an unknown aggregation lists it (`p50..p99.9`)."""
    hint: str
    """The message when the aggregation's bare name is written without its number."""
    examples: tuple[str, ...]
    """Spellings that must mean it (the docs' and the completeness test's)."""


@dataclass(frozen=True)
class PromQL:
    """How budgets/export/promql.py writes the aggregation over a trailing window, per kind
    of series; None where PromQL cannot express it (the exporter says why). Placeholders:
    `{by}` ` by (group labels)` or nothing, `{by_le}` the same with `le`, `{w}` the window as a
    PromQL range, `{seconds}` as a number, `{q}` the parameter as a quantile (0.95),
    `{series}` `{bucket}` `{sum}` `{count}` the selector (with a histogram's suffix),
    `{inner}` a gauge's summed readings, `{over}` a PromQL expression over the window."""

    histogram: str | None = None
    counter: str | None = None
    gauge: str | None = None
    counter_expression: str | None = None
    histogram_expression: str | None = None
    not_histogram: str = ""
    """Why there is no histogram form, when the generic reason would mislead (`{agg}` is
    replaced by the aggregation)."""


@dataclass(frozen=True)
class Azure:
    """The KQL `summarize` value in budgets/export/azure.py, over Application Insights rows
    (`d` a duration, `w` how many events a row stands for); None where there is none.
    Placeholders: `{percentile}` the KQL percentile of `d`, `{window}` the window in seconds."""

    durations: str | None = None
    """Over a family of durations (requests, dependencies)."""
    events: str | None = None
    """Over a family of events without durations (exceptions)."""


@dataclass(frozen=True, eq=False)
class AggKind:
    """One aggregation. Compared by identity: `budget.aggregation.kind is RATE`."""

    name: str
    """As written in budget files and shown in verdicts (`avg`)."""
    unit: Unit | None
    """Its unit, or None for the metric's own (seconds for a `_seconds` metric)."""
    histogram: HistogramValue | None
    """Its value over a histogram's windows; None: not defined for histograms."""
    scalar: ScalarValue | None
    """Over a counter's increments or a gauge's readings (`view.gauge` says which); None:
    not defined for them. May raise `Undefined` for one of the two."""
    promql: PromQL = field(default_factory=PromQL)
    azure: Azure = field(default_factory=Azure)
    zero_when_empty: frozenset[MetricKind] = frozenset()
    """Series kinds where a window without data reads 0 (nothing counted) instead of no value."""
    denominator: bool = False
    """It divides the selector's events by a denominator's (ratio): evaluated from two
    timelines, exported as a share of events, and a budget must name the denominator."""
    parameter: Parameter | None = None

    @property
    def schema(self) -> str:
        return self.parameter.schema if self.parameter else re.escape(self.name)

    @property
    def listed_as(self) -> str:
        return self.parameter.listed_as if self.parameter else self.name

    @property
    def examples(self) -> tuple[str, ...]:
        """Spellings that mean it (for the docs and the completeness test)."""
        return self.parameter.examples if self.parameter else (self.name,)

    def __repr__(self) -> str:
        return f"AggKind({self.name})"


@dataclass(frozen=True)
class Aggregation:
    kind: AggKind
    q: float | None = None
    """The parameter (a percentile's 0-100) when the kind has one."""

    @classmethod
    def parse(cls, text: str) -> Aggregation:
        """`p95`, `p99.9`, `p(95)`, `med` (= p50), `avg`, `min`, `max`, `rate`, `ratio`,
        `count`, `sum`, `last`: any registered aggregation. Raises ValueError."""
        t = text.strip().lower()
        for kind in AGGREGATIONS:
            p = kind.parameter
            if p is None:
                if t == kind.name:
                    return cls(kind)
                continue
            if t in p.words:
                return cls(kind, p.words[t])
            m = p.pattern.match(t)
            if m:
                q = float(m.group(1))
                p.check(q)
                return cls(kind, q)
            if t == kind.name:
                raise ValueError(p.hint)
        listed = ", ".join(k.listed_as for k in AGGREGATIONS)
        raise ValueError(f"unknown aggregation {text!r} ({listed})")

    def __str__(self) -> str:
        if self.kind.parameter is not None:
            assert self.q is not None
            return self.kind.parameter.show(self.q)
        return self.kind.name


def schema_pattern() -> str:
    """Every registered aggregation's spellings, as budgets/schema.py's regex."""
    return "^(" + "|".join(k.schema for k in AGGREGATIONS) + ")$"


# --- the aggregations --------------------------------------------------------------------------

_EVERY_KIND = frozenset(MetricKind)


def _percentile_range(q: float) -> None:
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q:g} is outside [0, 100]")


def _histogram_percentile(v: HistogramWindows, q: float | None) -> F64:
    assert q is not None
    return v.percentile(q)


def _scalar_percentile(v: ScalarWindows, q: float | None) -> F64:
    assert q is not None
    return v.percentile(q)


PERCENTILE = AggKind(
    name="percentile",
    unit=None,
    histogram=_histogram_percentile,
    scalar=_scalar_percentile,
    promql=PromQL(
        histogram="histogram_quantile({q}, sum{by_le} (rate({bucket}[{w}])))",
        gauge="quantile_over_time({q}, ({inner})[{w}:])",
        histogram_expression="histogram_quantile({q}, sum{by_le} ({over}))",
    ),
    azure=Azure(durations="{percentile}"),
    parameter=Parameter(
        pattern=re.compile(r"^(?:p|p\()(\d+(?:\.\d+)?)\)?$"),
        schema=r"p\d+(\.\d+)?|p\(\d+(\.\d+)?\)|med|median",
        words={"med": 50.0, "median": 50.0},
        check=_percentile_range,
        show=lambda q: f"p{q:g}",
        listed_as="p50..p99.9",
        hint="write a percentile as p95 or p(95)",
        examples=("p95", "p99.9", "p(95)", "p(99.9)", "p0", "p100", "med", "median"),
    ),
)

AVG = AggKind(
    name="avg",
    unit=None,
    histogram=lambda v, _: v.total() / v.observations,
    scalar=lambda v, _: v.sums / v.rows,
    promql=PromQL(
        histogram="sum{by} (rate({sum}[{w}])) / sum{by} (rate({count}[{w}]))",
        gauge="avg_over_time(({inner})[{w}:])",
    ),
    azure=Azure(durations="sum(d * w) / sum(w)"),
)

_NO_EXTREMES = (
    "{agg} of a histogram: Prometheus keeps bucket counts, not the smallest or largest "
    "observation (a percentile such as p99 is expressible)"
)

MIN = AggKind(
    name="min",
    unit=None,
    histogram=lambda v, _: v.smallest(),
    scalar=lambda v, _: v.smallest(),
    promql=PromQL(gauge="min_over_time(({inner})[{w}:])", not_histogram=_NO_EXTREMES),
    azure=Azure(durations="min(d)"),
)

MAX = AggKind(
    name="max",
    unit=None,
    histogram=lambda v, _: v.largest(),
    scalar=lambda v, _: v.largest(),
    promql=PromQL(gauge="max_over_time(({inner})[{w}:])", not_histogram=_NO_EXTREMES),
    azure=Azure(durations="max(d)"),
)


def _scalar_rate(v: ScalarWindows, _: float | None) -> F64:
    if v.gauge:
        raise Undefined("rate is not defined for gauge series (readings, not events)")
    out: F64 = v.sums / v.seconds
    return out


RATE = AggKind(
    name="rate",
    unit=Unit.PER_SECOND,
    histogram=lambda v, _: v.observations / v.seconds,
    scalar=_scalar_rate,
    promql=PromQL(
        histogram="sum{by} (rate({count}[{w}]))",
        counter="sum{by} (rate({series}[{w}]))",
        counter_expression="sum{by} ({over}) / {seconds}",
    ),
    azure=Azure(
        durations="todouble(sum(w)) / {window}",
        events="todouble(sum(w)) / {window}",
    ),
    zero_when_empty=frozenset({MetricKind.HISTOGRAM}),
)

RATIO = AggKind(
    name="ratio",
    unit=Unit.FRACTION,
    histogram=None,
    scalar=None,
    denominator=True,
)

COUNT = AggKind(
    name="count",
    unit=Unit.NONE,
    histogram=lambda v, _: v.observations,
    scalar=lambda v, _: v.points if v.gauge else v.sums,
    promql=PromQL(
        histogram="sum{by} (increase({count}[{w}]))",
        counter="sum{by} (increase({series}[{w}]))",
        gauge="count_over_time(({inner})[{w}:])",
        counter_expression="sum{by} ({over})",
    ),
    azure=Azure(durations="todouble(sum(w))", events="todouble(sum(w))"),
    zero_when_empty=_EVERY_KIND,
)

SUM = AggKind(
    name="sum",
    unit=None,
    histogram=lambda v, _: v.total(),
    scalar=lambda v, _: v.sums,
    promql=PromQL(
        histogram="sum{by} (increase({sum}[{w}]))",
        counter="sum{by} (increase({series}[{w}]))",
        gauge="sum_over_time(({inner})[{w}:])",
        counter_expression="sum{by} ({over})",
    ),
    azure=Azure(durations="sum(d * w)", events="todouble(sum(w))"),
    zero_when_empty=_EVERY_KIND,
)

LAST = AggKind(
    name="last",
    unit=None,
    histogram=None,
    scalar=lambda v, _: v.last(),
    promql=PromQL(gauge="{inner}"),
)

AGGREGATIONS: tuple[AggKind, ...] = (PERCENTILE, AVG, MIN, MAX, RATE, RATIO, COUNT, SUM, LAST)
"""The registry, in the order messages and the schema list them."""

"""Synthetic series for evaluator tests (expectations are computed by hand in each test)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from budgets.model import Budget
from budgets.spec import parse_budgets
from collectors.model import (
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    RunInfo,
    SeriesData,
    SeriesKey,
)


def hist(
    name: str, per_second: Mapping[int, Sequence[float]], labels: Mapping[str, str] | None = None
) -> SeriesData:
    """Interval histograms: `per_second[t]` are the values observed in (t-1, t]."""
    points = tuple(
        HistogramPoint(float(t - 1), float(t), Histogram.of(vals))
        for t, vals in sorted(per_second.items())
    )
    return SeriesData(SeriesKey.of(name, labels), MetricKind.HISTOGRAM, histograms=points)


def counter(
    name: str, increments: Mapping[int, float], labels: Mapping[str, str] | None = None
) -> SeriesData:
    points = tuple(Point(float(t), float(v)) for t, v in sorted(increments.items()))
    return SeriesData(SeriesKey.of(name, labels), MetricKind.COUNTER, points=points)


def gauge(
    name: str, readings: Mapping[int, float], labels: Mapping[str, str] | None = None
) -> SeriesData:
    points = tuple(Point(float(t), float(v)) for t, v in sorted(readings.items()))
    return SeriesData(SeriesKey.of(name, labels), MetricKind.GAUGE, points=points)


def every(seconds: Iterable[int], values: Sequence[float]) -> dict[int, Sequence[float]]:
    return {t: values for t in seconds}


def budgets(yaml_text: str) -> tuple[Budget, ...]:
    return parse_budgets(yaml_text, "test.yaml").budgets


def one(yaml_body: str) -> Budget:
    """A single budget from the body of a `budgets:` list item (indented by 4)."""
    return budgets("budgets:\n  - name: b\n" + yaml_body)[0]


RUN = RunInfo("run-1", started_at=0.0, ended_at=100.0, scenario="peak", git_branch="main")

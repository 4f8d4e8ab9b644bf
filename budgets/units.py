"""The unit of a budget's value, and the one formatter of values for people.

A verdict carries its numbers in base units (seconds, fractions, per second) with a `Unit`;
only reports and pages turn them into text, through `format_quantity`. Nothing parses a number
back out of that text.

The unit follows from the aggregation (`AggKind.unit`: `ratio` is a fraction, `rate` is per
second, `count` a plain number) or, for the others, from the metric's name (Prometheus
convention: a `_seconds` metric is in seconds).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # budgets.aggregations names each aggregation's unit
    from budgets.aggregations import Aggregation


class Unit(StrEnum):
    SECONDS = "s"
    FRACTION = "ratio"
    PER_SECOND = "/s"
    NONE = ""


def metric_has_seconds(metric_name: str) -> bool:
    return metric_name.endswith("_seconds")


def unit_of(metric_name: str, aggregation: Aggregation) -> Unit:
    """The unit of `aggregation` over the metric `metric_name` (a name, not a selector)."""
    if aggregation.kind.unit is not None:
        return aggregation.kind.unit
    return Unit.SECONDS if metric_has_seconds(metric_name) else Unit.NONE


def format_quantity(value: float | None, unit: Unit) -> str:
    """Seconds as ms/s, fractions as percentages, rates per second, 4 significant digits."""
    if value is None or not math.isfinite(value):
        return "—"
    match unit:
        case Unit.FRACTION:
            return f"{value * 100:.3g}%"
        case Unit.PER_SECOND:
            return f"{value:.4g}/s"
        case Unit.SECONDS:
            if abs(value) < 1.0:
                return f"{value * 1000:.4g} ms"
            return f"{value:.4g} s"
    return f"{value:.4g}"


def chart_scale(unit: Unit) -> tuple[float, str]:
    """(factor, axis unit) for a chart of values in `unit`: one fixed scale per axis (seconds
    in ms, fractions in %), where `format_quantity` picks per value."""
    match unit:
        case Unit.SECONDS:
            return 1000.0, "ms"
        case Unit.FRACTION:
            return 100.0, "%"
        case Unit.PER_SECOND:
            return 1.0, "/s"
    return 1.0, ""

"""Evidence that cannot be right: refused with a message, never turned into a verdict.

Counters only grow, so their per-interval increments are never negative (collectors turn
resets into increments, collectors.model.CumulativeCounter). A `ratio` is a fraction of
events (the numerator's events are among the denominator's), so it is never above 1. Data
that breaks these rules is corrupt or foreign (a bad import, a collector bug, two sources
counting the same events): judging it would produce a verdict about nothing, so the run is
reported broken instead (exit code 3)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from collectors.model import SeriesData
from runtime.errors import RunBroken

F64 = npt.NDArray[np.float64]


class ImpossibleEvidence(RunBroken):
    """The data a budget reads cannot be right; no verdict is given."""


def check_counter(budget: str, series: SeriesData, ts: F64, values: F64) -> None:
    """Raises ImpossibleEvidence on a negative increment (`ts`, `values`: the series' points
    as arrays, which the evaluator has at hand)."""
    if values.size == 0:
        return
    i = int(np.argmin(values))
    if values[i] < 0:
        raise ImpossibleEvidence(
            f"refusing to judge budget {budget!r}: counter {series.key} has a negative "
            f"increment ({values[i]:g} at {_when(float(ts[i]))}); counters only grow, so the "
            "stored data is corrupt or comes from elsewhere"
        )


def check_ratio(budget: str, observed: float, numerator: str, denominator: str) -> None:
    """Raises ImpossibleEvidence when a ratio of event counts is above 1."""
    if observed > 1.0 + 1e-9:
        raise ImpossibleEvidence(
            f"refusing to judge budget {budget!r}: the ratio {numerator} / {denominator} is "
            f"{observed:.4g}, above 1: the numerator counted more events than the denominator, "
            "so one of them is wrong (check that the numerator's events are among the "
            "denominator's, and that no source is counted twice)"
        )


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

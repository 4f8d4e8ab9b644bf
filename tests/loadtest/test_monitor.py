"""The monitor's in-memory series and its abort decision (pure parts)."""

from __future__ import annotations

from budgets.model import Condition, Level, Op
from budgets.units import Unit
from budgets.verdict import Verdict
from collectors.model import Batch, SeriesKey
from loadtest.monitor import SeriesAccumulator, abort_reason


def test_snapshot_is_built_once_per_change() -> None:
    acc = SeriesAccumulator()
    b = Batch()
    b.add_gauge(SeriesKey.of("depth", {"queue": "q"}), 1.0, 5.0)
    acc.add(b)
    first = acc.snapshot()
    assert acc.snapshot() is first and first[0].points[0].value == 5.0
    b2 = Batch()
    b2.add_gauge(SeriesKey.of("depth", {"queue": "q"}), 2.0, 7.0)
    acc.add(b2)
    second = acc.snapshot()
    assert second is not first and [p.value for p in second[0].points] == [5.0, 7.0]


def verdict(status: Level, **kw: object) -> Verdict:
    return Verdict(
        budget="p95",
        status=status,
        aggregation="p95",
        observed=0.9,
        thresholds=(),
        sample_count=10,
        window=None,
        scope="run",
        **kw,
    )  # type: ignore[arg-type]


def test_abort_reason_names_the_budget_and_group() -> None:
    assert abort_reason([verdict(Level.FAIL)]) is None
    reason = abort_reason(
        [
            verdict(Level.PASS),
            verdict(
                Level.ABORT,
                group=(("name", "/orders"),),
                breached=(Level.ABORT, Condition(Op.LT, 0.5)),
                unit=Unit.SECONDS,
            ),
        ]
    )
    assert reason is not None and "'p95' [name=/orders]" in reason
    assert "p95 900 ms > 500 ms (abort: < 500 ms)" in reason

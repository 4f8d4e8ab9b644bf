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


def test_impossible_evidence_stops_the_run_without_a_verdict(tmp_path: object) -> None:
    from pathlib import Path

    from budgets.spec import parse_budgets
    from collectors.store import Store
    from loadtest.monitor import Monitor

    class Corrupt:
        """A source that reports a counter going down: data that cannot be right."""

        name = "corrupt"

        def __init__(self) -> None:
            self.ticks = 0

        def collect(self, now: float) -> Batch:
            self.ticks += 1
            b = Batch()
            b.add_increment(SeriesKey.of("reqs_total"), now, 5.0 if self.ticks < 3 else -2.0)
            return b

    budgets = parse_budgets(
        "budgets:\n  - {name: r, metric: reqs_total, aggregation: count, fail: '> 0'}\n"
    ).budgets
    with Store.open(Path(str(tmp_path)) / "s.db") as store:
        run = store.create_run(started_at=1000.0, scenario="normal")
        monitor = Monitor(store, run, budgets, [Corrupt()])
        for t in (1001.0, 1002.0):
            assert monitor.tick(t).abort is None
        result = monitor.tick(1003.0)
        assert result.abort is not None and "negative increment (-2" in result.abort
        assert result.verdicts == [] and monitor.refused == result.abort
        assert monitor.tick(1004.0).abort == result.abort  # no more evaluations

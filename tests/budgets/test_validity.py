"""The validity check (INCONCLUSIVE) and impossible evidence (refused, no verdict)."""

from __future__ import annotations

import pytest

from budgets.evaluate import evaluate
from budgets.evidence import ImpossibleEvidence
from budgets.validity import DROPPED, STARTED, TARGET_RATE, Problem, assess
from collectors.model import RunInfo

from .helpers import budgets, counter, every, gauge, hist, one

SECONDS = range(1, 61)
RUN = RunInfo("r", 0.0, 60.0, phases={"spawning_complete": 10.0})
LATENCY = budgets(
    "budgets:\n  - name: p95\n    metric: locust_request_duration_seconds\n"
    "    aggregation: p95\n    fail: '< 1s'\n    min_samples: 500\n"
)


def cpu(values: dict[int, float], process: str = "local"):  # type: ignore[no-untyped-def]
    return gauge("locust_cpu_percent", values, {"process": process})


def requests(per_second: float):  # type: ignore[no-untyped-def]
    return counter("locust_requests_total", every(SECONDS, per_second))  # type: ignore[arg-type]


def test_a_clean_run_is_valid() -> None:
    series = [cpu({t: 40.0 for t in SECONDS}), requests(20)]
    assert not assess(RUN, series, LATENCY).inconclusive


def test_a_saturated_load_generator_makes_the_run_inconclusive() -> None:
    hot = {t: (97.0 if t % 3 == 0 else 60.0) for t in SECONDS}  # a third of the readings
    validity = assess(RUN, [cpu(hot, "worker-a1"), requests(20)], LATENCY)
    (reason,) = validity.reasons
    assert reason.problem is Problem.SATURATED and reason.observed == 97.0
    assert "worker-a1" in str(reason) and "17 of 50 readings" in str(reason)


def test_spikes_during_ramp_up_or_a_single_reading_are_not_saturation() -> None:
    ramp = {t: (99.0 if t <= 10 else 50.0) for t in SECONDS}  # before spawning completed
    assert not assess(RUN, [cpu(ramp), requests(20)], LATENCY).inconclusive
    once = {t: (99.0 if t == 30 else 50.0) for t in SECONDS}
    assert not assess(RUN, [cpu(once), requests(20)], LATENCY).inconclusive


def test_too_few_requests_for_the_budgets_min_samples() -> None:
    validity = assess(RUN, [requests(5)], LATENCY)  # 300 requests, min_samples 500
    (reason,) = validity.reasons
    assert reason.problem is Problem.TOO_FEW_REQUESTS
    assert (reason.observed, reason.limit) == (300.0, 500.0)
    assert "'p95' needs min_samples 500" in str(reason)
    # without a load generator's series (castiel monitor) there is nothing to judge
    assert not assess(RUN, [], LATENCY).inconclusive


def test_an_arrival_rate_short_of_its_target() -> None:
    target = gauge(TARGET_RATE, every(SECONDS, 50.0))  # type: ignore[arg-type]
    started = counter(STARTED, every(SECONDS, 40))  # type: ignore[arg-type]
    dropped = counter(DROPPED, every(SECONDS, 10))  # type: ignore[arg-type]
    (reason,) = assess(RUN, [target, started, dropped, requests(20)], LATENCY).reasons
    assert reason.problem is Problem.RATE_SHORT
    assert reason.observed == pytest.approx(0.8) and reason.limit == pytest.approx(0.95)
    assert "dropped because no user was free" in str(reason)
    few = counter(DROPPED, every(SECONDS, 2))  # type: ignore[arg-type]  # 2 of 42: under 5 %
    assert not assess(RUN, [target, started, few, requests(20)], LATENCY).inconclusive
    # a closed-loop run reports no target: nothing to compare
    assert not assess(RUN, [started, dropped, requests(20)], LATENCY).inconclusive


def test_negative_counter_increments_are_refused() -> None:
    budget = one("    metric: reqs_total\n    aggregation: rate\n    fail: '> 1'\n")
    bad = counter("reqs_total", {**every(SECONDS, 10), 30: -7})  # type: ignore[arg-type]
    with pytest.raises(ImpossibleEvidence, match="negative increment \\(-7"):
        evaluate([budget], [bad], RUN)


def test_a_ratio_of_counters_above_one_is_refused() -> None:
    budget = one(
        "    metric: locust_failures_total\n    denominator: locust_requests_total\n"
        "    aggregation: ratio\n    fail: '< 1%'\n"
    )
    series = [
        counter("locust_failures_total", every(SECONDS, 30)),  # type: ignore[arg-type]
        requests(20),
    ]
    with pytest.raises(ImpossibleEvidence, match="above 1"):
        evaluate([budget], series, RUN)
    fine = [counter("locust_failures_total", every(SECONDS, 1)), requests(20)]  # type: ignore[arg-type]
    (v,) = evaluate([budget], fine, RUN)
    assert v.observed == pytest.approx(0.05)


def test_histograms_are_unaffected_by_the_counter_rules() -> None:
    (v,) = evaluate(LATENCY, [hist("locust_request_duration_seconds", every(SECONDS, [0.1]))], RUN)
    assert v.missing  # 60 samples < 500: missing by policy, not refused

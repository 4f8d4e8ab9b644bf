"""Arrival plans as pure data: rates, due times, the CLI and file syntax, the pool."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.yamlspec import SpecError
from loadtest.arrival import (
    ArrivalPlan,
    Pool,
    RateStage,
    from_profile,
    load_plan_file,
    parse_stages,
    pool_target,
)
from loadtest.profiles import build


def test_constant_plan_is_due_every_1_over_rate_from_the_start() -> None:
    plan = ArrivalPlan.constant(50, 10)
    assert plan.duration == 10 and plan.rate_at(3) == 50 and plan.rate_at(10) == 0
    assert plan.count_at(10) == 500 and plan.count_at(99) == 500
    assert [plan.time_of(k) for k in range(3)] == [0.0, 0.02, 0.04]
    assert plan.time_of(499) == pytest.approx(9.98) and plan.time_of(500) is None


def test_linear_ramp_integrates_and_inverts() -> None:
    plan = parse_stages("10, 10s:30")  # 10 -> 30 over 10 s: 200 iterations
    assert plan.start_rate == 10 and plan.rate_at(5) == 20
    assert plan.count_at(10) == pytest.approx(200)
    assert plan.count_at(5) == pytest.approx(10 * 5 + 20 * 25 / 20)  # 75
    assert plan.time_of(75) == pytest.approx(5)
    down = parse_stages("30, 10s:10")
    assert down.time_of(125) == pytest.approx(5)  # the earlier root of a falling ramp


def test_ramp_from_zero_and_a_jump() -> None:
    plan = parse_stages("5s:10, 0s:100, 5s:100")
    assert plan.duration == 10 and plan.count_at(5) == pytest.approx(25)
    assert plan.count_at(10) == pytest.approx(525)
    assert plan.time_of(25) == pytest.approx(5.0)
    assert plan.time_of(26) == pytest.approx(5.01)


@given(
    st.lists(st.tuples(st.floats(0.0, 20.0), st.floats(0.0, 500.0)), min_size=1, max_size=6).filter(
        lambda s: sum(d for d, _ in s) > 0.5 and max(r for _, r in s) > 1
    ),
    st.floats(0.0, 300.0),
)
def test_due_times_invert_the_count(stages: list[tuple[float, float]], start: float) -> None:
    plan = ArrivalPlan(start, tuple(RateStage(d, r) for d, r in stages))
    total = plan.count_at(plan.duration)
    previous = -1.0
    for k in range(0, int(total), max(1, int(total) // 50)):
        t = plan.time_of(k)
        assert t is not None and previous <= t <= plan.duration + 1e-9
        assert plan.count_at(t) == pytest.approx(k, abs=1e-6 * max(1.0, k))
        previous = t


def test_stress_scenario_in_rates_steps_from_base_to_top() -> None:
    plan = from_profile(build("stress", 1000, 50, 3.0), 1000, 20)
    held = [s.target for s in plan.stages if s.duration > 0]
    assert held == [20, 30, 40, 50, 60] and plan.duration == 50
    assert plan.rate_at(5) == 20 and plan.rate_at(45) == 60


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no stages"),
        ("30s", "not a rate"),
        ("5, 30s", "not DURATION:RATE"),
        ("30s:fast", "not a rate"),
        ("30x:10", "not a duration"),
        ("30s:-1", ">= 0"),
        ("0s:10", "longer than 0s"),
        ("10s:0", "a rate above 0"),
        ("30s:nan", "finite"),
    ],
)
def test_bad_stages_say_why(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_stages(spec)


def test_plan_file_and_its_located_errors(tmp_path: Path) -> None:
    good = tmp_path / "plan.yaml"
    good.write_text("start_rate: 5\nstages:\n  - {duration: 30s, target: 50}\n")
    assert load_plan_file(good) == ArrivalPlan(5, (RateStage(30, 50),))
    bad = tmp_path / "bad.yaml"
    bad.write_text("start_rate: 5\nstages:\n  - duration: 30s\n    traget: 50\n")
    with pytest.raises(SpecError) as err:
        load_plan_file(bad)
    assert str(err.value).startswith(f"{bad}:4:5: stages[0].traget: unknown key")
    assert "did you mean 'target'" in str(err.value)
    with pytest.raises(SpecError, match="file not found"):
        load_plan_file(tmp_path / "missing.yaml")


def test_plan_travels_as_json() -> None:
    plan = parse_stages("10, 30s:100, 1m:100")
    assert ArrivalPlan.from_json(plan.to_json()) == plan
    assert plan.describe() == "10, 30s:100, 60s:100"


def test_pool_grows_by_littles_law_within_its_bounds() -> None:
    pool = Pool(5, 40)
    assert pool_target(pool, 0, 100, None) == 5  # nothing measured yet: pre-allocated
    assert pool_target(pool, 5, 100, 0.01) == 5  # 100/s x 10 ms = 1 user busy
    assert pool_target(pool, 5, 100, 0.2) == math.ceil(100 * 0.2 * 1.25) + 1  # 26
    assert pool_target(pool, 5, 100, 2.0) == 40  # capped
    assert pool_target(pool, 30, 10, 0.01) == 30  # never shrinks
    with pytest.raises(ValueError):
        Pool(5, 4)

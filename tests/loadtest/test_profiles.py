"""Scenario profiles are pure data: checked by hand-computed expectations."""

from __future__ import annotations

import pytest

from loadtest.profiles import SCENARIOS, build


def users_over_time(scenario: str) -> list[int]:
    p = build(scenario, users=10, duration=100, peak_multiplier=3)
    return [s.users if (s := p.at(t)) else 0 for t in range(0, 101, 5)]


def test_normal_holds_the_base_load() -> None:
    assert set(users_over_time("normal")[:-1]) == {10}


def test_peak_rises_to_the_multiplier_in_the_middle_and_returns() -> None:
    u = users_over_time("peak")
    assert u[0] == 10 and u[10] == 30 and u[18] == 10 and u[-1] == 0


def test_spike_is_short_and_sudden() -> None:
    p = build("spike", users=10, duration=100, peak_multiplier=5)
    spike = [s for s in p.stages if s.users == 50]
    assert len(spike) == 1 and spike[0].spawn_rate == 50
    assert p.at(50) is not None and p.at(50).users == 50  # type: ignore[union-attr]
    assert p.at(60) is not None and p.at(60).users == 10  # type: ignore[union-attr]


def test_stress_steps_up_monotonically_to_the_top() -> None:
    p = build("stress", users=10, duration=100, peak_multiplier=3, steps=5)
    assert [s.users for s in p.stages] == [10, 15, 20, 25, 30]


def test_every_profile_ends_at_its_duration() -> None:
    for scenario in SCENARIOS:
        p = build(scenario, users=4, duration=30)
        assert p.duration == pytest.approx(30) and p.at(30) is None


@pytest.mark.parametrize(
    "kw", [{"scenario": "chaos"}, {"users": 0}, {"duration": 0}, {"peak_multiplier": 0.5}]
)
def test_bad_parameters_are_rejected(kw: dict[str, object]) -> None:
    args: dict[str, object] = {"scenario": "normal", "users": 5, "duration": 10, **kw}
    with pytest.raises(ValueError):
        build(**args)  # type: ignore[arg-type]

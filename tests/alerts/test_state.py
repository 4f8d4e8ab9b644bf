"""The pure state machine: for, keep_firing_for, no data and its policies, the end of a run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alerts.model import AlertState
from alerts.state import NoDataPolicy, Observation, Status, Timing, end_of_run, step

V, OK, MISSING, HOLD = (
    Observation.VIOLATING,
    Observation.OK,
    Observation.MISSING,
    Observation.HOLD,
)


def run(obs: list[Observation], timing: Timing, dt: float = 1.0) -> list[AlertState]:
    s = Status()
    out = []
    for i, o in enumerate(obs):
        s = step(s, o, timing, i * dt)
        out.append(s.state)
    return out


def test_fires_at_once_without_for_and_resolves_when_ok() -> None:
    assert run([V, V, OK, OK], Timing()) == [
        AlertState.FIRING,
        AlertState.FIRING,
        AlertState.RESOLVED,
        AlertState.RESOLVED,
    ]


def test_for_keeps_an_alert_pending_until_it_has_lasted() -> None:
    states = run([V, V, V, V], Timing(for_=2.0))
    assert states == [AlertState.PENDING, AlertState.PENDING, AlertState.FIRING, AlertState.FIRING]


def test_a_pending_alert_that_recovers_never_fires() -> None:
    assert run([V, OK, V, V], Timing(for_=2.0)) == [
        AlertState.PENDING,
        AlertState.INACTIVE,
        AlertState.PENDING,
        AlertState.PENDING,
    ]


def test_keep_firing_for_bridges_short_recoveries() -> None:
    states = run([V, OK, OK, V, OK, OK, OK, OK], Timing(keep_firing_for=3.0))
    # last violation at t=3: still firing until t=6, when 3 s have passed without one
    assert states[:6] == [AlertState.FIRING] * 6
    assert states[6:] == [AlertState.RESOLVED] * 2


def test_starts_at_is_kept_while_firing() -> None:
    s = Status()
    s = step(s, V, Timing(), 10.0)
    s = step(s, V, Timing(), 11.0)
    assert s.active_since == 10.0 and s.last_violation == 11.0


def test_missing_data_becomes_nodata_after_for() -> None:
    states = run([MISSING, MISSING, MISSING], Timing(for_=1.0, nodata_for=1.0))
    assert states == [AlertState.INACTIVE, AlertState.NODATA, AlertState.NODATA]


def test_by_default_no_data_waits_at_least_a_minute() -> None:
    """The first seconds of a run, before anything was collected, are not an alert."""
    states = run([MISSING] * 61, Timing())
    assert states[59] is AlertState.INACTIVE and states[60] is AlertState.NODATA


def test_nodata_resolves_when_data_returns_healthy_and_fires_when_bad() -> None:
    assert run([MISSING, OK], Timing(nodata_for=0))[-1] is AlertState.RESOLVED
    assert run([MISSING, V], Timing(nodata_for=0))[-1] is AlertState.FIRING


def test_a_firing_alert_whose_data_disappears_stays_firing() -> None:
    """Never a silent pass: the last value seen was bad."""
    assert run([V, MISSING, MISSING, MISSING], Timing())[-1] is AlertState.FIRING


def test_nodata_policies() -> None:
    assert run([MISSING], Timing(nodata=NoDataPolicy.ALERTING)) == [AlertState.FIRING]
    assert run([V, MISSING], Timing(nodata=NoDataPolicy.OK)) == [
        AlertState.FIRING,
        AlertState.RESOLVED,
    ]
    assert run([V, MISSING, MISSING], Timing(nodata=NoDataPolicy.KEEP_LAST))[-1] is (
        AlertState.FIRING
    )
    assert run([MISSING, MISSING], Timing(nodata=NoDataPolicy.KEEP_LAST)) == [
        AlertState.INACTIVE,
        AlertState.INACTIVE,
    ]


def test_nodata_for_overrides_for() -> None:
    states = run([MISSING] * 4, Timing(for_=0.0, nodata_for=3.0))
    assert states == [AlertState.INACTIVE] * 3 + [AlertState.NODATA]


def test_hold_changes_nothing() -> None:
    s = step(Status(), V, Timing(for_=5), 0.0)
    assert step(s, HOLD, Timing(for_=5), 3.0) == s


def test_end_of_run_resolves_active_and_drops_pending() -> None:
    firing = step(Status(), V, Timing(), 0.0)
    assert end_of_run(firing, 5.0).state is AlertState.RESOLVED
    assert end_of_run(firing, 5.0).resolved_at == 5.0
    pending = step(Status(), V, Timing(for_=10), 0.0)
    assert end_of_run(pending, 5.0).state is AlertState.INACTIVE
    nodata = step(Status(), MISSING, Timing(nodata_for=0), 0.0)
    assert end_of_run(nodata, 5.0).state is AlertState.RESOLVED


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(min_value=1, max_value=5))
def test_keep_firing_for_longer_than_every_gap_fires_once(flaps: list[bool], gap: int) -> None:
    """Property: a metric flapping with gaps shorter than keep_firing_for enters firing once."""
    obs = [V]
    for f in flaps:
        obs.extend([OK] * (gap - 1) + [V] if f else [V])
    states = run(obs, Timing(keep_firing_for=float(gap)))
    entries = sum(
        1
        for prev, cur in zip([AlertState.INACTIVE, *states], states, strict=False)
        if cur is AlertState.FIRING and prev is not AlertState.FIRING
    )
    assert entries == 1
    assert AlertState.RESOLVED not in states

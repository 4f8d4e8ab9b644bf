"""The alert state machine, a pure function of (previous status, observation, timing, now).

    inactive ──violating──► pending ──(for elapsed)──► firing ──ok──► resolved
        ▲                      │ok                         │  ▲ violating within
        └──────────────────────┘                           └──┘ keep_firing_for

No data is its own state. A missing observation (policy `nodata`, the default) moves an alert
that is not firing to `nodata` once it has lasted `nodata_for` (default: the rule's `for`, at
least one minute); `nodata` is active, so it is notified, and it resolves when data comes back
healthy or becomes `firing` when it comes back bad. A firing alert whose data disappears stays
firing: the last value seen was bad, and resolving it would be a silent pass. Other policies:
`alerting` (missing counts as violating), `ok` (missing counts as healthy: only when written
out), `keep_last` (nothing changes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from alerts.model import AlertState


class Observation(StrEnum):
    VIOLATING = "violating"
    OK = "ok"
    MISSING = "missing"
    HOLD = "hold"
    """No information this round (e.g. a higher level while the lowest one reports no data)."""


class NoDataPolicy(StrEnum):
    NODATA = "nodata"
    ALERTING = "alerting"
    OK = "ok"
    KEEP_LAST = "keep_last"


@dataclass(frozen=True)
class Timing:
    for_: float = 0.0
    keep_firing_for: float = 0.0
    nodata: NoDataPolicy = NoDataPolicy.NODATA
    nodata_for: float | None = None
    """How long data must be missing before `nodata`; None = `for_`, but at least
    NODATA_GRACE, so the first seconds of a run, before anything was collected, are quiet."""


NODATA_GRACE = 60.0


@dataclass(frozen=True)
class Status:
    state: AlertState = AlertState.INACTIVE
    pending_since: float | None = None
    active_since: float | None = None
    """When the alert became firing or nodata: Alertmanager's startsAt."""
    last_violation: float | None = None
    missing_since: float | None = None
    resolved_at: float | None = None


def effective(obs: Observation, policy: NoDataPolicy) -> Observation:
    if obs is not Observation.MISSING:
        return obs
    return {
        NoDataPolicy.NODATA: Observation.MISSING,
        NoDataPolicy.ALERTING: Observation.VIOLATING,
        NoDataPolicy.OK: Observation.OK,
        NoDataPolicy.KEEP_LAST: Observation.HOLD,
    }[policy]


def step(prev: Status, obs: Observation, timing: Timing, now: float) -> Status:
    obs = effective(obs, timing.nodata)
    if obs is Observation.HOLD:
        return prev
    if obs is Observation.MISSING:
        return _missing(prev, timing, now)
    prev = replace(prev, missing_since=None)
    if obs is Observation.VIOLATING:
        return _violating(prev, timing, now)
    return _ok(prev, timing, now)


def _missing(prev: Status, timing: Timing, now: float) -> Status:
    since = prev.missing_since if prev.missing_since is not None else now
    cur = replace(prev, missing_since=since)
    if prev.state in (AlertState.FIRING, AlertState.NODATA):
        return cur
    wait = max(timing.for_, NODATA_GRACE) if timing.nodata_for is None else timing.nodata_for
    if now - since >= wait:
        return Status(AlertState.NODATA, active_since=now, missing_since=since)
    return cur


def _violating(prev: Status, timing: Timing, now: float) -> Status:
    if prev.state is AlertState.FIRING:
        return replace(prev, last_violation=now)
    if prev.state is AlertState.NODATA:
        # Already active and notified: data came back bad, so it is firing now.
        return replace(prev, state=AlertState.FIRING, last_violation=now, pending_since=None)
    pending_since = prev.pending_since if prev.state is AlertState.PENDING else now
    assert pending_since is not None
    if now - pending_since >= timing.for_:
        return Status(AlertState.FIRING, active_since=now, last_violation=now)
    return Status(AlertState.PENDING, pending_since=pending_since, last_violation=now)


def _ok(prev: Status, timing: Timing, now: float) -> Status:
    match prev.state:
        case AlertState.FIRING:
            last = prev.last_violation
            if last is not None and now - last < timing.keep_firing_for:
                return prev
            return replace(prev, state=AlertState.RESOLVED, resolved_at=now)
        case AlertState.NODATA:
            return replace(prev, state=AlertState.RESOLVED, resolved_at=now)
        case AlertState.PENDING:
            return Status(AlertState.INACTIVE)
    return prev


def end_of_run(prev: Status, now: float) -> Status:
    """The run is over: active alerts resolve, pending ones never fire."""
    if prev.state.active:
        return replace(prev, state=AlertState.RESOLVED, resolved_at=now)
    if prev.state is AlertState.PENDING:
        return Status(AlertState.INACTIVE)
    return prev

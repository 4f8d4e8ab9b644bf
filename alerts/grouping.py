"""Aggregation groups and when they notify: Alertmanager's model, with its known gaps closed.
Pure functions of (group, member states, route timing, time).

* A group is (route, values of the route's `group_by` labels, receiver). It is created by the
  first active, unsuppressed alert and first flushes `group_wait` later; after every flush the
  next one is `group_interval` away.
* A flush notifies when something changed since the last notification (a new active alert, an
  alert changing between firing and no data, an alert that was notified as firing and has now
  resolved) or when `repeat_interval` has passed (`needs_update`, after Alertmanager's
  notification log).
* Differences from Alertmanager, on purpose: the repeat is due `repeat_interval` after the last
  notification, not at the next group_interval tick after that (so it is not rounded up); a
  resolved alert stays in its group until its resolve was sent (also across a mute window);
  silenced or inhibited alerts that were already notified as firing still get their resolve;
  and `force` (the run ended) flushes at once instead of waiting for the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from alerts.model import AlertState, LabelSet
from alerts.routing import Route


@dataclass(frozen=True)
class NotifyLog:
    firing: frozenset[tuple[str, str]]
    """(dedup key, state) of the active alerts last notified."""
    resolved: frozenset[str]
    at: float
    open: frozenset[str] = frozenset()
    """Keys told as firing and not yet told as resolved (even if suppressed since)."""

    @property
    def firing_keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.firing)


@dataclass(frozen=True)
class Group:
    key: str
    route_id: str
    receiver: str
    labels: LabelSet
    created_at: float
    next_flush: float
    members: frozenset[str] = frozenset()
    log: NotifyLog | None = None


@dataclass(frozen=True)
class Member:
    state: AlertState
    suppressed: bool = False
    """Silenced, inhibited: not notified as firing."""


@dataclass(frozen=True)
class Flush:
    group: Group | None
    """None: the group has nothing left and is dropped."""
    firing: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    notify: bool = False


def group_key(route: Route, receiver: str, labels: LabelSet) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return f"{route.id}:{receiver}:{{{inner}}}"


def new_group(route: Route, labels: LabelSet, now: float) -> Group:
    return Group(
        key=group_key(route, route.receiver, labels),
        route_id=route.id,
        receiver=route.receiver,
        labels=labels,
        created_at=now,
        next_flush=now + route.group_wait,
    )


def due(group: Group, route: Route, now: float) -> bool:
    if now >= group.next_flush:
        return True
    log = group.log
    return bool(log and log.firing and now >= log.at + route.repeat_interval)


def needs_update(
    log: NotifyLog | None,
    firing: frozenset[tuple[str, str]],
    resolved: frozenset[str],
    now: float,
    repeat_interval: float,
    send_resolved: bool,
) -> bool:
    if log is None:
        return bool(firing)
    if not firing <= log.firing:
        return True
    if not firing:
        return bool(log.firing)
    if send_resolved and not resolved <= log.resolved:
        return True
    return now >= log.at + repeat_interval


def flush(
    group: Group,
    members: Mapping[str, Member],
    route: Route,
    now: float,
    *,
    muted: bool = False,
    send_resolved: bool = True,
) -> Flush:
    """Decide this group's notification. `members` has the current state of every member key
    (a key missing from it is gone)."""
    present = {k: members[k] for k in group.members if k in members}
    if muted:
        return Flush(
            replace(group, members=frozenset(present), next_flush=now + route.group_interval)
        )
    firing = frozenset(
        (k, m.state.value) for k, m in present.items() if m.state.active and not m.suppressed
    )
    was_open = (group.log.open | group.log.firing_keys) if group.log else frozenset()
    resolved = frozenset(
        k for k, m in present.items() if m.state is AlertState.RESOLVED and k in was_open
    )
    notify = needs_update(group.log, firing, resolved, now, route.repeat_interval, send_resolved)
    sent_resolved = resolved if send_resolved else frozenset()
    if notify and not firing and not sent_resolved:
        notify = False  # all resolved, but this receiver does not want resolves
    remaining = frozenset(k for k, m in present.items() if m.state.active)
    log = group.log
    if notify or (not firing and log is not None and log.firing):
        still_open = (was_open | {k for k, _ in firing}) & remaining
        log = NotifyLog(firing, sent_resolved, now, still_open if notify else frozenset())
    next_group: Group | None = None
    if remaining:
        next_group = replace(
            group, members=remaining, log=log, next_flush=now + route.group_interval
        )
    if not notify:
        return Flush(next_group)
    return Flush(
        next_group,
        firing=tuple(sorted(k for k, _ in firing)),
        resolved=tuple(sorted(sent_resolved)),
        notify=True,
    )

"""Aggregation groups: group_wait, group_interval, repeat_interval (exact, not rounded up to
group_interval), resolves that are never lost, muting."""

from __future__ import annotations

from alerts.grouping import Member, NotifyLog, due, flush, needs_update, new_group
from alerts.model import AlertState
from alerts.routing import Route

ROUTE = Route(
    "0", "hook", group_by=("alertname",), group_wait=30, group_interval=300, repeat_interval=3600
)
FIRING = Member(AlertState.FIRING)
RESOLVED = Member(AlertState.RESOLVED)


def test_first_flush_waits_group_wait() -> None:
    g = new_group(ROUTE, (("alertname", "a"),), 100.0)
    assert not due(g, ROUTE, 129.9)
    assert due(g, ROUTE, 130.0)


def test_notifies_new_alerts_then_waits_group_interval() -> None:
    g = new_group(ROUTE, (), 0.0)
    g = g.__class__(**{**g.__dict__, "members": frozenset({"a"})})
    f = flush(g, {"a": FIRING}, ROUTE, 30.0)
    assert f.notify and f.firing == ("a",)
    assert f.group is not None and f.group.next_flush == 330.0
    # nothing changed: no notification at the next tick
    again = flush(f.group, {"a": FIRING}, ROUTE, 330.0)
    assert not again.notify


def test_repeat_is_due_exactly_repeat_interval_after_the_last_notification() -> None:
    log = NotifyLog(frozenset({("a", "firing")}), frozenset(), at=1000.0)
    g = new_group(ROUTE, (), 0.0).__class__(
        key="k",
        route_id="0",
        receiver="hook",
        labels=(),
        created_at=0.0,
        next_flush=4800.0,
        members=frozenset({"a"}),
        log=log,
    )
    assert not due(g, ROUTE, 4599.0)
    assert due(g, ROUTE, 4600.0)  # 1000 + 3600, not the next group_interval tick
    assert flush(g, {"a": FIRING}, ROUTE, 4600.0).notify


def test_needs_update_follows_alertmanager() -> None:
    fa = frozenset({("a", "firing")})
    log = NotifyLog(fa, frozenset(), 0.0)
    assert needs_update(None, fa, frozenset(), 1, 100, True)
    assert not needs_update(None, frozenset(), frozenset({"a"}), 1, 100, True)
    assert needs_update(log, fa | {("b", "firing")}, frozenset(), 1, 100, True)
    assert needs_update(log, frozenset({("a", "nodata")}), frozenset(), 1, 100, True)
    assert not needs_update(log, fa, frozenset(), 1, 100, True)
    assert needs_update(log, fa, frozenset(), 100, 100, True)
    assert needs_update(log, frozenset(), frozenset({"a"}), 1, 100, True)
    two = NotifyLog(fa | {("b", "firing")}, frozenset(), 0.0)
    assert needs_update(two, fa, frozenset({"b"}), 1, 100, True)
    assert not needs_update(two, fa, frozenset({"b"}), 1, 100, False)


def test_resolved_alert_is_sent_then_dropped_with_its_group() -> None:
    log = NotifyLog(frozenset({("a", "firing")}), frozenset(), 0.0)
    g = new_group(ROUTE, (), 0.0).__class__(
        key="k",
        route_id="0",
        receiver="hook",
        labels=(),
        created_at=0.0,
        next_flush=300.0,
        members=frozenset({"a"}),
        log=log,
    )
    f = flush(g, {"a": RESOLVED}, ROUTE, 300.0)
    assert f.notify and f.resolved == ("a",) and f.firing == ()
    assert f.group is None


def test_resolved_alert_never_notified_is_dropped_silently() -> None:
    g = new_group(ROUTE, (), 0.0)
    g = g.__class__(**{**g.__dict__, "members": frozenset({"a"})})
    f = flush(g, {"a": RESOLVED}, ROUTE, 30.0)
    assert not f.notify and f.group is None


def test_a_muted_group_keeps_its_resolve_for_later() -> None:
    log = NotifyLog(frozenset({("a", "firing")}), frozenset(), 0.0)
    g = new_group(ROUTE, (), 0.0).__class__(
        key="k",
        route_id="0",
        receiver="hook",
        labels=(),
        created_at=0.0,
        next_flush=300.0,
        members=frozenset({"a"}),
        log=log,
    )
    muted = flush(g, {"a": RESOLVED}, ROUTE, 300.0, muted=True)
    assert not muted.notify and muted.group is not None
    later = flush(muted.group, {"a": RESOLVED}, ROUTE, 600.0)
    assert later.notify and later.resolved == ("a",)


def test_suppressed_alerts_are_not_notified_but_their_resolve_is() -> None:
    g = new_group(ROUTE, (), 0.0)
    g = g.__class__(**{**g.__dict__, "members": frozenset({"a", "b"})})
    f = flush(g, {"a": FIRING, "b": Member(AlertState.FIRING, suppressed=True)}, ROUTE, 30.0)
    assert f.firing == ("a",)
    assert f.group is not None and f.group.members == {"a", "b"}


def test_send_resolved_false_skips_the_all_resolved_message() -> None:
    log = NotifyLog(frozenset({("a", "firing")}), frozenset(), 0.0)
    g = new_group(ROUTE, (), 0.0).__class__(
        key="k",
        route_id="0",
        receiver="hook",
        labels=(),
        created_at=0.0,
        next_flush=300.0,
        members=frozenset({"a"}),
        log=log,
    )
    assert not flush(g, {"a": RESOLVED}, ROUTE, 300.0, send_resolved=False).notify

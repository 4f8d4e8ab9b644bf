"""Notifications in order: what a newer notification of an alert group carries over from the
older ones it supersedes. Pure; the outbox (alerts.outbox) decides *when* to apply it.

Delivery is ordered per receiver and alert group (`Notification.group_dedup_key`): only the
oldest undelivered notification of a group is ever being sent, so a retried trigger can never
overtake the resolve that followed it. When the group's oldest notification is being retried
(its receiver has been failing) and newer ones of the group are waiting, they are merged into
the newest one and the older ones are marked superseded: after an outage the receiver hears
the latest state at once, instead of a replay of the outage.

Each notification tells the group's whole current state: every alert still firing (or with no
data), plus the alerts resolved since the previous notification. So the newest one is right
about every alert it names. An alert it does not name either resolved earlier (its resolve is
in an older notification and must not be lost: it is carried over) or is muted now (an older
trigger of it is dropped: the newer state says not to page for it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from alerts.model import Notification, NotifiedAlert


def supersede(older: Sequence[Notification], newest: Notification) -> Notification:
    """`newest`, with the resolves of `older` (oldest first) for alerts it does not name."""
    named = {a.dedup_key for a in newest.alerts}
    carried: dict[str, NotifiedAlert] = {}
    for n in older:
        for a in n.alerts:
            if a.dedup_key in named:
                continue
            if a.status == "resolved":
                carried[a.dedup_key] = a  # a later resolve of the same alert wins
            else:
                carried.pop(a.dedup_key, None)  # fired again later: resolved no more
    if not carried:
        return newest
    return replace(newest, alerts=(*carried.values(), *newest.alerts))

"""Inhibition (Alertmanager's `inhibit_rules`): while an alert matching `source_matchers` is
active, alerts matching `target_matchers` that have the same values for every label in
`equal` are not notified. An alert never inhibits itself, and (as in Alertmanager) an alert
matching both sides is not inhibited by another one matching both sides. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alerts.matchers import LabelMatcher, matches_all


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[LabelMatcher, ...]
    target_matchers: tuple[LabelMatcher, ...]
    equal: tuple[str, ...] = ()


def inhibited(
    rules: Sequence[InhibitRule], active: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """{alert key: key of an alert inhibiting it} among `active` alerts ({key: labels})."""
    out: dict[str, str] = {}
    for rule in rules:
        # Index sources by their `equal` values: one pass over the alerts, not one per pair.
        sources: dict[tuple[str, ...], list[str]] = {}
        for k, lab in active.items():
            if matches_all(rule.source_matchers, lab):
                sources.setdefault(tuple(lab.get(e, "") for e in rule.equal), []).append(k)
        if not sources:
            continue
        for key, labels in active.items():
            if key in out or not matches_all(rule.target_matchers, labels):
                continue
            # Alertmanager: an alert matching both sides cannot be inhibited by another
            # alert that matches both sides too (so two such alerts never mute each other).
            both = matches_all(rule.source_matchers, labels)
            for skey in sources.get(tuple(labels.get(e, "") for e in rule.equal), ()):
                if skey == key or (both and matches_all(rule.target_matchers, active[skey])):
                    continue
                out[key] = skey
                break
    return out

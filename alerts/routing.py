"""The routing tree, Alertmanager's semantics: an alert enters at the root (which matches
everything), descends into the first child whose matchers all match, and keeps trying later
siblings only when that child says `continue: true`. Where no child matches, the node itself is
the match. Children inherit receiver, grouping and timing from their parent (the config loader
resolves that, so every `Route` here is complete). Pure: routes are a function of labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerts.matchers import LabelMatcher, matches_all
from alerts.model import LabelSet

# Alertmanager's defaults.
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
GROUP_BY_ALL = "..."


@dataclass(frozen=True)
class Route:
    id: str
    """Position in the tree ("0", "0.1", "0.1.0"): stable for a given config."""
    receiver: str
    matchers: tuple[LabelMatcher, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] = ()
    """Empty: all alerts of the route in one group. ("...",): group by every label."""
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()

    def group_labels(self, labels: Mapping[str, str]) -> LabelSet:
        if GROUP_BY_ALL in self.group_by:
            return tuple(sorted(labels.items()))
        return tuple(sorted((k, labels[k]) for k in self.group_by if k in labels))

    def walk(self) -> list[Route]:
        out = [self]
        for r in self.routes:
            out.extend(r.walk())
        return out


def match_routes(root: Route, labels: Mapping[str, str] | LabelSet) -> list[Route]:
    have = labels if isinstance(labels, Mapping) else dict(labels)
    return _match(root, have)


def _match(node: Route, labels: Mapping[str, str]) -> list[Route]:
    if not matches_all(node.matchers, labels):
        return []
    found: list[Route] = []
    for child in node.routes:
        hits = _match(child, labels)
        if hits:
            found.extend(hits)
            if not child.continue_:
                break
    return found or [node]

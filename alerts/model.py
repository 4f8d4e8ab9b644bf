"""The alert model: what an evaluation says (`AlertInput`), the evidence a message carries,
alert identity and its dedup key, and the notification a receiver gets.

Identity. A budget with `warn` and `fail` thresholds raises up to two alerts per group, one per
level, exactly as Prometheus would with two rules; a critical alert can then inhibit the warning
one. An alert is identified by (rule, level, group labels, scope) where the rule is the budget
or standalone rule name and the scope is the run id (or the configured deployment name, so a
restarted `castiel monitor` keeps its keys). `dedup_key` hashes that identity; it is sent as
PagerDuty's `dedup_key` and Opsgenie's `alias`, so triggers and resolves pair up.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from budgets.model import Level

LabelSet = tuple[tuple[str, str], ...]
"""Labels as sorted (name, value) pairs: hashable, and equal sets compare equal."""


def labelset(labels: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> LabelSet:
    items = labels.items() if isinstance(labels, Mapping) else (labels or ())
    return tuple(sorted((str(k), str(v)) for k, v in items))


def label_text(labels: LabelSet) -> str:
    """`route=/api/items,method=GET`, or "" for no labels."""
    return ",".join(f"{k}={v}" for k, v in labels)


class Severity(StrEnum):
    """The severities every channel understands (PagerDuty's four)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    NODATA = "nodata"
    RESOLVED = "resolved"

    @property
    def active(self) -> bool:
        """Active alerts are notified: firing, or no data (its own state, never a pass)."""
        return self in (AlertState.FIRING, AlertState.NODATA)


ALERT_LEVELS = (Level.WARN, Level.FAIL, Level.ABORT)


@dataclass(frozen=True)
class AlertInput:
    """One evaluation of one budget (or rule) for one group: the input of the alert engine.
    `reached` is the highest level reached (PASS when all thresholds hold); `missing` means
    there was no (or too little) data, whatever level the budget's own policy assigned."""

    rule: str
    group: LabelSet = ()
    reached: Level = Level.PASS
    missing: bool = False
    observed: float | None = None
    thresholds: tuple[tuple[Level, str], ...] = ()
    """(level, condition that must hold), e.g. (FAIL, "< 0.3")."""
    aggregation: str = ""
    metric: str = ""
    description: str = ""
    message: str = ""
    run_id: str = ""
    kind: str = "budget"
    """"budget" or "rule" (a standalone alert rule)."""

    def levels(self) -> tuple[Level, ...]:
        """The levels this evaluation speaks about: every threshold's, plus the level reached
        (a baseline regression can reach a level that has no threshold)."""
        have = {lv for lv, _ in self.thresholds if lv in ALERT_LEVELS}
        if not self.missing and self.reached in ALERT_LEVELS:
            have.add(self.reached)
        return tuple(lv for lv in ALERT_LEVELS if lv in have)

    def condition(self, level: Level) -> str:
        return dict(self.thresholds).get(level, "")


@dataclass(frozen=True)
class AlertKey:
    rule: str
    level: str
    group: LabelSet
    scope: str

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.rule, self.level, self.group, self.scope)

    @property
    def series(self) -> tuple[str, LabelSet, str]:
        """The (rule, group, scope) the levels of one budget share."""
        return (self.rule, self.group, self.scope)


def dedup_key(rule: str, level: str, group: LabelSet, scope: str) -> str:
    """Stable across processes and restarts: a hash of the identity, short enough for
    PagerDuty (255) and Opsgenie (512)."""
    raw = json.dumps([rule, level, [list(p) for p in group], scope], separators=(",", ":"))
    return "castiel-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def group_dedup_key(route_id: str, receiver: str, group_labels: LabelSet, scope: str) -> str:
    """One key per aggregation group, for receivers configured with `dedup: group`."""
    raw = json.dumps(
        [route_id, receiver, [list(p) for p in group_labels], scope], separators=(",", ":")
    )
    return "castiel-g-" + hashlib.sha256(raw.encode()).hexdigest()[:38]


@dataclass(frozen=True)
class Evidence:
    """What every message shows: the budget, observed value against threshold, group, run."""

    rule: str
    level: str
    severity: str
    observed: float | None
    threshold: str
    """The condition that must hold, e.g. "< 0.3"."""
    aggregation: str = ""
    metric: str = ""
    group: LabelSet = ()
    run: str = ""
    kind: str = "budget"
    description: str = ""
    message: str = ""
    run_verdict: str | None = None
    """Set when the run ended and resolved the alert."""

    @property
    def comparison(self) -> str:
        return self.threshold.split(" ", 1)[0] if self.threshold else ""

    @property
    def threshold_value(self) -> str:
        return self.threshold.split(" ", 1)[1] if " " in self.threshold else self.threshold

    def observed_text(self) -> str:
        if self.observed is None or not math.isfinite(self.observed):
            return "no data"
        return f"{self.observed:.6g}"

    def summary(self) -> str:
        """`api-latency [route=/a]: p95 = 0.42, must be < 0.3 (fail)`."""
        where = f" [{label_text(self.group)}]" if self.group else ""
        agg = f"{self.aggregation} = " if self.aggregation else ""
        must = f", must be {self.threshold}" if self.threshold else ""
        return f"{self.rule}{where}: {agg}{self.observed_text()}{must} ({self.level})"

    def to_json(self) -> dict[str, Any]:
        observed = self.observed
        return {
            "rule": self.rule,
            "kind": self.kind,
            "level": self.level,
            "severity": self.severity,
            "observed": observed if observed is not None and math.isfinite(observed) else None,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "aggregation": self.aggregation,
            "metric": self.metric,
            "group": dict(self.group),
            "run": self.run,
            "description": self.description,
            "message": self.message,
            "run_verdict": self.run_verdict,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Evidence:
        return cls(
            rule=d["rule"],
            kind=d.get("kind", "budget"),
            level=d["level"],
            severity=d["severity"],
            observed=d.get("observed"),
            threshold=d.get("threshold", ""),
            aggregation=d.get("aggregation", ""),
            metric=d.get("metric", ""),
            group=labelset(d.get("group") or {}),
            run=d.get("run", ""),
            description=d.get("description", ""),
            message=d.get("message", ""),
            run_verdict=d.get("run_verdict"),
        )


@dataclass(frozen=True)
class NotifiedAlert:
    """One alert inside a notification."""

    dedup_key: str
    state: AlertState
    labels: LabelSet
    annotations: LabelSet
    starts_at: float
    ends_at: float | None
    evidence: Evidence
    link: str | None = None

    @property
    def status(self) -> str:
        """Alertmanager's two statuses: no data is reported as firing (it needs attention)."""
        return "resolved" if self.state is AlertState.RESOLVED else "firing"

    @property
    def fingerprint(self) -> str:
        return self.dedup_key.removeprefix("castiel-")[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "dedup_key": self.dedup_key,
            "state": self.state.value,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "evidence": self.evidence.to_json(),
            "link": self.link,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> NotifiedAlert:
        return cls(
            dedup_key=d["dedup_key"],
            state=AlertState(d["state"]),
            labels=labelset(d["labels"]),
            annotations=labelset(d["annotations"]),
            starts_at=d["starts_at"],
            ends_at=d.get("ends_at"),
            evidence=Evidence.from_json(d["evidence"]),
            link=d.get("link"),
        )


@dataclass(frozen=True)
class Notification:
    """What one receiver is told about one aggregation group at one moment."""

    receiver: str
    group_key: str
    group_labels: LabelSet
    alerts: tuple[NotifiedAlert, ...]
    created_at: float
    group_dedup_key: str = ""
    external_url: str | None = None
    test: bool = False
    truncated: int = 0
    """Alerts left out by a channel's `max_alerts` are counted here, never silently dropped."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> tuple[NotifiedAlert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")

    @property
    def resolved(self) -> tuple[NotifiedAlert, ...]:
        return tuple(a for a in self.alerts if a.status == "resolved")

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"

    @property
    def common_labels(self) -> LabelSet:
        if not self.alerts:
            return ()
        common = set(self.alerts[0].labels)
        for a in self.alerts[1:]:
            common &= set(a.labels)
        return tuple(sorted(common))

    @property
    def common_annotations(self) -> LabelSet:
        if not self.alerts:
            return ()
        common = set(self.alerts[0].annotations)
        for a in self.alerts[1:]:
            common &= set(a.annotations)
        return tuple(sorted(common))

    def title(self) -> str:
        """`[FIRING:3] api-latency (warning)`, Alertmanager style; tests are marked."""
        prefix = "[TEST] " if self.test else ""
        count = len(self.firing) if self.firing else len(self.resolved)
        names = sorted({a.evidence.rule for a in self.alerts})
        what = names[0] if len(names) == 1 else f"{len(names)} budgets"
        group = label_text(self.group_labels)
        tail = f" {{{group}}}" if group else ""
        return f"{prefix}[{self.status.upper()}:{count}] {what}{tail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "alerts": [a.to_json() for a in self.alerts],
            "created_at": self.created_at,
            "group_dedup_key": self.group_dedup_key,
            "external_url": self.external_url,
            "test": self.test,
            "truncated": self.truncated,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Notification:
        return cls(
            receiver=d["receiver"],
            group_key=d["group_key"],
            group_labels=labelset(d["group_labels"]),
            alerts=tuple(NotifiedAlert.from_json(a) for a in d["alerts"]),
            created_at=d["created_at"],
            group_dedup_key=d.get("group_dedup_key", ""),
            external_url=d.get("external_url"),
            test=bool(d.get("test", False)),
            truncated=int(d.get("truncated", 0)),
            extra=d.get("extra") or {},
        )

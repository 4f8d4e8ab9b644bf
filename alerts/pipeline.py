"""One tick of alerting as a pure function of (config, previous state, evaluations, silences,
time): state machine → labels → silences and inhibition → routing → aggregation groups →
notifications. The engine (alerts.engine) does the I/O around it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from alerts.config import AlertsConfig, RuleSettings
from alerts.grouping import Group, Member, flush, new_group
from alerts.grouping import due as group_due
from alerts.grouping import group_key as make_group_key
from alerts.inhibit import inhibited
from alerts.model import (
    AlertInput,
    AlertKey,
    AlertState,
    Evidence,
    LabelSet,
    Notification,
    NotifiedAlert,
    group_dedup_key,
    label_text,
    labelset,
)
from alerts.mute import muted
from alerts.routing import match_routes
from alerts.silences import Silence, silenced_by
from alerts.state import Observation, Status, Timing, end_of_run, step
from budgets.model import Level

RESERVED = ("alertname", "budget", "rule", "level", "severity", "group", "run")


@dataclass(frozen=True)
class AlertRecord:
    key: AlertKey
    status: Status
    labels: LabelSet
    annotations: LabelSet
    evidence: Evidence


@dataclass(frozen=True)
class EngineState:
    alerts: Mapping[str, AlertRecord] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """An alert that changed state in this tick (what alerts.history records)."""

    previous: AlertState
    record: AlertRecord


@dataclass(frozen=True)
class TickResult:
    state: EngineState
    notifications: tuple[Notification, ...]
    suppressed: Mapping[str, str]
    """{dedup key: why} for active alerts that are silenced or inhibited."""
    transitions: tuple[Transition, ...] = ()


def tick(
    config: AlertsConfig,
    state: EngineState,
    inputs: Sequence[AlertInput],
    silences: Sequence[Silence],
    now: float,
    *,
    scope: str,
    run_verdict: str | None = None,
) -> TickResult:
    """Advance every alert, then flush the groups that are due. With `run_verdict` the run has
    ended: every alert resolves with the verdict attached and every group flushes now."""
    records, observed = _advance(config, state.alerts, inputs, now, scope)
    if run_verdict is not None:
        records = _end_of_run(config, records, now, scope, run_verdict)
    suppressed = _suppressed(config, records, silences, now)
    groups = _grouped(config, state.groups, records, suppressed, now)
    notifications = _flush(
        config, groups, records, suppressed, now, scope, force=run_verdict is not None
    )
    return TickResult(
        EngineState(_still_tracked(records, groups, observed), groups),
        tuple(notifications),
        suppressed,
        tuple(_transitions(state.alerts, records)),
    )


def _advance(
    config: AlertsConfig,
    known: Mapping[str, AlertRecord],
    inputs: Sequence[AlertInput],
    now: float,
    scope: str,
) -> tuple[dict[str, AlertRecord], set[str]]:
    """Step every alert's state machine with what this tick observed. Returns the records
    (by dedup key) and the keys observed in this tick."""
    records = dict(known)
    settings: dict[str, tuple[RuleSettings, Timing, bool]] = {}

    def rule_settings(rule: str) -> tuple[RuleSettings, Timing, bool]:
        if rule not in settings:
            settings[rule] = (config.settings(rule), config.timing(rule), config.enabled(rule))
        return settings[rule]

    wanted = [i for i in inputs if rule_settings(i.rule)[2]]
    observed: set[str] = set()
    for key, obs, inp, level in observations(wanted, records, scope):
        dk = key.dedup_key
        observed.add(dk)
        prev = records.get(dk)
        rs, timing, _ = rule_settings(key.rule)
        status = step(prev.status if prev else Status(), obs, timing, now)
        if prev is None and status == Status():
            continue
        ev = _evidence(config, inp, level, scope)
        if obs is Observation.HOLD and prev is not None:
            ev = prev.evidence
        labels, annotations = _labels(config, ev, scope, rs)
        records[dk] = AlertRecord(key, status, labels, annotations, ev)
    return records, observed


def observations(
    inputs: Sequence[AlertInput], known: Mapping[str, AlertRecord], scope: str
) -> list[tuple[AlertKey, Observation, AlertInput, Level]]:
    """Level alerts and what each one observed. The lowest level of a budget carries the no
    data state; higher levels hold theirs (a firing alert never passes silently)."""
    out: list[tuple[AlertKey, Observation, AlertInput, Level]] = []
    by_series: dict[tuple[str, LabelSet, str], list[AlertKey]] = {}
    for rec in known.values():
        by_series.setdefault(rec.key.series, []).append(rec.key)
    for inp in inputs:
        levels = inp.levels() or (Level.FAIL,)
        seen = set()
        for lv in levels:
            key = AlertKey(inp.rule, lv.label, inp.group, scope)
            seen.add(key)
            if inp.missing:
                obs = Observation.MISSING if lv == levels[0] else Observation.HOLD
            else:
                obs = Observation.VIOLATING if inp.reached >= lv else Observation.OK
            out.append((key, obs, inp, lv))
        for key in by_series.get((inp.rule, inp.group, scope), []):
            if key not in seen:
                obs = Observation.HOLD if inp.missing else Observation.OK
                out.append((key, obs, inp, Level.parse(key.level)))
    return out


def _evidence(config: AlertsConfig, inp: AlertInput, level: Level, scope: str) -> Evidence:
    return Evidence(
        rule=inp.rule,
        kind=inp.kind,
        level=level.label,
        severity=config.severity_of(level.label),
        observed=None if inp.missing else inp.observed,
        threshold=inp.condition(level),
        aggregation=inp.aggregation,
        metric=inp.metric,
        group=inp.group,
        run=inp.run_id or scope,
        description=inp.description,
        message=inp.message,
    )


def _labels(
    config: AlertsConfig, ev: Evidence, scope: str, settings: RuleSettings | None = None
) -> tuple[LabelSet, LabelSet]:
    settings = settings or config.settings(ev.rule)
    labels: dict[str, str] = {**dict(config.labels), **dict(settings.labels)}
    labels.update({k: v for k, v in ev.group if k not in RESERVED})
    labels.update(
        {
            "alertname": ev.rule,
            ev.kind if ev.kind in ("budget", "rule") else "budget": ev.rule,
            "level": ev.level,
            "severity": ev.severity,
            "group": label_text(ev.group),
            "run": scope,
        }
    )
    annotations = {"summary": ev.summary(), **dict(settings.annotations)}
    if ev.description:
        annotations.setdefault("description", ev.description)
    return labelset(labels), labelset(annotations)


def _end_of_run(
    config: AlertsConfig,
    records: Mapping[str, AlertRecord],
    now: float,
    scope: str,
    run_verdict: str,
) -> dict[str, AlertRecord]:
    """The run has ended: every alert resolves, carrying the run's verdict."""
    out = {}
    for dk, rec in records.items():
        ev = replace(rec.evidence, run_verdict=run_verdict)
        _, annotations = _labels(config, ev, scope)
        annotations = labelset({**dict(annotations), "run_verdict": run_verdict})
        out[dk] = replace(
            rec, status=end_of_run(rec.status, now), evidence=ev, annotations=annotations
        )
    return out


def _transitions(
    before: Mapping[str, AlertRecord], records: Mapping[str, AlertRecord]
) -> list[Transition]:
    out = []
    for dk, rec in records.items():
        prev = before.get(dk)
        was = prev.status.state if prev is not None else AlertState.INACTIVE
        if rec.status.state is not was:
            out.append(Transition(was, rec))
    return out


def _suppressed(
    config: AlertsConfig,
    records: Mapping[str, AlertRecord],
    silences: Sequence[Silence],
    now: float,
) -> dict[str, str]:
    """{dedup key: why} for the active alerts that are inhibited or silenced."""
    active = {dk: dict(r.labels) for dk, r in records.items() if r.status.state.active}
    suppressed: dict[str, str] = {
        dk: f"inhibited by {src}" for dk, src in inhibited(config.inhibit_rules, active).items()
    }
    for dk, have in active.items():
        ids = silenced_by(have, silences, now)
        if ids:
            suppressed[dk] = f"silenced by {', '.join(ids)}"
    return suppressed


def _grouped(
    config: AlertsConfig,
    known: Mapping[str, Group],
    records: Mapping[str, AlertRecord],
    suppressed: Mapping[str, str],
    now: float,
) -> dict[str, Group]:
    """Route every active or resolved alert into its aggregation groups. A group opens only
    for an active alert that is not suppressed; groups of removed routes are dropped."""
    routes = config.routes()
    groups = {k: g for k, g in known.items() if g.route_id in routes}
    for dk, rec in records.items():
        st = rec.status.state
        if not (st.active or st is AlertState.RESOLVED):
            continue
        for route in match_routes(config.route, rec.labels):
            glabels = route.group_labels(dict(rec.labels))
            gk = make_group_key(route, route.receiver, glabels)
            group = groups.get(gk)
            if group is None:
                if not st.active or dk in suppressed:
                    continue
                group = new_group(route, glabels, now)
            if st.active and dk not in group.members:
                group = replace(group, members=group.members | {dk})
            groups[gk] = group
    return groups


def _flush(
    config: AlertsConfig,
    groups: dict[str, Group],
    records: Mapping[str, AlertRecord],
    suppressed: Mapping[str, str],
    now: float,
    scope: str,
    *,
    force: bool,
) -> list[Notification]:
    """Flush the groups that are due (all of them with `force`), updating `groups` in place:
    a group that has nothing left closes. Returns the notifications, in group key order."""
    routes = config.routes()
    members = {
        dk: Member(r.status.state, dk in suppressed)
        for dk, r in records.items()
        if r.status.state.active or r.status.state is AlertState.RESOLVED
    }
    notifications: list[Notification] = []
    for gk, group in sorted(groups.items()):
        route = routes[group.route_id]
        if not (force or group_due(group, route, now)):
            continue
        receiver = config.receivers.get(group.receiver)
        is_muted = not force and muted(
            route.mute_time_intervals, route.active_time_intervals, config.time_intervals, now
        )
        result = flush(
            group,
            members,
            route,
            now,
            muted=is_muted,
            send_resolved=receiver.send_resolved if receiver else True,
        )
        if result.group is None:
            del groups[gk]
        else:
            groups[gk] = result.group
        if result.notify:
            notifications.append(
                _notification(config, group, result.firing + result.resolved, records, now, scope)
            )
    return notifications


def _notification(
    config: AlertsConfig,
    group: Group,
    keys: Sequence[str],
    records: Mapping[str, AlertRecord],
    now: float,
    scope: str,
) -> Notification:
    alerts = []
    for dk in keys:
        rec = records[dk]
        st = rec.status
        alerts.append(
            NotifiedAlert(
                dedup_key=dk,
                state=st.state,
                labels=rec.labels,
                annotations=rec.annotations,
                starts_at=st.active_since if st.active_since is not None else now,
                ends_at=st.resolved_at if st.state is AlertState.RESOLVED else None,
                evidence=rec.evidence,
                link=config.dashboard.link(rec.evidence),
            )
        )
    return Notification(
        receiver=group.receiver,
        group_key=group.key,
        group_labels=group.labels,
        alerts=tuple(alerts),
        created_at=now,
        group_dedup_key=group_dedup_key(group.route_id, group.receiver, group.labels, scope),
        external_url=config.dashboard.url,
    )


def _still_tracked(
    records: Mapping[str, AlertRecord], groups: Mapping[str, Group], observed: set[str]
) -> dict[str, AlertRecord]:
    """The records the next tick needs: active and pending alerts, ones waiting out their no
    data period, and resolved ones a group still has to notify."""
    in_groups = set().union(*(g.members for g in groups.values())) if groups else set()
    return {
        dk: r
        for dk, r in records.items()
        if r.status.state.active
        or r.status.state is AlertState.PENDING
        or (r.status.missing_since is not None and dk in observed)
        or (r.status.state is AlertState.RESOLVED and dk in in_groups)
    }


def test_notification(config: AlertsConfig, receiver: str, now: float) -> Notification:
    """`castiel alerts test RECEIVER`: one clearly marked firing alert, with evidence."""
    ev = Evidence(
        rule="castiel-test",
        level="warn",
        severity="info",
        observed=1.0,
        threshold="< 1",
        aggregation="test",
        metric="castiel_alerts_test",
        group=(("receiver", receiver),),
        run="test",
        description="A test notification from `castiel alerts test`; nothing is wrong.",
    )
    labels, annotations = _labels(config, ev, "test")
    annotations = labelset({**dict(annotations), "summary": f"[TEST] {ev.summary()}"})
    dk = AlertKey("castiel-test", "warn", ev.group, f"test-{now:.0f}").dedup_key
    alert = NotifiedAlert(
        dk, AlertState.FIRING, labels, annotations, now, None, ev, config.dashboard.link(ev)
    )
    return Notification(
        receiver=receiver,
        group_key=f"test:{receiver}",
        group_labels=(("alertname", "castiel-test"),),
        alerts=(alert,),
        created_at=now,
        group_dedup_key=dk,
        external_url=config.dashboard.url,
        test=True,
    )

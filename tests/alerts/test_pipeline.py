"""The pure alerting tick end to end: storms, flapping, silences, inhibition, no data, the end
of a run. (config, state, evaluations, silences, time) -> notifications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from alerts.model import AlertInput, AlertKey, AlertState, Notification, dedup_key
from alerts.pipeline import EngineState, tick
from alerts.silences import Silence, new_silence
from budgets.model import Level
from tests.alerts.helpers import T0, config, inp

BASE = """
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      group_by: [alertname, severity]
      continue: true
    - receiver: chat   # everything, critical included (the route above continues)
receivers:
  - {name: chat, console: {}}
  - {name: pager, console: {}}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, group]
dashboard: {url: "http://dash:8501"}
"""


class Driver:
    """Feeds evaluations once a second and collects notifications."""

    def __init__(self, text: str = BASE) -> None:
        self.config = config(text)
        self.state = EngineState()
        self.sent: list[Notification] = []
        self.silences: list[Silence] = []
        self.suppressed: dict[str, str] = {}

    def at(self, t: float, inputs: Sequence[AlertInput], verdict: str | None = None) -> None:
        r = tick(
            self.config,
            self.state,
            inputs,
            self.silences,
            T0 + t,
            scope="run-1",
            run_verdict=verdict,
        )
        self.state = r.state
        self.sent.extend(r.notifications)
        self.suppressed = dict(r.suppressed)

    def to(self, receiver: str) -> list[Notification]:
        return [n for n in self.sent if n.receiver == receiver]


def test_a_storm_of_hundreds_of_violations_is_a_few_grouped_notifications() -> None:
    d = Driver()
    routes = [f"/api/item/{i}" for i in range(300)]
    for t in range(0, 120):
        d.at(
            t,
            [inp(reached=Level.FAIL, observed=0.5, group={"route": r}) for r in routes]
            + [inp("errors", Level.WARN, observed=0.25, group={"route": r}) for r in routes[:50]],
        )
    # chat: one group per budget (group_by alertname); pager: one per budget+severity
    chat = d.to("chat")
    pager = d.to("pager")
    assert len(chat) == 2 and len(pager) == 1
    lat = next(n for n in chat if n.alerts[0].evidence.rule == "api-latency")
    # 300 critical alerts; the 300 warning ones are inhibited by them
    assert len(lat.alerts) == 300
    assert {a.evidence.level for a in lat.alerts} == {"fail"}
    assert sum(1 for k, why in d.suppressed.items() if why.startswith("inhibited")) == 300
    errors = next(n for n in chat if n.alerts[0].evidence.rule == "errors")
    assert len(errors.alerts) == 50
    assert all(n.created_at == T0 + 30 for n in d.sent)  # after group_wait, not before


def test_a_flapping_metric_with_keep_firing_for_notifies_once() -> None:
    text = BASE + "defaults: {keep_firing_for: 2m}\n"
    d = Driver(text)
    for t in range(0, 3600, 10):
        bad = (t // 10) % 7 < 4  # bad for 40 s, good for 30 s, over and over
        d.at(t, [inp(reached=Level.FAIL if bad else Level.PASS, observed=0.5 if bad else 0.1)])
    chat = d.to("chat")
    assert len(chat) == 1
    assert {a.state for a in chat[0].alerts} == {AlertState.FIRING}


def test_without_keep_firing_for_the_same_flapping_is_coalesced_by_group_interval() -> None:
    d = Driver()
    for t in range(0, 3600, 10):
        bad = (t // 10) % 7 < 4
        d.at(t, [inp(reached=Level.FAIL if bad else Level.PASS, observed=0.5 if bad else 0.1)])
    # it does notify (fire, resolve, fire ...), but a group flushes at most every
    # group_interval and a new one waits group_wait: never more than 2 per 5 minutes
    assert 2 < len(d.to("chat")) <= 2 * (3600 // 300)


def test_repeat_interval_repeats_a_firing_alert_on_time() -> None:
    d = Driver()
    for t in range(0, 4 * 3600 + 200, 60):
        d.at(t, [inp(reached=Level.FAIL, observed=0.5)])
    times = [n.created_at - T0 for n in d.to("chat")]
    assert times == [60.0, 60.0 + 4 * 3600]  # first tick after group_wait, then 4 h later


def test_silences_suppress_what_they_match_and_nothing_else() -> None:
    d = Driver()
    d.silences = [
        new_silence(
            ['alertname="api-latency"', 'group="route=/a"'],
            starts_at=T0,
            ends_at=T0 + 10_000,
            now=T0,
        )
    ]
    for t in range(0, 40):
        d.at(t, [inp(reached=Level.FAIL, observed=0.5, group={"route": r}) for r in ("/a", "/b")])
    (chat,) = d.to("chat")
    assert [dict(a.labels)["group"] for a in chat.alerts] == ["route=/b", "route=/b"][:1]
    silenced = {k for k, why in d.suppressed.items() if why.startswith("silenced")}
    assert len(silenced) == 2  # both levels of /a


def test_inhibition_only_hits_the_same_budget_group() -> None:
    d = Driver()
    for t in range(0, 40):
        d.at(
            t,
            [
                inp(reached=Level.FAIL, observed=0.5, group={"route": "/a"}),
                inp(reached=Level.WARN, observed=0.25, group={"route": "/b"}),
            ],
        )
    (chat,) = d.to("chat")
    got = sorted((dict(a.labels)["group"], a.evidence.level) for a in chat.alerts)
    assert got == [("route=/a", "fail"), ("route=/b", "warn")]


def test_an_escalation_notifies_and_the_end_of_run_resolves_with_the_verdict() -> None:
    d = Driver()
    for t in range(0, 40):
        d.at(t, [inp(reached=Level.WARN, observed=0.25)])
    for t in range(40, 400):
        d.at(t, [inp(reached=Level.FAIL, observed=0.5)])
    d.at(401, [], verdict="fail")
    chat = d.to("chat")
    assert [n.status for n in chat] == ["firing", "firing", "resolved"]
    assert [a.evidence.level for a in chat[1].alerts] == ["fail"]  # warn is inhibited now
    last = chat[-1]
    assert last.created_at == T0 + 401  # at once, no group_interval wait
    assert {a.evidence.run_verdict for a in last.alerts} == {"fail"}
    assert {(a.evidence.level, a.status) for a in last.alerts} == {
        ("warn", "resolved"),
        ("fail", "resolved"),
    }
    assert d.to("pager")[-1].status == "resolved"
    assert d.state.alerts == {} and d.state.groups == {}


def test_no_data_is_its_own_alert_once_per_budget_group_and_resolves() -> None:
    d = Driver(BASE + "defaults: {nodata_for: 10s}\n")
    for t in range(0, 60):
        d.at(t, [inp(missing=True, group={"route": r}) for r in ("/a", "/b")])
    (chat,) = d.to("chat")
    # only the lowest level of each group reports no data: 2 alerts, not 4
    assert [(a.state, a.evidence.level) for a in chat.alerts] == [
        (AlertState.NODATA, "warn"),
        (AlertState.NODATA, "warn"),
    ]
    assert chat.alerts[0].evidence.observed_text() == "no data"
    for t in range(60, 400):
        d.at(t, [inp(reached=Level.PASS, group={"route": r}) for r in ("/a", "/b")])
    assert d.to("chat")[-1].status == "resolved"
    assert not d.to("pager")


def test_every_message_carries_the_evidence() -> None:
    d = Driver()
    for t in range(0, 31):
        d.at(t, [inp(reached=Level.FAIL, observed=0.42, group={"route": "/a"}, run="run-1")])
    a = next(a for a in d.to("chat")[0].alerts if a.evidence.level == "fail")
    ev = a.evidence
    assert (ev.rule, ev.observed, ev.threshold, ev.comparison, ev.run) == (
        "api-latency",
        0.42,
        "< 0.3",
        "<",
        "run-1",
    )
    assert dict(ev.group) == {"route": "/a"}
    labels = dict(a.labels)
    assert labels["severity"] == "critical" and labels["budget"] == "api-latency"
    assert labels["route"] == "/a" and labels["run"] == "run-1"
    assert a.link == "http://dash:8501/review?run=run-1&budget=api-latency"
    assert "p95 = 0.42, must be < 0.3" in dict(a.annotations)["summary"]


def test_dedup_keys_are_stable_and_distinct() -> None:
    k = AlertKey("lat", "fail", (("route", "/a"),), "run-1")
    assert k.dedup_key == dedup_key("lat", "fail", (("route", "/a"),), "run-1")
    assert k.dedup_key == "castiel-" + k.dedup_key.split("-", 1)[1]
    assert len(k.dedup_key) <= 255
    others = {
        AlertKey("lat", "warn", (("route", "/a"),), "run-1").dedup_key,
        AlertKey("lat", "fail", (("route", "/b"),), "run-1").dedup_key,
        AlertKey("lat", "fail", (("route", "/a"),), "run-2").dedup_key,
        AlertKey("err", "fail", (("route", "/a"),), "run-1").dedup_key,
    }
    assert k.dedup_key not in others and len(others) == 4


def test_a_disabled_budget_never_alerts() -> None:
    d = Driver(BASE + "budgets:\n  api-latency: {enabled: false}\n")
    for t in range(0, 40):
        d.at(t, [inp(reached=Level.FAIL, observed=0.5)])
    assert d.sent == []


def test_a_mute_window_holds_notifications_until_it_ends() -> None:
    # T0 is 2026-09-21 14:13:20 UTC: mute the chat route 14:00-15:00 UTC
    text = BASE.replace(
        "    - receiver: chat   #",
        "    - receiver: chat\n      mute_time_intervals: [lunch]  #",
    ) + (
        "time_intervals:\n  - name: lunch\n    time_intervals:\n"
        '      - times: [{start_time: "14:00", end_time: "15:00"}]\n'
    )
    d = Driver(text)
    for t in range(0, 3600, 60):
        d.at(t, [inp(reached=Level.FAIL, observed=0.5)])
    (chat,) = d.to("chat")
    sent = datetime.fromtimestamp(chat.created_at, tz=UTC)
    assert sent.hour == 15 and sent.minute < 6  # the first group_interval tick after 15:00
    # the pager route is not muted
    assert d.to("pager")[0].created_at == T0 + 60

"""Budgets' verdicts -> alert inputs, and standalone rules evaluated by the budgets evaluator."""

from __future__ import annotations

from alerts.from_verdicts import alert_input
from alerts.pipeline import EngineState, tick
from alerts.rules import evaluate_rules
from budgets.evaluate import evaluate
from budgets.model import Level
from budgets.spec import parse_budgets
from collectors.model import MetricKind, Point, RunInfo, SeriesData, SeriesKey
from tests.alerts.helpers import T0, config

RUN = RunInfo(id="run-7", started_at=T0)


def depth(values: list[float], queue: str = "email") -> SeriesData:
    key = SeriesKey.of("castiel_queue_jobs", {"queue": queue, "state": "wait"})
    return SeriesData(key, MetricKind.GAUGE, tuple(Point(T0 + i, v) for i, v in enumerate(values)))


def test_a_verdict_becomes_an_alert_input_with_its_evidence() -> None:
    spec = parse_budgets(
        """
version: 1
budgets:
  - name: queue-depth
    metric: castiel_queue_jobs{state="wait"}
    aggregation: max
    warn: "< 500"
    fail: "< 2000"
    group_by: queue
    min_samples: 1
"""
    )
    verdicts = evaluate(spec.budgets, [depth([10, 700, 20]), depth([3, 4], "sms")], RUN, now=T0 + 3)
    inputs = {dict(i.group)["queue"]: i for i in (alert_input(v, "run-7") for v in verdicts)}
    email = inputs["email"]
    assert (email.rule, email.reached, email.observed, email.run_id) == (
        "queue-depth",
        Level.WARN,
        700.0,
        "run-7",
    )
    assert email.thresholds == ((Level.WARN, "< 500"), (Level.FAIL, "< 2000"))
    assert email.levels() == (Level.WARN, Level.FAIL)
    assert email.metric.startswith("castiel_queue_jobs") and email.aggregation == "max"
    assert inputs["sms"].reached is Level.PASS and not inputs["sms"].missing


def test_missing_data_is_carried_as_missing() -> None:
    spec = parse_budgets(
        "version: 1\nbudgets:\n  - {name: b, metric: nothing_here, aggregation: max, "
        'fail: "< 1", on_missing: fail}\n'
    )
    (v,) = evaluate(spec.budgets, [], RUN, now=T0)
    i = alert_input(v, "run-7")
    assert i.missing and i.observed is None and i.levels() == (Level.FAIL,)


RULES = """
route: {receiver: r, group_wait: 0s, group_interval: 1s}
receivers: [{name: r, console: {}}]
rules:
  - name: email-backlog
    metric: castiel_queue_jobs{queue="email",state="wait"}
    aggregation: max
    window: 10s
    fail: "< 1000"
  - name: any-backlog-ever
    metric: castiel_queue_jobs{state="wait"}
    aggregation: max
    fail: "< 1000"
    group_by: [queue]
"""


def test_windowed_rules_see_the_last_window_and_recover() -> None:
    cfg = config(RULES)
    values = [10.0] * 5 + [5000.0] * 5 + [10.0] * 30
    series = depth(values)
    state = EngineState()
    fired_at = resolved_at = None
    for t in range(len(values)):
        inputs = evaluate_rules(cfg.rules, [replace_points(series, t)], RUN, T0 + t)
        r = tick(cfg, state, inputs, [], T0 + t, scope=RUN.id)
        state = r.state
        for n in r.notifications:
            for a in n.alerts:
                if a.evidence.rule == "email-backlog" and a.status == "firing":
                    fired_at = fired_at or t
                if a.evidence.rule == "email-backlog" and a.status == "resolved":
                    resolved_at = resolved_at or t
    assert fired_at == 5
    assert resolved_at is not None and 19 <= resolved_at <= 21  # window of 10 s after the spike
    kinds = {a.evidence.kind for rec in state.alerts.values() for a in [rec]}
    assert kinds == {"rule"}  # the whole-run rule still fires: it saw 5000 once
    assert {rec.evidence.rule for rec in state.alerts.values()} == {"any-backlog-ever"}


def replace_points(s: SeriesData, upto: int) -> SeriesData:
    return SeriesData(s.key, s.kind, s.points[: upto + 1])

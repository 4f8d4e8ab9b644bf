"""Budgets that name a PromQL expression (`promql:`): the typed spec, located errors, and
evaluation over the series a Prometheus source collects the expression into. The real
Prometheus side is in tests/castiel/test_cli_fleet.py."""

from __future__ import annotations

import pytest

from budgets.evaluate import evaluate
from budgets.model import Level, PromQLKind
from budgets.spec import (
    BudgetSpecError,
    check_promql_syntax,
    parse_budgets,
    promql_series_name,
)
from collectors.model import MetricKind, Point, RunInfo, SeriesData, SeriesKey

GOOD = """\
budgets:
  - name: checkout p95
    promql: histogram_quantile(0.95, sum by (le) (rate(x_bucket{route="/checkout"}[1m])))
    aggregation: max
    fail: "< 300ms"
  - name: orders_done
    promql:
      expr: sum by (queue) (increase(castiel_jobs_total{outcome="completed"}[$__interval]))
      kind: counter
    aggregation: rate
    fail: "> 2"
    group_by: [queue]
"""


def test_promql_budgets_become_series_the_evaluator_reads() -> None:
    p95, done = parse_budgets(GOOD, "b.yaml").budgets
    assert p95.promql is not None and done.promql is not None
    assert p95.promql.kind is PromQLKind.GAUGE and done.promql.kind is PromQLKind.COUNTER
    assert p95.promql.expr.startswith("histogram_quantile(0.95,")
    assert done.promql.series == "castiel_promql:orders_done"
    assert str(done.selector) == "castiel_promql:orders_done"
    # Names that are not metric-name safe get a slug plus a hash: distinct budgets never share.
    assert p95.promql.series.startswith("castiel_promql:checkout_p95_")
    assert promql_series_name("checkout p95") != promql_series_name("checkout-p95")

    run = RunInfo("r", started_at=0.0, ended_at=10.0)
    series = [
        SeriesData(
            SeriesKey.of(p95.promql.series),
            MetricKind.GAUGE,
            (Point(2.0, 0.12), Point(4.0, 0.35), Point(6.0, 0.2)),
        ),
        SeriesData(
            SeriesKey.of(done.promql.series, {"queue": "orders"}),
            MetricKind.COUNTER,
            tuple(Point(float(t), 30.0) for t in range(1, 11)),
        ),
    ]
    v_p95, v_done = evaluate([p95, done], series, run)
    assert v_p95.status is Level.FAIL and v_p95.observed == pytest.approx(0.35)
    assert v_done.status is Level.PASS and dict(v_done.group) == {"queue": "orders"}
    assert v_done.observed == pytest.approx(30.0)


def test_without_its_series_a_promql_budget_says_where_the_data_comes_from() -> None:
    (budget, _) = parse_budgets(GOOD, "b.yaml").budgets
    (verdict,) = evaluate([budget], [], RunInfo("r", started_at=0.0, ended_at=10.0))
    assert verdict.status is Level.FAIL  # on_missing: fail, never a silent pass
    assert "no data for the PromQL expression" in verdict.message
    assert "sources.prometheus" in verdict.message


def _error(text: str) -> str:
    with pytest.raises(BudgetSpecError) as err:
        parse_budgets(text, "b.yaml")
    return str(err.value)


def _one(promql: str, rest: str = 'aggregation: max\n    fail: "< 1"') -> str:
    return f"budgets:\n  - name: x\n    promql: {promql}\n    {rest}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_one("sum(rate(x[1m])"), "b.yaml:3:13: budgets[0](x).promql: '(' at character 4"),
        (_one("sum(x))"), "b.yaml:3:13: budgets[0](x).promql: unbalanced ')' at character 7"),
        (_one("'sum(x{a=\"b})'"), "b.yaml:3:13: budgets[0](x).promql: unterminated string"),
        (_one("''"), "b.yaml:3:13: budgets[0](x).promql: the PromQL expression is empty"),
        (
            _one("{expr: 'sum(x_total)', kind: counter}"),
            "b.yaml:3:20: budgets[0](x).promql.expr: a counter expression must measure the "
            "collection interval",
        ),
        (
            _one("{expr: 'sum(x)', kind: summary}"),
            "b.yaml:3:36: budgets[0](x).promql.kind: unknown kind 'summary'",
        ),
        (_one("{kind: gauge}"), "b.yaml:3:13: budgets[0](x).promql.expr: missing expr"),
        (
            _one("{expr: up, kynd: gauge}"),
            "b.yaml:3:24: budgets[0](x).promql.kynd: unknown key 'kynd' (hint: did you mean",
        ),
        (
            _one("sum(x)", 'aggregation: rate\n    fail: "> 1"'),
            "b.yaml:3:13: budgets[0](x).promql: rate is not defined for a gauge expression",
        ),
        (
            _one("a / b", 'aggregation: ratio\n    denominator: y\n    fail: "< 1"'),
            "b.yaml:3:13: budgets[0](x).promql: ratio needs two selectors",
        ),
        (
            "budgets:\n  - name: x\n    metric: up\n    promql: up\n    aggregation: max\n"
            '    fail: "< 1"\n',
            "b.yaml:4:5: budgets[0](x).promql: give metric: or promql:, not both",
        ),
        (
            _one("up", 'labels: {job: a}\n    aggregation: max\n    fail: "< 1"'),
            "b.yaml:4:5: budgets[0](x).labels: labels: narrows a metric: selector",
        ),
    ],
)
def test_bad_promql_budgets_name_file_line_and_key(text: str, expected: str) -> None:
    assert _error(text).startswith(expected), _error(text)


def test_syntax_check_knows_strings_and_comments() -> None:
    check_promql_syntax('sum by (route) (rate(x{route=~"/a\\\\(.*"}[5m]))')  # ( inside a string
    check_promql_syntax("sum(x) # a comment with an unbalanced (")
    check_promql_syntax("count(up{job=`shop)`})")
    with pytest.raises(ValueError, match="never closed"):
        check_promql_syntax("sum(x{a='b'}")

"""k6 compatibility: k6's own valid and invalid threshold strings (the cases of its parser
tests: metrics/thresholds_parsing_test.go, metrics/metric_test.go, metrics/thresholds_test.go
in grafana/k6) through `castiel budgets validate`, and what the accepted ones mean against
Locust's series."""

from __future__ import annotations

from pathlib import Path

import pytest

from budgets.aggregations import MAX
from budgets.evaluate import evaluate
from budgets.model import Level, Op
from budgets.spec import BudgetSpecError, parse_budgets
from castiel.cli import main
from collectors.model import RunInfo

from .helpers import counter, every, gauge, hist

SECONDS = range(1, 101)
RUN = RunInfo("run-1", started_at=0.0, ended_at=100.0, scenario="normal")


def validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "k6.yaml"
    path.write_text(text)
    code = main(["budgets", "validate", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


def one_threshold(metric: str, expression: str) -> str:
    return f"thresholds:\n  '{metric}': ['{expression}']\n"


# k6: TestParseThresholdExpression, TestScanThresholdExpression,
# TestParseThresholdAggregationMethod and TestThresholdsValidate (valid combinations).
VALID = [
    ("http_reqs", "count>20"),
    ("http_reqs", "count==1"),
    ("http_reqs", "rate==1"),
    ("http_reqs{method:GET}", "rate==1"),
    ("iterations", "count>0"),
    ("vus", "value==1"),
    ("vus_max", "value<=100"),
    ("http_req_failed", "rate<0.01"),
    ("http_req_failed", "rate==1"),
    ("checks", "rate>0.99"),
    ("http_req_duration", "avg==1"),
    ("http_req_duration", "min==1"),
    ("http_req_duration", "max==1"),
    ("http_req_duration", "med==1"),
    ("http_req_duration", "p(99)==1"),
    ("http_req_duration", "p(99.9)<500"),
    ("http_req_duration", "p(0)<5"),
    ("http_req_duration", "avg<=200"),
    ("http_req_duration", "avg<200"),
    ("http_req_duration", "avg>=200"),
    ("http_req_duration", "avg>200"),
    ("http_req_duration", "avg===200"),
    ("http_req_duration", "avg!=200"),
    ("http_req_duration", "  avg  <=200"),
    ("http_req_duration", "avg<=  200  "),
    ("http_req_duration{name:http://${}.com}", "p(95)<200"),
    ("http_req_duration{status:200}", "p(95)<200"),
    ("http_req_duration{expected_response:true}", "p(95)<200"),
    ("http_req_duration{name:/orders, method:POST}", "p(95)<200"),
    ("http_req_duration{scenario:normal}", "p(95)<200"),
    ('http_req_duration{name:"/orders"}', "p(95)<200"),
]

# k6 rejects these too (exit 2 there and here).
INVALID = [
    ("http_reqs", "count!20", "not a threshold expression"),
    ("http_reqs", "foo>20", "not an aggregation k6 allows"),
    ("http_reqs", "count>abc", "not a number"),
    ("http_req_duration", "p()<20", "not an aggregation k6 allows"),
    ("http_req_duration", "p(99<20", "not a threshold expression"),
    ("http_req_duration", "p(foo)<20", "not an aggregation k6 allows"),
    ("http_reqs", "foo&1", "not a threshold expression"),
    ("http_req_duration", "rate<1", "not an aggregation k6 allows on a trend"),
    ("http_req_duration", "count<1", "not an aggregation k6 allows on a trend"),
    ("http_reqs", "avg<1", "not an aggregation k6 allows on a counter"),
    ("vus", "rate<1", "not an aggregation k6 allows on a gauge"),
    ("http_req_failed", "count<1", "not an aggregation k6 allows on a rate"),
    ("http_req_duration{easyas}", "p(95)<200", "malformed tag"),
    ("http_req_duration{easyas:}", "p(95)<200", "malformed tag"),
    ("http_req_duration{abc:123,easyas:}", "p(95)<200", "malformed tag"),
    ("http_req_duration{abc:123,easyas:doremi", "p(95)<200", "malformed metric name"),
    ("http_req_durationabc:123,easyas:doremi}", "p(95)<200", "not a metric selector"),
    ("http_req_duration}abc:123,easyas:doremi}", "p(95)<200", "not a metric selector"),
    ("http_req_duration{foo:ba}r", "p(95)<200", "malformed metric name"),
]

# k6 accepts these; Castiel cannot evaluate them against Locust and says so (exit 2).
CANNOT_HONOUR = [
    ("http_req_duration{group:::mygroup}", "p(95)<200", "{group:::mygroup}"),
    ("http_req_duration{name:x,url:ssh://github.com:grafana/k6}", "p(95)<200", "{url:"),
    ("http_req_duration{abc:123}", "p(95)<200", "{abc:123}"),
    ("http_req_waiting", "p(95)<200", "does not split a request into phases"),
    ("iteration_duration", "p(95)<200", "does not time whole task iterations"),
    ("data_received", "count>0", "does not count bytes"),
    ("group_duration", "avg<10", "no groups"),
    ("ws_sessions", "count>0", "no equivalent"),
    ("checks{check:status is 200}", "rate>0.9", "cannot be honoured"),
    ("vus{scenario:x}", "value>1", "cannot be honoured"),
]


@pytest.mark.parametrize(("metric", "expression"), VALID)
def test_k6_valid_thresholds_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str, expression: str
) -> None:
    code, out = validate(tmp_path, one_threshold(metric, expression), capsys)
    assert code == 0, out
    assert "1 budgets OK" in out


@pytest.mark.parametrize(("metric", "expression", "message"), INVALID)
def test_k6_invalid_thresholds_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str, expression: str, message: str
) -> None:
    code, out = validate(tmp_path, one_threshold(metric, expression), capsys)
    assert code == 2
    assert message in out and "k6.yaml:" in out


@pytest.mark.parametrize(("metric", "expression", "message"), CANNOT_HONOUR)
def test_what_k6_accepts_but_castiel_cannot_honour_exits_2_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str, expression: str, message: str
) -> None:
    code, out = validate(tmp_path, one_threshold(metric, expression), capsys)
    assert code == 2
    assert message in out
    assert "cannot be honoured" in out or "no equivalent" in out


def test_the_object_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
thresholds:
  http_req_failed:
    - threshold: rate<0.01
      abortOnFail: true
      delayAbortEval: 10s
    - {threshold: "rate<0.05", abortOnFail: true, delayAbortEval: null}
    - {threshold: "rate<0.1", abortOnFail: false}
    - {threshold: "rate<0.2"}
    - "rate<0.3"
"""
    code, out = validate(tmp_path, text, capsys)
    assert code == 0, out
    budgets = {b.name: b for b in parse_budgets(text).budgets}
    first = budgets["http_req_failed rate<0.01"]
    assert first.thresholds[0][0] is Level.ABORT and first.abort_after == 10.0
    assert budgets["http_req_failed rate<0.05"].thresholds[0][0] is Level.ABORT
    assert budgets["http_req_failed rate<0.05"].abort_after is None
    assert budgets["http_req_failed rate<0.1"].thresholds[0][0] is Level.FAIL
    bad = "thresholds:\n  http_reqs: [{abortOnFail: true}]\n"
    code, out = validate(tmp_path, bad, capsys)
    assert code == 2 and "missing threshold" in out
    bad = "thresholds:\n  http_reqs: [{threshold: 'count>1', abortOnfail: true}]\n"
    code, out = validate(tmp_path, bad, capsys)
    assert code == 2 and "did you mean 'abortOnFail'" in out


def test_castiel_names_refuse_a_bare_number_on_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The defect: `p(95)<500` on a seconds metric silently meant 500 seconds."""
    code, out = validate(
        tmp_path, one_threshold("castiel_http_request_duration_seconds", "p(95)<500"), capsys
    )
    assert code == 2
    assert "ambiguous" in out and "did you mean 500ms?" in out
    long_form = (
        "budgets:\n  - name: x\n    metric: castiel_http_request_duration_seconds\n"
        "    aggregation: p95\n    fail: '< 0.25'\n"
    )
    code, out = validate(tmp_path, long_form, capsys)
    assert code == 2 and "did you mean 250ms?" in out and "k6.yaml:5:" in out
    for fine in ("p(95)<500ms", "p(95)<0.5s", "rate>10", "count>100", "p(95)<0"):
        code, out = validate(
            tmp_path, one_threshold("castiel_http_request_duration_seconds", fine), capsys
        )
        assert code == 0, (fine, out)


# --- what the accepted thresholds mean -------------------------------------------------------

EP = {"name": "/orders", "method": "POST"}
OTHER = {"name": "/items", "method": "GET"}


def locust_series() -> list:  # type: ignore[type-arg]
    return [
        hist("locust_request_duration_seconds", every(SECONDS, [0.4] * 9 + [0.6]), EP),
        hist("locust_request_duration_seconds", every(SECONDS, [0.01] * 10), OTHER),
        counter("locust_requests_total", every(SECONDS, 10), EP),  # type: ignore[arg-type]
        counter("locust_requests_total", every(SECONDS, 10), OTHER),  # type: ignore[arg-type]
        counter("locust_failures_total", every(SECONDS, 1), EP),  # type: ignore[arg-type]
        counter("locust_failures_total", every(SECONDS, 0), OTHER),  # type: ignore[arg-type]
        counter("locust_iterations_total", every(SECONDS, 15)),  # type: ignore[arg-type]
        gauge("locust_users", {t: min(t, 20) for t in SECONDS}),
        counter(
            "locust_responses_total",
            every(SECONDS, 19),  # type: ignore[arg-type]
            {**EP, "status": "200", "expected_response": "true"},
        ),
        counter(
            "locust_responses_total",
            every(SECONDS, 1),  # type: ignore[arg-type]
            {**EP, "status": "500", "expected_response": "false"},
        ),
        hist(
            "locust_response_duration_seconds",
            every(SECONDS, [0.4] * 9),
            {**EP, "status": "200", "expected_response": "true"},
        ),
        hist(
            "locust_response_duration_seconds",
            every(SECONDS, [0.6]),
            {**EP, "status": "500", "expected_response": "false"},
        ),
    ]


@pytest.mark.parametrize(
    ("metric", "expression", "observed", "status"),
    [
        ("http_req_duration", "p(99)<500", 0.6, Level.FAIL),  # 500 ms, not 500 s
        ("http_req_duration", "p(95)<500", 0.4, Level.PASS),
        ("http_req_duration{name:/orders}", "p(90)<500", 0.4, Level.PASS),
        ("http_req_duration{name:/items}", "max<=10", 0.01, Level.PASS),
        ("http_req_duration{expected_response:true}", "max<500", 0.4, Level.PASS),
        ("http_req_duration{status:500}", "min>=600", 0.6, Level.PASS),
        ("http_req_failed", "rate<0.01", 0.05, Level.FAIL),  # a fraction: 100 of 2000
        ("http_req_failed{name:/items}", "rate==0", 0.0, Level.PASS),
        ("http_req_failed{status:500}", "rate==1", 1.0, Level.PASS),
        ("http_reqs", "count>=2000", 2000.0, Level.PASS),
        ("http_reqs", "rate>25", 20.0, Level.FAIL),  # per second
        ("http_reqs{method:post}", "count==1000", 1000.0, Level.PASS),
        ("iterations", "rate>=15", 15.0, Level.PASS),
        ("vus", "value==20", 20.0, Level.PASS),
        ("vus_max", "value<20", 20.0, Level.FAIL),
        ("checks", "rate>0.99", 0.95, Level.FAIL),
        ("checks", "rate>=0.95", 0.95, Level.PASS),
    ],
)
def test_k6_thresholds_mean_what_they_mean_in_k6(
    metric: str, expression: str, observed: float, status: Level
) -> None:
    (budget,) = parse_budgets(one_threshold(metric, expression)).budgets
    (v,) = evaluate([budget], locust_series(), RUN)
    assert v.observed == pytest.approx(observed, rel=0.01)  # percentiles: within 1 %
    assert v.status is status, v


def test_scenario_filter_applies_to_that_scenario_only() -> None:
    (budget,) = parse_budgets(one_threshold("http_req_duration{scenario:peak}", "p(95)<1")).budgets
    assert budget.run_scenario == "peak"
    (v,) = evaluate([budget], locust_series(), RUN)  # a `normal` run
    assert v.status is Level.PASS and v.missing and "scenario" in v.message
    (v,) = evaluate([budget], locust_series(), RunInfo("p", 0.0, 100.0, scenario="peak"))
    assert v.status is Level.FAIL and v.observed == pytest.approx(0.4, rel=0.01)


def test_k6_operators_everywhere() -> None:
    text = "budgets:\n  - {name: a, metric: m, aggregation: max, fail: '== 3'}\n"
    (b,) = parse_budgets(text).budgets
    assert b.thresholds[0][1].op is Op.EQ
    text = "budgets:\n  - {name: a, metric: m, aggregation: max, fail: '!= 3', warn: '< 9'}\n"
    (b,) = parse_budgets(text).budgets
    assert {lv: c.op for lv, c in b.thresholds} == {Level.WARN: Op.LT, Level.FAIL: Op.NE}
    assert b.aggregation.kind is MAX
    with pytest.raises(BudgetSpecError, match=r"not a condition|not a threshold"):
        parse_budgets("budgets:\n  - {name: a, metric: m, aggregation: max, fail: '=> 3'}\n")

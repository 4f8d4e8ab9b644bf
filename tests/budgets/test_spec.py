"""Budget files: the forms that parse, and located errors with hints for the ones that don't."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from budgets.aggregations import AVG, PERCENTILE, Aggregation
from budgets.model import BaselineRef, Level, MissingPolicy, Scope
from budgets.schema import budget_file_schema
from budgets.selectors import MatchKind, parse_selector
from budgets.shorthand import parse_condition, parse_shorthand
from budgets.spec import BudgetSpecError, load_budget_file, parse_budgets
from collectors.model import SeriesKey

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "budgets.yaml"


def errors(text: str) -> list[str]:
    with pytest.raises(BudgetSpecError) as info:
        parse_budgets(text, "b.yaml")
    return [str(i) for i in info.value.issues]


def test_full_form() -> None:
    (b,) = parse_budgets(
        """
version: 1
defaults: {ramp_up: 30s, min_samples: 50}
budgets:
  - name: api-p95
    description: fast
    metric: http_seconds{route=*"/api/*",status!="500"}
    labels: {method: GET, host: {regex: "web-[0-9]+"}}
    aggregation: p95
    warn: "< 200ms"
    fail: "< 0.3s"
    abort: "< 2s"
    scope: {window: 1m, for: 5m}
    group_by: [route, method]
    on_missing: warn
    baseline: {against: release-1, max_regression: 15%, alpha: 0.01, chunk: 30s,
               min_chunks: 4, on_regression: warn, on_inconclusive: pass}
""",
        "b.yaml",
    ).budgets
    assert b.name == "api-p95" and b.description == "fast"
    assert b.aggregation == Aggregation(PERCENTILE, 95.0)
    assert [(lv, str(c)) for lv, c in b.thresholds] == [
        (Level.WARN, "< 0.2"),
        (Level.FAIL, "< 0.3"),
        (Level.ABORT, "< 2"),
    ]
    assert b.scope == Scope(window=60.0, sustained=300.0)
    assert (b.ramp_up, b.min_samples, b.on_missing) == (30.0, 50, MissingPolicy.WARN)
    assert b.group_by == ("route", "method")
    assert b.baseline is not None
    assert (b.baseline.ref, b.baseline.name) == (BaselineRef.NAMED, "release-1")
    assert b.baseline.max_increase == pytest.approx(0.15)
    assert (b.baseline.alpha, b.baseline.chunk, b.baseline.min_chunks) == (0.01, 30.0, 4)
    assert (b.baseline.on_regression, b.baseline.on_inconclusive) == (Level.WARN, Level.PASS)
    assert b.location is not None and (b.location.line, b.location.column) == (5, 5)
    hit = SeriesKey.of(
        "http_seconds", {"route": "/api/x", "status": "200", "method": "GET", "host": "web-12"}
    )
    assert b.selector.matches(hit)
    for change in ({"status": "500"}, {"method": "POST"}, {"host": "web-x"}, {"route": "/x"}):
        assert not b.selector.matches(SeriesKey.of(hit.name, {**hit.label_dict, **change}))


def test_shorthand_forms() -> None:
    bs = parse_budgets(
        """
budgets:
  - {name: a, metric: m, fail: "p(99.9)<1s"}
  - {name: b, metric: m, threshold: "avg<=100ms", warn: "<= 50ms"}
  - {name: c, metric: m, aggregation: p95, fail: "p(95) < 0.3"}
thresholds:
  m{route="/x"}: ["p(95)<200ms", "rate>10"]
  other: "max<5"
""",
        "b.yaml",
    ).budgets
    by = {b.name: b for b in bs}
    assert str(by["a"].aggregation) == "p99.9" and str(by["a"].thresholds[0][1]) == "< 1"
    assert [lv for lv, _ in by["b"].thresholds] == [Level.WARN, Level.FAIL]
    assert by["b"].aggregation.kind is AVG
    k6 = by['m{route="/x"} p(95)<200ms']
    assert k6.thresholds == ((Level.FAIL, parse_condition("< 0.2")),)
    assert k6.selector.matches(SeriesKey.of("m", {"route": "/x"}))
    assert 'm{route="/x"} rate>10' in by and "other max<5" in by


@pytest.mark.parametrize(
    ("text", "agg", "op", "value"),
    [
        ("p(95)<200", "p95", "<", 200.0),
        ("p(99.9) <= 1.5s", "p99.9", "<=", 1.5),
        ("avg<250ms", "avg", "<", 0.25),
        ("rate>50", "rate", ">", 50.0),
        ("med<1", "p50", "<", 1.0),
        ("count>=100", "count", ">=", 100.0),
        ("max<2e-3", "max", "<", 0.002),
        ("ratio<1%", "ratio", "<", 0.01),
        ("p99<500us", "p99", "<", 0.0005),
    ],
)
def test_k6_shorthand(text: str, agg: str, op: str, value: float) -> None:
    a, c = parse_shorthand(text)
    assert (str(a), c.op.value) == (agg, op)
    assert c.value == pytest.approx(value)


@pytest.mark.parametrize("text", ["p(95)", "p95 << 3", "banana<3", "p(101)<3", "<", "avg<fast"])
def test_bad_shorthand(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shorthand(text)


def test_selector_parsing() -> None:
    s = parse_selector('castiel_x{a="1", b!="2",c=~"3|4",d!~"5.*",e=*"/api/*",f!*"*.js"}')
    kinds = [(k, m.kind, m.negate) for k, m in s.labels]
    assert kinds == [
        ("a", MatchKind.EXACT, False),
        ("b", MatchKind.EXACT, True),
        ("c", MatchKind.REGEX, False),
        ("d", MatchKind.REGEX, True),
        ("e", MatchKind.GLOB, False),
        ("f", MatchKind.GLOB, True),
    ]
    assert parse_selector("castiel_cache_*_total").matches(SeriesKey.of("castiel_cache_hits_total"))
    # regexes are anchored like PromQL
    assert not parse_selector('m{s=~"5.."}').matches(SeriesKey.of("m", {"s": "1500"}))
    # a missing label matches like ""
    assert parse_selector('m{s!="x"}').matches(SeriesKey.of("m"))
    with pytest.raises(ValueError, match="cannot parse labels"):
        parse_selector("m{a=1}")


def test_yaml_syntax_error_is_located() -> None:
    (msg,) = errors("budgets:\n  - name: a\n    metric: [unclosed\n")
    assert msg.startswith("b.yaml:4:1:") and "not valid YAML" in msg


@pytest.mark.parametrize(
    ("body", "where", "needle"),
    [
        ("    metric: m\n    aggregation: p95\n    fail: 0.3\n", "5:11", "bare number"),
        ("    metric: m\n    aggregation: p9x\n    fail: '<1'\n", "4:18", "unknown aggregation"),
        (
            "    metric: m\n    aggregaton: p95\n    fail: '<1'\n",
            "4:5",
            "did you mean 'aggregation'",
        ),
        (
            "    metric: m\n    aggregation: p95\n    fail: '<1'\n    ramp_up: soon\n",
            "6:14",
            "not a duration",
        ),
        (
            "    metric: m{a=~\"(\"}\n    aggregation: p95\n    fail: '<1'\n",
            "3:13",
            "invalid regex",
        ),
        (
            "    metric: m\n    aggregation: p95\n    warn: '< 2'\n    fail: '< 1'\n",
            "2:5",
            "looser",
        ),
        (
            "    metric: m\n    aggregation: p95\n    warn: '> 2'\n    fail: '< 1'\n",
            "2:5",
            "disagree",
        ),
        ("    metric: m\n    aggregation: ratio\n    fail: '<1'\n", "2:5", "needs a denominator"),
        ("    metric: m\n    aggregation: p95\n", "2:5", "no thresholds"),
        ("    metric: m\n    fail: '< 1'\n", "2:5", "missing aggregation"),
        ("    aggregation: p95\n    fail: '< 1'\n", "2:5", "missing metric"),
        ("    metric: m\n    aggregation: avg\n    fail: 'p(95)<1'\n", "5:11", "conflicts"),
        (
            "    metric: m\n    aggregation: p95\n    fail: '<1'\n    on_missing: maybe\n",
            "6:17",
            "fail, warn, pass",
        ),
        (
            "    metric: m\n    aggregation: p95\n    fail: '<1'\n    min_samples: -1\n",
            "6:18",
            ">= 0",
        ),
        (
            "    metric: m\n    aggregation: p95\n    fail: '<1'\n    scope: {window: 0s}\n",
            "6:21",
            "longer than 0",
        ),
        (
            "    metric: m\n    aggregation: p95\n    fail: '<1'\n    group_by: [a-b]\n",
            "6:16",
            "not a label name",
        ),
        (
            "    metric: m\n    aggregation: p95\n    fail: '<1'\n    baseline: {alpha: 2}\n",
            "6:23",
            "between 0 and 1",
        ),
    ],
)
def test_errors_name_file_line_column_key_and_hint(body: str, where: str, needle: str) -> None:
    msgs = errors("budgets:\n  - name: a\n" + body)
    assert any(m.startswith(f"b.yaml:{where}:") and needle in m for m in msgs), msgs
    assert all("budgets[0]" in m for m in msgs)


def test_all_problems_are_reported_at_once() -> None:
    msgs = errors(
        "budgets:\n"
        "  - {name: a, metric: m, aggregation: p95, fail: 1}\n"
        "  - {name: a, metric: m, aggregation: nope, fail: '<1'}\n"
        "  - {name: c, metric: m, aggregation: p95, fail: '<1'}\n"
        "  - {name: c, metric: m, aggregation: p95, fail: '<1'}\n"
    )
    assert len(msgs) == 3
    assert "duplicate budget name" in msgs[-1] and msgs[-1].startswith("b.yaml:5:5:")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("[1, 2]", "expected a mapping"),
        ("budgets: {}", "expected a list"),
        ("budgets: []", "no budgets"),
        ("version: 2\nbudgets: []", "unsupported version"),
        ("budgets:\n  - name: a\n    name: b\n", "duplicate key"),
        ("budget: []", "did you mean 'budgets'"),
    ],
)
def test_file_level_errors(text: str, needle: str) -> None:
    assert any(needle in m for m in errors(text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetSpecError, match="file not found"):
        load_budget_file(tmp_path / "nope.yaml")


def test_example_file_is_valid_and_covers_every_area() -> None:
    spec = load_budget_file(EXAMPLE)
    names = {b.name for b in spec.budgets}
    for area in ("api-", "queue-", "job-", "workers-", "cache-", "db-"):
        assert any(n.startswith(area) for n in names), area
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), budget_file_schema())


def test_json_schema_is_valid_and_rejects_what_the_loader_rejects() -> None:
    jsonschema.Draft202012Validator.check_schema(budget_file_schema())
    validator = jsonschema.Draft202012Validator(budget_file_schema())
    bad = [
        {"budgets": [{"name": "a", "metric": "m", "aggregation": "p95", "fail": 3}]},
        {"budgets": [{"name": "a", "metric": "m", "aggregaton": "p95", "fail": "<1"}]},
        {"budgets": [{"name": "a", "metric": "m", "aggregation": "p9x", "fail": "<1"}]},
        {"budgets": [{"name": "a", "metric": "m", "fail": "<1", "on_missing": "maybe"}]},
        {"budget": []},
    ]
    for doc in bad:
        assert list(validator.iter_errors(doc)), doc
        with pytest.raises(BudgetSpecError):
            parse_budgets(yaml.safe_dump(doc), "b.yaml")

"""Every registered aggregation is complete, and everything that lists aggregations reads the
registry: the budget grammar, the JSON Schema editors use, the evaluator, the units, both
exporters and docs/budgets.md."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from budgets import aggregations
from budgets.aggregations import AGGREGATIONS, RATE, AggKind, Aggregation
from budgets.evaluate import evaluate
from budgets.export.azure import AzureOptions, budget_query
from budgets.export.catalogue import Catalogue, MetricInfo
from budgets.export.promql import Unexpressible, value
from budgets.schema import budget_file_schema
from budgets.units import Unit, unit_of
from collectors.model import MetricKind
from tests.budgets.helpers import RUN, counter, every, gauge, hist, one
from tests.helpers import recipe

DOCS = Path(__file__).parents[2] / "docs" / "budgets.md"
SERIES = {
    MetricKind.HISTOGRAM: hist("h_seconds", every(range(1, 101), [0.1, 0.2, 0.3])),
    MetricKind.COUNTER: counter("c_total", dict.fromkeys(range(1, 101), 2.0)),
    MetricKind.GAUGE: gauge("g", dict.fromkeys(range(1, 101), 5.0)),
}
DENOMINATOR = counter("all_total", dict.fromkeys(range(1, 101), 10.0))
CATALOGUE = Catalogue(
    {
        "h_seconds": MetricInfo("h_seconds", MetricKind.HISTOGRAM),
        "c_total": MetricInfo("c_total", MetricKind.COUNTER),
        "g": MetricInfo("g", MetricKind.GAUGE),
        "all_total": MetricInfo("all_total", MetricKind.COUNTER),
    }
)


def budget_file(aggregation: str) -> dict[str, object]:
    return {"budgets": [{"name": "b", "metric": "m", "aggregation": aggregation, "fail": "< 1"}]}


def schema_errors(aggregation: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(budget_file_schema())
    return [e.message for e in validator.iter_errors(budget_file(aggregation))]


def test_names_are_unique() -> None:
    assert len({k.name for k in AGGREGATIONS}) == len(AGGREGATIONS)


@pytest.mark.parametrize("kind", AGGREGATIONS, ids=lambda k: k.name)
def test_every_spelling_parses_validates_and_round_trips(kind: AggKind) -> None:
    assert kind.examples
    for text in kind.examples:
        agg = Aggregation.parse(text)
        assert agg.kind is kind, text
        assert Aggregation.parse(str(agg)) == agg
        assert schema_errors(text) == [], text


@pytest.mark.parametrize("text", ["p95x", "average", "p(9x)", "rates", ""])
def test_a_wrong_spelling_is_refused_by_both_the_loader_and_the_schema(text: str) -> None:
    with pytest.raises(ValueError, match="unknown aggregation"):
        Aggregation.parse(text)
    assert schema_errors(text)


def test_the_unknown_aggregation_message_lists_the_registry() -> None:
    with pytest.raises(ValueError) as err:
        Aggregation.parse("mean")
    assert str(err.value) == (
        "unknown aggregation 'mean' (p50..p99.9, avg, min, max, rate, ratio, count, sum, last)"
    )


def _budget(kind: AggKind, metric: str, denominator: str = "all_total") -> str:
    spelled = kind.examples[0]
    extra = f"    denominator: {denominator}\n" if kind.denominator else ""
    return f"    metric: {metric}\n    aggregation: {spelled}\n    warn: '< 1000000s'\n{extra}"


@pytest.mark.parametrize("kind", AGGREGATIONS, ids=lambda k: k.name)
def test_the_evaluator_computes_it_where_it_is_defined(kind: AggKind) -> None:
    """Each defined (aggregation, series kind) gives a number; an undefined one gives an
    error verdict that says so, never a silent pass."""
    for series_kind, series in SERIES.items():
        budget = one(_budget(kind, series.key.name))
        [verdict] = evaluate([budget], [series, DENOMINATOR], RUN)
        defined = kind.denominator or (
            kind.histogram is not None
            if series_kind is MetricKind.HISTOGRAM
            else kind.scalar is not None and not (kind is RATE and series_kind is MetricKind.GAUGE)
        )
        if defined:
            assert verdict.observed is not None, (kind.name, series_kind, verdict.message)
        else:
            assert verdict.observed is None and "not defined" in verdict.message, verdict


@pytest.mark.parametrize("kind", AGGREGATIONS, ids=lambda k: k.name)
def test_its_unit_follows_its_rule(kind: AggKind) -> None:
    agg = Aggregation.parse(kind.examples[0])
    expected = kind.unit if kind.unit is not None else Unit.SECONDS
    assert unit_of("x_seconds", agg) is expected
    assert unit_of("x_total", agg) is (kind.unit if kind.unit is not None else Unit.NONE)


@pytest.mark.parametrize("kind", AGGREGATIONS, ids=lambda k: k.name)
def test_the_prometheus_export_writes_every_form_it_declares(kind: AggKind) -> None:
    declared = {
        MetricKind.HISTOGRAM: kind.promql.histogram,
        MetricKind.COUNTER: kind.promql.counter,
        MetricKind.GAUGE: kind.promql.gauge,
    }
    for series_kind, series in SERIES.items():
        budget = one(_budget(kind, series.key.name))
        if kind.denominator:
            if series_kind is not MetricKind.GAUGE:
                assert "all_total" in value(budget, 300, CATALOGUE)
            continue
        if declared[series_kind] is None:
            with pytest.raises(Unexpressible):
                value(budget, 300, CATALOGUE)
        else:
            expr = value(budget, 300, CATALOGUE)
            assert not re.search(r"\{[a-z_]+\}", expr), expr  # every placeholder filled
            assert series.key.name in expr


@pytest.mark.parametrize("kind", AGGREGATIONS, ids=lambda k: k.name)
def test_the_azure_export_writes_every_form_it_declares(kind: AggKind) -> None:
    requests = "castiel_http_requests_total"
    for family, form in (
        ("castiel_http_request_duration_seconds", kind.azure.durations),
        (requests, kind.azure.events),
    ):
        # A ratio is a share of the requests: both sides from the same table.
        metric = f'{requests}{{status="500"}}' if kind.denominator else family
        budget = one(_budget(kind, metric, denominator=requests))
        if kind.denominator:
            assert "sumif" in budget_query(budget, 300, AzureOptions(), binned=False)
        elif form is None:
            with pytest.raises(Unexpressible, match="no equivalent"):
                budget_query(budget, 300, AzureOptions(), binned=False)
        else:
            kql = budget_query(budget, 300, AzureOptions(), binned=False)
            assert "summarize value = " in kql and "{" not in kql, kql


@pytest.mark.parametrize("kind", AGGREGATIONS, ids=lambda k: k.name)
def test_docs_have_a_row_for_it(kind: AggKind) -> None:
    section = DOCS.read_text().split("## Aggregations", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    first_cells = [row.split("|")[1] for row in rows]
    assert any(f"`{x}`" in cell for x in kind.examples for cell in first_cells)


def test_the_new_aggregation_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/development.md "A new aggregation", run as written inside budgets/aggregations.py
    plus its AGGREGATIONS line: it parses, the schema accepts it, it evaluates with its unit
    and exports where it declares a form."""
    namespace = dict(vars(aggregations))
    exec(recipe("A new aggregation"), namespace)  # our own docs' block, as the module runs it
    spread: AggKind = namespace["SPREAD"]
    with pytest.raises(ValueError, match="unknown aggregation 'spread'"):
        Aggregation.parse("spread")  # not registered yet
    assert schema_errors("spread")
    monkeypatch.setattr(aggregations, "AGGREGATIONS", (*AGGREGATIONS, spread))

    assert Aggregation.parse("Spread").kind is spread
    assert schema_errors("spread") == []
    assert unit_of("x_seconds", Aggregation(spread)) is Unit.SECONDS
    latency = one(_budget(spread, "h_seconds"))
    [verdict] = evaluate([latency], [SERIES[MetricKind.HISTOGRAM]], RUN)
    assert verdict.observed == pytest.approx(0.2, rel=0.02), verdict.message
    [verdict] = evaluate([one(_budget(spread, "g"))], [SERIES[MetricKind.GAUGE]], RUN)
    assert verdict.observed == 0.0

    with pytest.raises(Unexpressible, match="smallest or largest"):
        value(latency, 300, CATALOGUE)
    assert value(one(_budget(spread, "g")), 300, CATALOGUE).count("_over_time") == 2
    kql = budget_query(
        one(_budget(spread, "castiel_http_request_duration_seconds")),
        300,
        AzureOptions(),
        binned=False,
    )
    assert "max(d) - min(d)" in kql, kql

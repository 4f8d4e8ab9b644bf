"""Budgets exported as Azure Monitor log alert rules and a workbook: every template validates
against JSON Schemas written in this project from Microsoft's documented properties (no
network), and every KQL query goes through the real azure-monitor-query client to the local
Log Analytics server the collector's tests use."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from budgets.export.azure import AzureExport, AzureOptions, budget_query, export_azure
from budgets.export.options import ExportOptions
from budgets.spec import load_budget_file, parse_budgets
from collectors.azure_kql import Schema, Window, requests_histogram_kql
from collectors.azure_monitor import logs_client
from tests.collectors.test_azure_monitor import (  # noqa: F401 - `server` is a fixture
    Answer,
    LogAnalytics,
    Token,
    server,
    table,
)
from tests.helpers import ROOT

HERE = Path(__file__).parent
ARM = json.loads((HERE / "arm_template.schema.json").read_text())
WORKBOOK = json.loads((HERE / "workbook.schema.json").read_text())
FILES = [ROOT / "examples" / "budgets.yaml", ROOT / "examples" / "cache-comparison.yaml"]
FILES.append(HERE / "corpus.yaml")


def exported(path: Path, schema: Schema = Schema.WORKSPACE) -> AzureExport:
    spec = load_budget_file(path)
    return export_azure(spec.budgets, ExportOptions(), AzureOptions(schema), str(path))


def validate(result: AzureExport) -> None:
    jsonschema.validate(result.template, ARM)
    (workbook,) = [r for r in result.template["resources"] if r["type"].endswith("workbooks")]
    jsonschema.validate(json.loads(workbook["properties"]["serializedData"]), WORKBOOK)
    jsonschema.validate(json.loads(result.workbook_json()), WORKBOOK)


@pytest.mark.parametrize("schema", list(Schema))
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_template_validates(path: Path, schema: Schema) -> None:
    result = exported(path, schema)
    validate(result)
    rules = [r for r in result.template["resources"] if r["type"].endswith("scheduledQueryRules")]
    assert rules and result.queries
    names = [r["name"] for r in rules]
    assert len(names) == len(set(names))


def test_the_schemas_refuse_what_azure_would_refuse() -> None:
    good = exported(ROOT / "examples" / "budgets.yaml").template
    rule = next(i for i, r in enumerate(good["resources"]) if "scheduledQueryRules" in r["type"])
    mistakes = [
        ("severity", 5),
        ("windowSize", "5 minutes"),
        ("scopes", []),
        ("enabled", "true"),
        ("evalutionFrequency", "PT5M"),
    ]
    for key, value in mistakes:
        bad = copy.deepcopy(good)
        bad["resources"][rule]["properties"][key] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, ARM)
    bad = copy.deepcopy(good)
    bad["resources"][rule]["properties"]["criteria"]["allOf"][0]["operator"] = ">="
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, ARM)
    bad = copy.deepcopy(good)
    del bad["resources"][rule]["location"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, ARM)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "Notebook/1.0", "items": [{"type": 3}]}, WORKBOOK)


def test_rules_carry_the_budget_threshold_window_and_sustained_scope() -> None:
    spec = parse_budgets(
        """
        defaults: {on_missing: pass}
        budgets:
          - name: checkout p95
            metric: castiel_http_request_duration_seconds{route="/checkout"}
            aggregation: p95
            warn: "< 250ms"
            fail: "< 500ms"
            group_by: [route, method]
            scope: {window: 5m, for: 10m}
            min_samples: 30
          - name: dependency failures
            metric: castiel_dependency_calls_total{success="false"}
            denominator: castiel_dependency_calls_total
            aggregation: ratio
            fail: "< 2%"
            group_by: type
          - {name: queue, metric: castiel_queue_jobs, aggregation: max, fail: "< 5"}
        """,
        "b.yaml",
    )
    result = export_azure(spec.budgets, ExportOptions(), AzureOptions(roles=("shop-api",)))
    rules = {
        r["name"]: r["properties"]
        for r in result.template["resources"]
        if "scheduledQueryRules" in r["type"]
    }
    assert set(rules) == {
        "castiel-checkout_p95-warn",
        "castiel-checkout_p95-fail",
        "castiel-dependency_failures-fail",
    }
    fail = rules["castiel-checkout_p95-fail"]
    (cond,) = fail["criteria"]["allOf"]
    assert (cond["operator"], cond["threshold"], cond["metricMeasureColumn"]) == (
        "GreaterThanOrEqual",
        0.5,
        "value",
    )
    assert [d["name"] for d in cond["dimensions"]] == ["route", "method"]
    # `for: 10m` over 5-minute evaluations: three failing periods in a row.
    assert cond["failingPeriods"] == {"numberOfEvaluationPeriods": 3, "minFailingPeriodsToAlert": 3}
    assert (fail["windowSize"], fail["evaluationFrequency"], fail["severity"]) == (
        "PT5M",
        "PT5M",
        0,
    )
    assert rules["castiel-checkout_p95-warn"]["severity"] == 2
    assert fail["actions"]["actionGroups"] == ["[parameters('actionGroupId')]"]
    assert fail["actions"]["customProperties"]["threshold"] == "< 500 ms"
    q = cond["query"]
    assert 'AppRoleName in ("shop-api")' in q and 'route == "/checkout"' in q
    assert "percentilew(d, w, 95)" in q and q.endswith("| where n >= 30")
    assert "by TimeGenerated = bin(TimeGenerated, 5m), route, method" in q
    ratio = rules["castiel-dependency_failures-fail"]["criteria"]["allOf"][0]["query"]
    assert 'num = sumif(w, success == "false"), n = sumif(w, true) by' in ratio
    notes = {n.budget: n.why for n in result.notes if n.what == "not exported"}
    assert "castiel_queue_jobs is not in Application Insights" in notes["queue"]


def test_queries_start_from_the_rows_the_collector_reads() -> None:
    """Same table, role filter and measures (seconds, ItemCount weights) as the collector's
    own request query; only the time range differs (the alert rule sets it)."""
    spec = parse_budgets(
        'budgets: [{name: p, metric: castiel_http_request_duration_seconds, fail: "p(95)<1s",'
        " on_missing: pass}]"
    )
    for schema in Schema:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        collector = requests_histogram_kql(schema, Window(now - timedelta(minutes=1), now), ["r"])
        untimed = [
            line
            for line in collector.splitlines()
            if "ingestion_time()" not in line and "extend t =" not in line
        ]
        kql = budget_query(spec.budgets[0], 300, AzureOptions(schema, ("r",)), binned=False)
        assert untimed[2].startswith("| extend d = todouble(")
        assert kql.splitlines()[:3] == untimed[:3]


# --- through the real client, to the local Log Analytics server ---------------------------------

_SUMMARY = re.compile(r"\| summarize (?P<aggs>.+?)(?: by (?P<by>.+))?$")


def _columns(kql: str) -> list[str]:
    """The columns the query's last summarize (and a following extend) produce."""
    lines = kql.splitlines()
    i = max(n for n, line in enumerate(lines) if line.startswith("| summarize"))
    m = _SUMMARY.match(lines[i])
    assert m is not None, lines[i]
    names = [part.split("=")[0].strip() for part in re.split(r",\s*(?![^()]*\))", m["aggs"])]
    keys = [k.split("=")[0].strip() for k in (m["by"] or "").split(", ") if k]
    extended = [line.split()[2] for line in lines[i + 1 :] if line.startswith("| extend")]
    return keys + names + extended


def test_every_query_runs_against_the_log_analytics_server(
    server: LogAnalytics,  # noqa: F811 - the collector tests' fixture
) -> None:
    def answer(path: str, body: dict[str, Any]) -> Answer:
        kql = str(body["query"])
        assert kql.split("\n", 1)[0] in ("AppRequests", "AppDependencies", "AppExceptions")
        assert kql.count("(") == kql.count(")"), kql
        cols = _columns(kql)
        types = {"TimeGenerated": "datetime", "value": "real", "n": "long", "num": "long"}
        row = ["2026-01-01T00:00:00Z" if c == "TimeGenerated" else 1 for c in cols]
        return 200, table([(c, types.get(c, "string")) for c in cols], [row]), {}

    server.answer = answer
    client = logs_client(server.url, Token())
    sent = 0
    for path in FILES:
        result = exported(path)
        rules = [
            r["properties"]
            for r in result.template["resources"]
            if "scheduledQueryRules" in r["type"]
        ]
        tiles = [q.tile for q in result.queries]
        for props in rules:
            (cond,) = props["criteria"]["allOf"]
            minutes = int(props["windowSize"].removeprefix("PT").removesuffix("M"))
            got = client.query_workspace(
                "ws-1", cond["query"], timespan=timedelta(minutes=minutes), enforce_https=False
            )
            columns = list(got.tables[0].columns)
            assert cond["metricMeasureColumn"] in columns
            assert "TimeGenerated" in columns
            assert {d["name"] for d in cond["dimensions"]} <= set(columns)
            sent += 1
        for kql in tiles:
            got = client.query_workspace(
                "ws-1", kql, timespan=timedelta(hours=1), enforce_https=False
            )
            assert "value" in got.tables[0].columns
            sent += 1
    assert sent > 20
    assert len(server.queries()) == sent

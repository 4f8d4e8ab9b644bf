"""Reports: JUnit XML parsed back, JSON against its schema, HTML holds every budget, Markdown
and the console table."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import jsonschema
from rich.console import Console

from budgets.evaluate import BaselineRun, evaluate
from budgets.model import Level
from budgets.reports import build_report
from budgets.reports.console import render_console
from budgets.reports.html import render_html
from budgets.reports.json_report import REPORT_SCHEMA, render_json
from budgets.reports.junit import render_junit
from budgets.reports.markdown import render_markdown
from collectors.model import RunInfo

from .helpers import RUN, budgets, counter, every, hist

SECONDS = range(1, 101)
TEXT = """
budgets:
  - name: latency
    description: p95 per route
    metric: http_seconds
    aggregation: p95
    warn: "< 200ms"
    fail: "< 300ms"
    group_by: route
    baseline: {max_regression: 10%}
  - name: errors
    metric: reqs_total{status=~"5.."}
    denominator: reqs_total
    aggregation: ratio
    fail: "< 1%"
  - name: ghost
    metric: not_collected
    aggregation: max
    fail: "< 1"
    on_missing: warn
"""
SERIES = [
    hist("http_seconds", every(SECONDS, [0.1] * 5), {"route": "/ok"}),
    hist("http_seconds", every(SECONDS, [0.25] * 5), {"route": "/meh"}),
    hist("http_seconds", every(SECONDS, [0.5] * 5), {"route": "/slow"}),
    counter("reqs_total", every(SECONDS, 100), {"status": "200"}),  # type: ignore[arg-type]
    counter("reqs_total", every(SECONDS, 5), {"status": "500"}),  # type: ignore[arg-type]
]


def report():  # type: ignore[no-untyped-def]
    base = BaselineRun(
        "last passing run base on branch main, scenario peak",
        RunInfo("base", 0.0, 100.0),
        SERIES[:3],
    )
    verdicts = evaluate(budgets(TEXT), SERIES, RUN, {"last_passing": base})
    return build_report(RUN, "budgets.yaml", verdicts, 1_700_000_000.0, [base.label])


def test_the_fixture_covers_every_status() -> None:
    statuses = {v.title: v.status for v in report().verdicts}
    assert statuses == {
        "latency [route=/meh]": Level.WARN,
        "latency [route=/ok]": Level.PASS,
        "latency [route=/slow]": Level.FAIL,
        "errors": Level.FAIL,
        "ghost": Level.WARN,
    }


def test_junit_parsed_back() -> None:
    root = ET.fromstring(render_junit(report()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("5", "2")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {
        "latency [route=/meh]",
        "latency [route=/ok]",
        "latency [route=/slow]",
        "errors",
        "ghost",
    }
    slow = cases["latency [route=/slow]"].find("failure")
    # the failure message names values in the budget's unit, as the body does
    assert slow is not None and slow.get("message") == "p95 500 ms > 300 ms (fail: < 300 ms)"
    assert "observed: 500 ms (p95)" in (slow.text or "")
    assert "samples: 500" in (slow.text or "")
    errors = cases["errors"].find("failure")
    assert errors is not None and "4.76%" in (errors.text or "")  # 500 / 10500
    assert errors.get("message") == "ratio 4.76% > 1% (fail: < 1%)"
    assert cases["latency [route=/ok]"].find("failure") is None
    ghost_out = cases["ghost"].find("system-out")
    assert ghost_out is not None and "missing data" in (ghost_out.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["run"] == "run-1" and props["status"] == "fail"
    assert props["baseline"].startswith("last passing run base")


def test_json_matches_its_schema_and_is_versioned() -> None:
    doc = json.loads(render_json(report()))
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    jsonschema.validate(doc, REPORT_SCHEMA)
    assert doc["schema_version"] == 1 and doc["status"] == "fail"
    assert doc["summary"] == {"pass": 1, "warn": 2, "fail": 2, "abort": 0}
    slow = next(v for v in doc["verdicts"] if v["group"] == {"route": "/slow"})
    assert slow["observed"] == 0.5 and slow["breached"] == "fail: < 0.3"
    assert slow["baseline"]["outcome"] == "pass" and slow["baseline"]["baseline_run"] == "base"
    assert slow["worst"] is not None and len(slow["trace"]) > 10


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.rows = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-budget"):
            self.sections.append(a["data-budget"] or "")
        if tag == "tr":
            self.rows += 1
        if tag in ("script", "link", "img") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href") or "")


def test_html_is_self_contained_and_has_every_budget() -> None:
    page = render_html(report())
    parser = _Collect()
    parser.feed(page)
    assert parser.sections == ["latency", "errors", "ghost"]
    assert parser.rows == 1 + 5  # header + one per verdict
    assert parser.external == []  # nothing loaded from elsewhere: plotly.js is inline
    assert "plotly" in page.lower() and len(page) > 1_000_000  # plotly.js is inline
    assert 'data-status="fail"' in page


def test_markdown_summary() -> None:
    md = render_markdown(report())
    assert md.startswith("## ❌ Castiel budgets: FAIL")
    assert "| ❌ | latency [route=/slow] | 500 ms (p95) |" in md
    assert "2 fail" in md and "Baselines: last passing run base" in md
    # thresholds are shown in the observed value's units
    assert "| warn < 200 ms, fail < 300 ms |" in md and "| fail < 1% |" in md


def test_every_report_says_the_baseline_comparisons_were_corrected_together() -> None:
    r = report()
    note = (
        "3 baseline comparison(s) were corrected together (Benjamini-Hochberg, false discovery "
        "rate 0.05)"
    )
    assert any(n.startswith(note) for n in r.notes)
    assert note in render_markdown(r)
    assert note in render_html(r)
    assert any(n.startswith(note) for n in json.loads(render_json(r))["notes"])
    props = [p.get("value") or "" for p in ET.fromstring(render_junit(r)).iter("property")]
    assert any(v.startswith(note) for v in props)
    out = io.StringIO()
    render_console(r, Console(file=out, width=400, force_terminal=False))
    assert note in out.getvalue()


def test_console_plain_when_not_a_terminal() -> None:
    out = io.StringIO()
    render_console(report(), Console(file=out, width=200, force_terminal=False))
    text = out.getvalue()
    assert "\x1b[" not in text  # no colour codes
    assert "latency [route=/slow]" in text and "Result: FAIL" in text
    assert "+---" in text or "|" in text  # ASCII box


def test_every_format_shows_the_knee_with_its_evidence() -> None:
    from budgets.knee import analyse
    from tests.budgets.test_knee import run, stepped

    sat = analyse(run(stepped([20, 40, 60, 80]), capacity=50))
    assert sat is not None
    with_knee = build_report(RUN, "b.yaml", [], 0.0, saturation=sat)
    data = json.loads(render_json(with_knee))
    jsonschema.validate(data, REPORT_SCHEMA)
    knee = data["saturation"]["knee"]
    assert knee["offered"] == 60 and len(data["saturation"]["steps"]) == 4
    assert knee["sustained_throughput"] == 36
    md = render_markdown(with_knee)
    assert "### Saturation knee" in md and "| 60 iterations/s | 45 req/s | 83% |" in md
    assert "last sustained" in md
    page = render_html(with_knee)
    assert '<section id="knee">' in page and "60 iterations/s" in page
    buf = io.StringIO()
    render_console(with_knee, Console(file=buf, width=200))
    assert "Saturation knee: throughput stopped following" in buf.getvalue()
    # No knee: the JSON says so, the other formats say nothing.
    plain = build_report(RUN, "b.yaml", [], 0.0)
    assert json.loads(render_json(plain))["saturation"] is None
    assert "knee" not in render_markdown(plain).lower()

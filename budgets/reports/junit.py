"""JUnit XML: one test case per budget and group. FAIL/ABORT are failures carrying the evidence;
WARN and missing-data passes stay passing test cases with the evidence in system-out, so CI
shows them without failing on them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from budgets.model import Level
from budgets.reports.report import (
    Report,
    evidence,
    format_breach,
    format_thresholds,
    format_value,
)


def render_junit(report: Report) -> str:
    failures = sum(1 for v in report.verdicts if v.status >= Level.FAIL)
    errors = 1 if report.inconclusive else 0
    suites = ET.Element("testsuites", name="castiel budgets")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"budgets {report.budgets_file}",
        tests=str(len(report.verdicts) + errors),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        timestamp=_iso(report.generated_at),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run", report.run.id),
        ("scenario", report.run.scenario),
        ("git_commit", report.run.git_commit or ""),
        ("git_branch", report.run.git_branch or ""),
        ("status", report.headline.lower()),
        *(("baseline", b) for b in report.baselines),
        *(("note", n) for n in report.notes),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for v in report.verdicts:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"castiel.budgets.{v.budget}",
            name=v.title,
        )
        text = "\n".join(
            [
                f"status: {v.status.label}",
                f"observed: {format_value(v.observed, v)} ({v.aggregation})",
                f"thresholds: {format_thresholds(v)}",
                f"samples: {v.sample_count}",
                f"evidence: {evidence(v)}",
            ]
        )
        if v.status >= Level.FAIL:
            message = format_breach(v) or v.message or v.status.label
            failure = ET.SubElement(case, "failure", message=message, type=v.status.label)
            failure.text = text
        else:
            out = ET.SubElement(case, "system-out")
            out.text = text
    if report.inconclusive:
        # CI must not read an untrustworthy run as green: the run itself is an error case.
        case = ET.SubElement(suite, "testcase", classname="castiel.validity", name="run validity")
        reasons = [str(r) for r in report.validity.reasons]
        error = ET.SubElement(case, "error", message=reasons[0], type="inconclusive")
        error.text = "\n".join(reasons)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")

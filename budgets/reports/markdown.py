"""Markdown summary (for pull requests and `$GITHUB_STEP_SUMMARY`)."""

from __future__ import annotations

from budgets.model import Level
from budgets.reports.report import (
    Report,
    evidence,
    format_thresholds,
    format_value,
    saturation_rows,
)

ICONS = {Level.PASS: "✅", Level.WARN: "⚠️", Level.FAIL: "❌", Level.ABORT: "🛑"}
INCONCLUSIVE_ICON = "❔"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    run = report.run
    icon = INCONCLUSIVE_ICON if report.inconclusive else ICONS[report.status]
    lines = [
        f"## {icon} Castiel budgets: {report.headline}",
        "",
        f"Run `{run.id}`"
        + (f" · scenario `{run.scenario}`" if run.scenario else "")
        + (f" · branch `{run.git_branch}`" if run.git_branch else "")
        + (f" · commit `{run.git_commit[:12]}`" if run.git_commit else ""),
        "",
        " · ".join(f"{report.count(lv)} {lv.label}" for lv in Level if report.count(lv))
        or "no budgets",
        "",
    ]
    lines += [f"> **Inconclusive:** {_cell(str(reason))}\n" for reason in report.validity.reasons]
    if report.baselines:
        lines += ["Baselines: " + "; ".join(report.baselines), ""]
    lines += [f"> **Note:** {note}\n" for note in report.notes]
    lines += [
        "| | Budget | Observed | Thresholds | Samples | Evidence |",
        "|---|---|---|---|---:|---|",
    ]
    order = sorted(report.verdicts, key=lambda v: -v.status.value)
    for v in order:
        lines.append(
            f"| {ICONS[v.status]} | {_cell(v.title)} | {_cell(format_value(v.observed, v))} "
            f"({v.aggregation}) | {_cell(format_thresholds(v))} | {v.sample_count} | "
            f"{_cell(evidence(v))} |"
        )
    if report.saturation is not None:
        lines += ["", "### Saturation knee", "", report.saturation.describe() + ".", ""]
        lines += ["| offered | throughput | follows | p95 | |", "|---:|---:|---:|---:|---|"]
        lines += [f"| {' | '.join(row)} |" for row in saturation_rows(report.saturation)]
    return "\n".join(lines) + "\n"

"""A self-contained HTML report: summary table plus one plotly chart per budget (one line per
group) against its thresholds. plotly.js is embedded inline, so the file works offline and as
a CI artifact."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from budgets.model import Level
from budgets.reports.markdown import ICONS, INCONCLUSIVE_ICON
from budgets.reports.report import (
    Report,
    evidence,
    format_condition,
    format_thresholds,
    format_value,
    saturation_rows,
)
from budgets.verdict import Verdict

LINE_COLOURS = {Level.WARN: "#d29922", Level.FAIL: "#cf222e", Level.ABORT: "#8250df"}
STATUS_COLOURS = {Level.PASS: "#1a7f37", **LINE_COLOURS}


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def budget_figure(verdicts: list[Verdict]) -> go.Figure:
    first = verdicts[0]
    fig = go.Figure()
    for v in verdicts:
        if v.trace:
            fig.add_trace(
                go.Scatter(
                    x=[_time(t) for t, _ in v.trace],
                    y=[y for _, y in v.trace],
                    mode="lines",
                    name=v.group_label or v.aggregation,
                )
            )
        if v.worst is not None and v.status is not Level.PASS:
            fig.add_vrect(
                x0=_time(v.worst.start),
                x1=_time(v.worst.end),
                fillcolor=STATUS_COLOURS[v.status],
                opacity=0.12,
                line_width=0,
            )
        if v.baseline is not None and v.baseline.baseline_value is not None:
            fig.add_hline(
                y=v.baseline.baseline_value,
                line_dash="dot",
                line_color="#57606a",
                annotation_text=f"baseline {v.group_label}".strip(),
            )
    for level, cond in first.thresholds:
        fig.add_hline(
            y=cond.value,
            line_dash="dash",
            line_color=LINE_COLOURS[level],
            annotation_text=f"{level.label} {format_condition(cond, first)}",
        )
    fig.update_layout(
        title=f"{first.budget}: {first.aggregation} of {first.metric} ({first.scope})",
        height=360,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h"},
        template="plotly_white",
    )
    return fig


def render_html(report: Report) -> str:
    by_budget: dict[str, list[Verdict]] = defaultdict(list)
    for v in report.verdicts:
        by_budget[v.budget].append(v)
    rows = "\n".join(
        f'<tr class="{v.status.label}"><td>{ICONS[v.status]} {v.status.label.upper()}</td>'
        f"<td>{html.escape(v.title)}</td><td>{html.escape(format_value(v.observed, v))} "
        f"{html.escape(v.aggregation)}</td><td>{html.escape(format_thresholds(v))}</td>"
        f"<td>{v.sample_count}</td><td>{html.escape(evidence(v))}</td></tr>"
        for v in report.verdicts
    )
    charts = []
    for name, verdicts in by_budget.items():
        worst = max(v.status for v in verdicts)
        fig = budget_figure(verdicts).to_html(full_html=False, include_plotlyjs=False)
        charts.append(
            f'<section class="budget" data-budget="{html.escape(name)}">'
            f"<h2>{ICONS[worst]} {html.escape(name)}</h2>"
            + (f"<p>{html.escape(verdicts[0].description)}</p>" if verdicts[0].description else "")
            + fig
            + "</section>"
        )
    run = report.run
    status = report.status
    icon = INCONCLUSIVE_ICON if report.inconclusive else ICONS[status]
    state = "inconclusive" if report.inconclusive else status.label
    meta = " · ".join(
        html.escape(x)
        for x in (
            f"run {run.id}",
            f"scenario {run.scenario}" if run.scenario else "",
            f"branch {run.git_branch}" if run.git_branch else "",
            f"commit {run.git_commit[:12]}" if run.git_commit else "",
            f"budgets {report.budgets_file}",
        )
        if x
    )
    baselines = (
        f"<p>Baselines: {html.escape('; '.join(report.baselines))}</p>" if report.baselines else ""
    ) + "".join(
        f'<p class="note"><strong>Note:</strong> {html.escape(n)}</p>' for n in report.notes
    )
    baselines += "".join(
        f'<p class="inconclusive"><strong>Inconclusive:</strong> {html.escape(str(r))}</p>'
        for r in report.validity.reasons
    )
    knee = ""
    if report.saturation is not None:
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in saturation_rows(report.saturation)
        )
        knee = (
            f'<section id="knee"><h2>Saturation knee</h2>'
            f"<p>{html.escape(report.saturation.describe())}.</p><table><thead><tr><th>Offered</th>"
            f"<th>Throughput</th><th>Follows</th><th>p95</th><th></th></tr></thead>"
            f"<tbody>{cells}</tbody></table></section>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Castiel budgets: {report.headline} ({html.escape(run.id)})</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
td, th {{ border-bottom: 1px solid #d0d7de; padding: 0.3rem 0.5rem; text-align: left; }}
tr.fail td:first-child, tr.abort td:first-child {{ color: {STATUS_COLOURS[Level.FAIL]}; }}
tr.warn td:first-child {{ color: {STATUS_COLOURS[Level.WARN]}; }}
tr.pass td:first-child {{ color: {STATUS_COLOURS[Level.PASS]}; }}
</style></head>
<body>
<h1 id="status" data-status="{state}">{icon} Castiel budgets: \
{report.headline}</h1>
<p>{meta}</p>
{baselines}
<table id="verdicts"><thead><tr><th>Status</th><th>Budget</th><th>Observed</th>\
<th>Thresholds</th><th>Samples</th><th>Evidence</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{knee}
{"".join(charts)}
</body></html>
"""

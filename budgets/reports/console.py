"""The console table (rich). Colours on a terminal; plain ASCII when piped (CI logs)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from budgets.model import Level
from budgets.reports.report import Report, evidence, format_thresholds, format_value

STYLES = {
    Level.PASS: "green",
    Level.WARN: "yellow",
    Level.FAIL: "bold red",
    Level.ABORT: "bold red",
}


def render_console(report: Report, console: Console) -> None:
    tty = console.is_terminal
    table = Table(
        title=f"Budgets for run {report.run.id}",
        box=box.ROUNDED if tty else box.ASCII,
        show_lines=False,
    )
    for name, justify in (
        ("Status", "left"),
        ("Budget", "left"),
        ("Observed", "right"),
        ("Thresholds", "left"),
        ("Samples", "right"),
        ("Evidence", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for v in report.verdicts:
        style = STYLES[v.status] if tty else ""
        # Text, not markup: titles like "api [route=/x]" would read as rich tags.
        table.add_row(
            Text(v.status.label.upper(), style=style),
            Text(v.title),
            Text(f"{format_value(v.observed, v)} {v.aggregation}"),
            Text(format_thresholds(v)),
            Text(str(v.sample_count)),
            Text(evidence(v)),
        )
    console.print(table)
    if report.baselines:
        # Sentences are never folded: one reason is one line a CI log can be searched for.
        console.print(Text("Baselines: " + "; ".join(report.baselines)), soft_wrap=True)
    for note in report.notes:
        console.print(Text(f"Note: {note}", style="bold"), soft_wrap=True)
    for reason in report.validity.reasons:
        style = "bold yellow" if tty else ""
        console.print(Text(f"Inconclusive: {reason}", style=style), soft_wrap=True)
    if report.saturation is not None:
        console.print(Text(f"Saturation knee: {report.saturation.describe()}"), soft_wrap=True)
    summary = ", ".join(f"{report.count(lv)} {lv.label}" for lv in Level if report.count(lv))
    style = "bold yellow" if report.inconclusive else STYLES[report.status]
    label = f"[{style}]{report.headline}[/]" if tty else report.headline
    console.print(f"Result: {label} ({summary or 'no budgets'})", highlight=False)

"""`castiel history`: a budget across runs, with the change points that name the commit."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from budgets.history import BudgetHistory, histories, read_entries, shift_text
from budgets.reports.report import format_thresholds
from budgets.units import format_quantity
from castiel.errors import UsageError
from castiel.storearg import add_store_argument
from collectors.store import Store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "history",
        help="a budget's values across runs and the commits where they changed",
        description="Each budget's observed value over the last runs that `castiel check` "
        "(or `castiel run`) evaluated, with thresholds and verdicts, and the change points "
        "of the series: each names the first run and commit after the change, the size of "
        "the shift with its 95 % confidence interval, and the run to compare it with. "
        "Runs of one branch and one scenario are compared, like with like.",
    )
    p.add_argument("--budget", metavar="NAME", help="only this budget (default: every one)")
    p.add_argument(
        "--branch", metavar="NAME", help="only runs of this branch (default: the newest run's)"
    )
    p.add_argument(
        "--scenario", metavar="NAME", help="only runs of this scenario (default: the newest run's)"
    )
    p.add_argument("--last", type=_positive, default=50, metavar="N", help="runs (default 50)")
    add_store_argument(p)
    p.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"a history needs at least 2 runs, got {value}")
    return value


def run(args: argparse.Namespace, console: Console | None = None) -> int:
    if not args.store.exists():
        raise UsageError(f"no metrics store at {args.store} (pass --store PATH|URL)")
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    with Store.open(args.store, readonly=True) as store:
        newest = next((r for r in store.runs(1)), None)
        if newest is None:
            raise UsageError(f"{args.store}: the store has no runs yet")
        branch = args.branch or newest.git_branch
        scenario = args.scenario if args.scenario is not None else newest.scenario
        entries = read_entries(store, branch=branch, scenario=scenario, last=args.last)
    where = f"branch {branch or '(none)'}, scenario {scenario or '(none)'}"
    found = histories(entries, args.budget)
    if not found:
        what = f"budget {args.budget!r}" if args.budget else "any budget"
        raise UsageError(f"no checked run of {where} has a verdict of {what}")
    console.print(f"[bold]History[/bold] of the last {len(entries)} checked runs on {where}")
    for history in found:
        render(history, console)
    return 0


def render(history: BudgetHistory, console: Console) -> None:
    unit = history.unit
    starts = {c.run.id: c for c in history.changes}
    table = Table(title=f"{history.title}: {history.aggregation}", title_justify="left")
    for column in ("run", "started (UTC)", "commit", "branch", "observed", "status", ""):
        table.add_column(column, justify="right" if column == "observed" else "left")
    for point in history.points:
        run, v = point.run, point.verdict
        change = starts.get(run.id)
        table.add_row(
            run.id,
            datetime.fromtimestamp(run.started_at, UTC).strftime("%Y-%m-%d %H:%M"),
            (run.git_commit or "")[:7],
            run.git_branch or "",
            format_quantity(point.value, unit),
            v.status.label,
            f"◀ change {shift_text(change)}" if change else "",
        )
    console.print(table)
    thresholds = format_thresholds(history.points[-1].verdict)
    console.print(f"  thresholds (newest run): {thresholds}")
    if not history.changes:
        console.print("  no change point")
    for c in history.changes:
        direction = "worse" if c.worse else "better"
        console.print(
            f"  change point at run {c.run.id}, commit {c.commit}: "
            f"{format_quantity(c.before, unit)} -> {format_quantity(c.after, unit)} "
            f"({shift_text(c, history.aggregation)}, p={c.p_value:.2g}, {direction}); "
            f"compare: castiel dashboard, /compare?a={c.previous.id}&b={c.run.id}"
        )

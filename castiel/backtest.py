"""`castiel check --runs last:N`: a budget file evaluated against stored runs, as the gate
would have judged each (baselines resolved the same way), nothing recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from budgets.backtest import Backtest, tally
from budgets.model import Budget
from budgets.units import format_quantity
from castiel.errors import UsageError
from castiel.gate import evaluate_stored
from collectors.model import RunInfo
from collectors.store import Store

SCAN = 5000


def parse_runs(text: str) -> int:
    """`last:30` -> 30."""
    kind, _, n = text.partition(":")
    if kind != "last" or not n.isdigit() or int(n) < 1:
        raise UsageError(f"--runs {text!r}: expected last:N (e.g. last:30)")
    return int(n)


def pick_runs(store: Store, last: int, branch: str | None) -> list[RunInfo]:
    """The newest `last` finished runs (of `branch`), oldest first."""
    runs = [
        r
        for r in store.runs(SCAN)
        if r.status == "finished" and (branch is None or r.git_branch == branch)
    ]
    return runs[:last][::-1]


def backtest(
    store: Store, budgets: Sequence[Budget], budgets_file: str, runs: Sequence[RunInfo]
) -> Backtest:
    now = time.time()
    evaluated = [(r.id, evaluate_stored(store, r, list(budgets), now=now)) for r in runs]
    return tally(budgets_file, budgets, evaluated)


def render(result: Backtest, console: Console, where: str) -> None:
    table = Table(
        title=f"Back-test of {result.budgets_file} against {len(result.runs)} runs ({where})",
        title_justify="left",
    )
    for column in ("budget", "runs", "would fail", "would warn", "pass", "no data", "worst"):
        table.add_column(column, justify="left" if column == "budget" else "right")
    for row in result.rows:
        table.add_row(
            row.budget,
            str(row.runs),
            str(row.failed),
            str(row.warned),
            str(row.passed),
            str(row.missing),
            format_quantity(row.worst, row.unit),
        )
    console.print(table)
    for row in result.rows:
        if row.failed_runs:
            console.print(f"  {row.budget} would have failed: {', '.join(row.failed_runs)}")


def write_json(result: Backtest, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None

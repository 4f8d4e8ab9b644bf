"""The CI gate shared by `castiel check` and `castiel run`: evaluate a stored run's budgets
(with their baselines, chosen by castiel.baselines), print the verdict table, write the
reports, record the verdicts."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from budgets.evaluate import evaluate
from budgets.knee import KneeMetrics, analyse
from budgets.model import Budget, Level
from budgets.reports import build_report
from budgets.reports.console import render_console
from budgets.reports.html import render_html
from budgets.reports.json_report import render_json
from budgets.reports.junit import render_junit
from budgets.reports.markdown import render_markdown
from budgets.reports.report import Report
from budgets.validity import SERIES as VALIDITY_SERIES
from budgets.validity import Problem, assess
from budgets.verdict import Verdict, overall
from castiel.baselines import BaselineChoice, load_selected, resolve
from castiel.changes import change_notes
from castiel.errors import EXIT_BUDGET_FAILED, EXIT_INCONCLUSIVE, EXIT_PASS, UsageError
from collectors.model import RunInfo, SeriesData
from collectors.store import Store, UnknownRun
from loadtest.monitor import verdict_record


@dataclass(frozen=True)
class ReportPaths:
    """Where to write each report; None skips it."""

    json: Path | None = None
    junit: Path | None = None
    markdown: Path | None = None
    html: Path | None = None


def gate(
    store: Store,
    run_info: RunInfo,
    budgets: list[Budget],
    budgets_path: str,
    console: Console | None = None,
    *,
    baseline: BaselineChoice | None = None,
    save_baseline: str | None = None,
    reports: ReportPaths = ReportPaths(),
    record: bool = True,
    notes: Sequence[str] = (),
) -> int:
    """Evaluate a stored run's budgets, print the table, write the reports, record the
    verdicts; returns the exit code (0 pass, warnings allowed; 1 a budget failed; 4 the run
    would have passed but its numbers cannot be trusted)."""
    budgets, baselines = resolve(store, run_info, budgets, baseline or BaselineChoice())
    series = load_selected(store, run_info, budgets)
    now = time.time()
    verdicts = evaluate(budgets, series, run_info, baselines, now=now)
    validity = assess(run_info, _load_names(store, run_info, VALIDITY_SERIES), budgets)
    saturation = analyse(_knee_series(store, run_info))
    if saturation is not None and saturation.knee is not None:
        # Iterations dropped past the knee measure the service's capacity: that is the
        # finding of a stepped run, not a failure of the load generator.
        validity, explained = validity.without(Problem.RATE_SHORT)
        notes = [*notes, *(f"past the saturation knee: {r.detail}" for r in explained)]
    if not validity.inconclusive:
        notes = [*notes, *change_notes(store, run_info, verdicts)]
    report = build_report(
        run_info,
        budgets_path,
        verdicts,
        now,
        sorted({b.label for b in baselines.values()}),
        notes,
        validity=validity,
        saturation=saturation,
    )
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=160)  # CI logs: wide enough that budget names do not fold
    render_console(report, console)
    _write_reports(reports, report)
    status = overall(verdicts)
    # Validity withholds a PASS; it never hides a FAIL (the reasons are reported either way).
    inconclusive = report.inconclusive
    passed = status <= Level.WARN and not inconclusive
    if record:
        store.record_verdicts(run_info.id, [verdict_record(v, now) for v in verdicts])
        store.set_run_verdict(run_info.id, _run_verdict(status, inconclusive))
        if save_baseline and passed:
            store.set_baseline(save_baseline, run_info.id, now)
    elif save_baseline:
        raise UsageError("--save-baseline needs the store to be writable (drop --no-record)")
    if inconclusive:
        return EXIT_INCONCLUSIVE
    return EXIT_PASS if passed else EXIT_BUDGET_FAILED


def _run_verdict(status: Level, inconclusive: bool) -> str:
    """What the store records: an inconclusive run is never a baseline (not pass or warn)."""
    if inconclusive:
        return "inconclusive"
    return status.label if status <= Level.WARN else "fail"


def resolve_run(store: Store, ref: str) -> RunInfo:
    if ref == "latest":
        latest = store.latest_run()
        if latest is None:
            raise UsageError(f"{store.locator}: the store has no runs yet")
        return latest
    try:
        return store.get_run(ref)
    except UnknownRun:
        raise UsageError(f"{store.locator}: no run with id {ref!r}") from None


def _knee_series(store: Store, run_info: RunInfo) -> list[SeriesData]:
    m = KneeMetrics()
    return _load_names(store, run_info, (m.target_rate, m.users, m.requests, m.latency))


def _load_names(store: Store, run_info: RunInfo, names: Iterable[str]) -> list[SeriesData]:
    wanted = set(names)
    keys = [key for key, _ in store.series(run_info.id) if key.name in wanted]
    return store.load_series(run_info.id, keys) if keys else []


def _write_reports(paths: ReportPaths, report: Report) -> None:
    outputs = [
        (paths.junit, render_junit),
        (paths.json, render_json),
        (paths.html, render_html),
        (paths.markdown, render_markdown),
    ]
    for path, render in outputs:
        if path is not None:
            _write(path, render(report))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(render_markdown(report))
        except OSError as exc:
            print(f"castiel: cannot append to $GITHUB_STEP_SUMMARY: {exc}", file=sys.stderr)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def evaluate_stored(
    store: Store,
    run_info: RunInfo,
    budgets: list[Budget],
    *,
    baseline: BaselineChoice | None = None,
    now: float | None = None,
) -> list[Verdict]:
    """The verdicts `gate` would give a stored run (baselines resolved the same way), without
    printing, reporting or recording anything: back-testing a budget file."""
    budgets, baselines = resolve(store, run_info, budgets, baseline or BaselineChoice())
    series = load_selected(store, run_info, budgets)
    return evaluate(budgets, series, run_info, baselines, now=now)

"""The CI gate shared by `castiel check` and `castiel run`: evaluate a stored run's budgets
(with their baselines), print the verdict table, write the reports, record the verdicts."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from budgets.evaluate import BaselineRun, baseline_key, evaluate
from budgets.model import BaselineRef, Budget, Level
from budgets.reports import build_report
from budgets.reports.console import render_console
from budgets.reports.html import render_html
from budgets.reports.json_report import render_json
from budgets.reports.junit import render_junit
from budgets.reports.markdown import render_markdown
from budgets.reports.report import Report
from budgets.verdict import overall
from castiel.errors import EXIT_BUDGET_FAILED, EXIT_PASS, UsageError
from collectors.model import RunInfo, SeriesData, SeriesKey
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
    baseline: str | None = None,
    save_baseline: str | None = None,
    reports: ReportPaths = ReportPaths(),
    record: bool = True,
    notes: Sequence[str] = (),
) -> int:
    """Evaluate a stored run's budgets, print the table, write the reports, record the
    verdicts; returns the exit code (0 pass, warnings allowed; 1 a budget failed)."""
    budgets, baselines = _baselines(store, run_info, budgets, baseline)
    series = _load(store, run_info, budgets)
    now = time.time()
    verdicts = evaluate(budgets, series, run_info, baselines, now=now)
    report = build_report(
        run_info,
        budgets_path,
        verdicts,
        now,
        sorted({b.label for b in baselines.values()}),
        notes,
    )
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=160)  # CI logs: wide enough that budget names do not fold
    render_console(report, console)
    _write_reports(reports, report)
    status = overall(verdicts)
    passed = status <= Level.WARN
    if record:
        store.record_verdicts(run_info.id, [verdict_record(v, now) for v in verdicts])
        store.set_run_verdict(run_info.id, status.label if passed else "fail")
        if save_baseline and passed:
            store.set_baseline(save_baseline, run_info.id, now)
    elif save_baseline:
        raise UsageError("--save-baseline needs the store to be writable (drop --no-record)")
    return EXIT_PASS if passed else EXIT_BUDGET_FAILED


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


def _baselines(
    store: Store, run_info: RunInfo, budgets: list[Budget], override: str | None
) -> tuple[list[Budget], dict[str, BaselineRun]]:
    """Resolve every baseline the budgets ask for (or the --baseline override)."""
    if override == "none":
        return [dataclasses.replace(b, baseline=None) for b in budgets], {}
    if override is not None:
        forced = _forced_baseline(store, run_info, override)
        budgets = [
            dataclasses.replace(b, baseline=dataclasses.replace(b.baseline, **forced))
            if b.baseline is not None
            else b
            for b in budgets
        ]
    out: dict[str, BaselineRun] = {}
    for b in budgets:
        if b.baseline is None:
            continue
        key = baseline_key(b.baseline)
        if key in out:
            continue
        if b.baseline.ref is BaselineRef.LAST_PASSING:
            found = store.last_passing_run(
                branch=run_info.git_branch,
                scenario=run_info.scenario,
                before=run_info.started_at,
                exclude=run_info.id,
            )
            branch = run_info.git_branch or "(none)"
            where = f"branch {branch}, scenario {run_info.scenario or '(none)'}"
            label = (
                f"last passing run {found.id} on {where}"
                if found
                else f"no passing run before this one on {where}"
            )
        else:
            name = b.baseline.name or ""
            found = store.get_baseline(name)
            if found is None and name.startswith("run:"):
                found = _get_run(store, name[4:])
            label = (
                f"baseline {name!r} (run {found.id})" if found else f"no baseline named {name!r}"
            )
        series = (
            _load(store, found, [x for x in budgets if x.baseline is not None]) if found else []
        )
        out[key] = BaselineRun(label, found, series)
    return budgets, out


def _forced_baseline(store: Store, run_info: RunInfo, ref: str) -> dict[str, Any]:
    if ref in ("last-passing", "last_passing"):
        return {"ref": BaselineRef.LAST_PASSING, "name": None}
    if store.get_baseline(ref) is not None:
        return {"ref": BaselineRef.NAMED, "name": ref}
    if _get_run(store, ref) is not None:
        if ref == run_info.id:
            raise UsageError(f"--baseline {ref} is the run being checked")
        return {"ref": BaselineRef.NAMED, "name": f"run:{ref}"}
    raise UsageError(f"--baseline {ref!r} is neither a saved baseline nor a run id")


def _get_run(store: Store, run_id: str) -> RunInfo | None:
    try:
        return store.get_run(run_id)
    except UnknownRun:
        return None


def _load(store: Store, run_info: RunInfo, budgets: Iterable[Budget]) -> list[SeriesData]:
    """Only the series some budget selects: a run can hold far more than the budgets read."""
    selectors = [s for b in budgets for s in (b.selector, *b.denominator)]
    keys: list[SeriesKey] = [
        key for key, _ in store.series(run_info.id) if any(s.matches(key) for s in selectors)
    ]
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

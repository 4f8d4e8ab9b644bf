"""`castiel check --budgets FILE`: evaluate a run's budgets from the store, print the table,
write reports, exit 0 pass (warnings allowed) / 1 a budget failed / 2 bad input / 3 broken."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Iterable
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
from budgets.spec import BudgetSpecError, load_budget_file
from budgets.verdict import Verdict, overall
from castiel.errors import EXIT_BROKEN, EXIT_BUDGET_FAILED, EXIT_PASS, UsageError
from collectors.model import RunInfo, SeriesData, SeriesKey
from collectors.store import DEFAULT_PATH, Store, StoreError, UnknownRun, VerdictRecord


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="evaluate performance budgets for a run (CI gate)",
        description="Evaluate the budgets in FILE against a run in the store, print a table, "
        "write reports. Exit 0 pass (warnings allowed), 1 a budget failed, 2 bad input, "
        "3 the store is unreadable.",
    )
    p.add_argument("--budgets", required=True, metavar="FILE", help="budget file (YAML)")
    p.add_argument("--run", default="latest", metavar="ID", help="run id or 'latest' (default)")
    p.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_PATH,
        metavar="PATH",
        help=f"metrics store (default {DEFAULT_PATH})",
    )
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="baseline for budgets that compare: 'last-passing' (same branch and scenario), "
        "a saved baseline name, a run id, or 'none' to skip comparisons "
        "(default: what each budget says)",
    )
    p.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="when the run passes, save it as the named baseline NAME",
    )
    p.add_argument("--junit", type=Path, metavar="PATH", help="write a JUnit XML report")
    p.add_argument("--json", type=Path, metavar="PATH", help="write a JSON report")
    p.add_argument("--html", type=Path, metavar="PATH", help="write a self-contained HTML report")
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="PATH",
        help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)",
    )
    p.add_argument(
        "--no-record",
        action="store_true",
        help="do not store the verdicts (opens the store read-only)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        spec = load_budget_file(args.budgets)
    except BudgetSpecError as exc:
        raise UsageError(str(exc)) from None
    if not args.store.exists():
        raise UsageError(f"no metrics store at {args.store} (pass --store PATH)")
    try:
        with Store.open(args.store, readonly=args.no_record) as store:
            return _check(args, store, list(spec.budgets), spec.path)
    except StoreError as exc:
        print(f"castiel: store unreadable: {exc}", file=sys.stderr)
        return EXIT_BROKEN


def _check(args: argparse.Namespace, store: Store, budgets: list[Budget], path: str) -> int:
    run_info = _resolve_run(store, args.run)
    budgets, baselines = _baselines(store, run_info, budgets, args.baseline)
    series = _load(store, run_info, budgets)
    now = time.time()
    verdicts = evaluate(budgets, series, run_info, baselines, now=now)
    report = build_report(
        run_info, path, verdicts, now, sorted({b.label for b in baselines.values()})
    )
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)  # CI logs: wide enough that budget names do not fold
    render_console(report, console)
    _write_reports(args, report)
    status = overall(verdicts)
    passed = status <= Level.WARN
    if not args.no_record:
        store.record_verdicts(run_info.id, [_record(v, now) for v in verdicts])
        store.set_run_verdict(run_info.id, status.label if passed else "fail")
        if args.save_baseline and passed:
            store.set_baseline(args.save_baseline, run_info.id, now)
    elif args.save_baseline:
        raise UsageError("--save-baseline needs the store to be writable (drop --no-record)")
    return EXIT_PASS if passed else EXIT_BUDGET_FAILED


def _resolve_run(store: Store, ref: str) -> RunInfo:
    if ref == "latest":
        latest = store.latest_run()
        if latest is None:
            raise UsageError(f"{store.path}: the store has no runs yet")
        return latest
    try:
        return store.get_run(ref)
    except UnknownRun:
        raise UsageError(f"{store.path}: no run with id {ref!r}") from None


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


def _record(v: Verdict, now: float) -> VerdictRecord:
    return VerdictRecord(
        budget=v.budget,
        group=dict(v.group),
        status=v.status.label,
        payload=v.to_json(with_trace=False),
        evaluated_at=now,
    )


def _write_reports(args: argparse.Namespace, report: Any) -> None:
    outputs = [
        (args.junit, render_junit),
        (args.json, render_json),
        (args.html, render_html),
        (args.markdown, render_markdown),
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

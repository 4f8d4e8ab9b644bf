"""`castiel calibrate`: run-to-run noise and A/A false alarms per budget, from K runs of one
configuration (stored ones, or K fresh `castiel run`s); budgets whose noise exceeds their
`max_increase` are listed as untrustworthy."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from budgets.calibrate import Calibration, CalibrationRun, calibrate
from budgets.model import Budget
from budgets.spec import load_budget_file
from castiel import argtypes
from castiel.errors import EXIT_BUDGET_FAILED, EXIT_PASS, UsageError
from castiel.storearg import add_store_argument
from collectors.locator import STORE_ENV, StoreLocator
from collectors.model import RunInfo
from collectors.store import Store, UnknownRun
from runtime.errors import RunBroken


def register(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure each budget's run-to-run noise and A/A false alarms",
        description="Compare K runs of one configuration with each other, as `castiel check` "
        "compares a run with its baseline, and report per budget: each run's value, the "
        "run-to-run noise (the largest change between two runs of unchanged code) and how "
        "often an A/A comparison declared a regression. Budgets whose noise exceeds their "
        "max_increase cannot tell a regression of that size from noise: they are listed as "
        "untrustworthy, with the smallest max_increase the runs support. Runs: --runs IDS, "
        "--last K (the newest finished runs with the newest run's configuration), or "
        "--repeat K -- ARGS (K fresh `castiel run ARGS`). Exit 0 when every budget is "
        "trustworthy, 1 when some are not, 2 bad input, 3 a run broke.",
        epilog="example: castiel calibrate --budgets examples/budgets.yaml --repeat 5 -- "
        "--target http://127.0.0.1:8000 --duration 30s --users 20",
    )
    p.add_argument("--budgets", required=True, type=Path, metavar="FILE", help="budget file")
    add_store_argument(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--runs", nargs="+", metavar="ID", help="stored runs to compare")
    which.add_argument(
        "--last", type=argtypes.count(2), metavar="K", help="the newest K finished runs"
    )
    which.add_argument(
        "--repeat", type=argtypes.count(2), metavar="K", help="run `castiel run ARGS` K times"
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("run_args", nargs=argparse.REMAINDER, help="-- then `castiel run` arguments")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    spec = load_budget_file(args.budgets)  # a BudgetSpecError: exit 2
    run_args = [a for a in args.run_args if a != "--"] if args.run_args else []
    if args.repeat is not None:
        ids = _repeat(args.repeat, run_args, args.budgets, args.store)
    elif run_args:
        raise UsageError("run arguments after -- go with --repeat K")
    if not args.store.exists():
        raise UsageError(f"no metrics store at {args.store} (pass --store PATH)")
    with Store.open(args.store, readonly=True) as store:
        if args.runs:
            ids = args.runs
        elif args.last is not None:
            ids = _last(store, args.last)
        runs = [_load(store, run_id, spec.budgets) for run_id in ids]
    if len(runs) < 2:
        raise UsageError("calibration needs at least 2 runs")
    results = calibrate(spec.budgets, runs)
    _print(results, [r.run.id for r in runs])
    if args.json is not None:
        args.json.write_text(json.dumps([_json(c) for c in results], indent=2) + "\n")
    return EXIT_BUDGET_FAILED if any(c.untrustworthy for c in results) else EXIT_PASS


def _repeat(k: int, run_args: Sequence[str], budgets: Path, store: StoreLocator) -> list[str]:
    if "--store" in run_args or "--budgets" in run_args or "--baseline" in run_args:
        raise UsageError("calibrate sets --store, --budgets and --baseline of its runs itself")
    before = _run_ids(store)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [_root(), os.environ.get("PYTHONPATH")])),
        # The store reaches the runs through the environment: a URL's password never goes
        # into an argv that `ps` shows.
        STORE_ENV: store.secret_text(),
    }
    for i in range(k):
        print(f"calibration run {i + 1} of {k}", flush=True)
        argv = [sys.executable, "-m", "castiel", "run", *run_args]
        argv += ["--budgets", str(budgets), "--baseline", "none"]
        code = subprocess.run(argv, env=env, check=False).returncode
        if code in (2, 3):  # bad input or a broken run: there is nothing to calibrate
            raise (UsageError if code == 2 else RunBroken)(f"calibration run {i + 1} exited {code}")
    return [r for r in _run_ids(store) if r not in before]


def _root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _run_ids(store: StoreLocator) -> list[str]:
    if not store.exists():
        return []
    with Store.open(store, readonly=True) as s:
        return [r.id for r in reversed(s.runs(10_000))]


def _last(store: Store, k: int) -> list[str]:
    finished = [r for r in store.runs(10_000) if r.status in ("finished", "aborted")]
    if not finished:
        raise UsageError(f"{store.locator}: no finished runs")
    config = finished[0].config_hash
    same = [r.id for r in finished if r.config_hash == config][:k]
    return list(reversed(same))


def _load(store: Store, run_id: str, budgets: Sequence[Budget]) -> CalibrationRun:
    try:
        info: RunInfo = store.get_run(run_id)
    except UnknownRun:
        raise UsageError(f"{store.locator}: no run with id {run_id!r}") from None
    selectors = [s for b in budgets for s in (b.selector, *b.denominator)]
    keys = [k for k, _ in store.series(run_id) if any(s.matches(k) for s in selectors)]
    return CalibrationRun(info, store.load_series(run_id, keys) if keys else [])


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _print(results: Sequence[Calibration], run_ids: Sequence[str]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    table = Table(title=f"Calibration over {len(run_ids)} runs: {', '.join(run_ids)}")
    for col in ("budget", "values", "cv", "noise", "A/A false alarms", "max_increase", ""):
        table.add_column(col, overflow="fold")
    for c in results:
        title = c.budget + (f" [{','.join(f'{k}={v}' for k, v in c.group)}]" if c.group else "")
        verdict = (
            f"UNTRUSTWORTHY: use max_increase >= {c.suggested_max_increase:.0%}"
            if c.untrustworthy
            else "ok"
        )
        table.add_row(
            title,
            ", ".join(f"{v:.4g}" for v in c.values),
            _pct(c.cv),
            _pct(c.noise),
            f"{c.false_alarms}/{c.comparisons}",
            _pct(c.max_increase),
            verdict,
        )
    console.print(table)
    bad = [c for c in results if c.untrustworthy]
    console.print(
        f"{len(bad)} of {len(results)} budget groups are untrustworthy at their max_increase"
        if bad
        else f"all {len(results)} budget groups stay within their max_increase"
    )


def _json(c: Calibration) -> dict[str, Any]:
    return {
        "budget": c.budget,
        "group": dict(c.group),
        "values": list(c.values),
        "cv": c.cv,
        "noise": c.noise,
        "max_increase": c.max_increase,
        "false_alarms": c.false_alarms,
        "comparisons": c.comparisons,
        "untrustworthy": c.untrustworthy,
        "suggested_max_increase": c.suggested_max_increase,
    }

"""`castiel check --budgets FILE`: evaluate a run's budgets from the store, print the table,
write reports, exit 0 pass (warnings allowed) / 1 a budget failed / 2 bad input (a `--store`
that is a directory or not a Castiel store included) / 3 the store cannot be read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from budgets.model import Budget
from budgets.spec import load_budget_file
from castiel import argtypes, backtest
from castiel.baselines import add_baseline_arguments, choice_from_args
from castiel.config import add_config_argument, load_project_config
from castiel.errors import UsageError
from castiel.gate import ReportPaths, gate, resolve_run
from castiel.storearg import add_store_argument
from collectors.store import Store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="evaluate performance budgets for a run (CI gate)",
        description="Evaluate the budgets in FILE against a run in the store, print a table, "
        "write reports. Exit 0 pass (warnings allowed), 1 a budget failed, 2 bad input (a "
        "--store that is a directory or not a Castiel store too), 3 the store cannot be read "
        "or its data cannot be right, 4 inconclusive: the run's numbers cannot be trusted "
        "(Locust saturated, too few requests, arrival rate short of target; the reason is in "
        "every report).",
    )
    p.add_argument("--budgets", required=True, metavar="FILE", help="budget file (YAML)")
    p.add_argument("--run", default="latest", metavar="ID", help="run id or 'latest' (default)")
    add_store_argument(p)
    add_baseline_arguments(p)
    add_config_argument(p)  # its `baseline:` section
    p.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="when the run passes, save it as the named baseline NAME",
    )
    p.add_argument(
        "--junit", type=argtypes.output_file, metavar="PATH", help="write a JUnit XML report"
    )
    p.add_argument("--json", type=argtypes.output_file, metavar="PATH", help="write a JSON report")
    p.add_argument(
        "--html",
        type=argtypes.output_file,
        metavar="PATH",
        help="write a self-contained HTML report",
    )
    p.add_argument(
        "--markdown",
        type=argtypes.output_file,
        metavar="PATH",
        help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)",
    )
    p.add_argument(
        "--runs",
        metavar="last:N",
        help="back-test: evaluate FILE against the newest N finished runs instead of one and "
        "print per budget how many of them it would have failed or warned (nothing is "
        "recorded; --json writes the table; exit 0 unless the input is bad)",
    )
    p.add_argument("--branch", metavar="NAME", help="with --runs: only runs of this branch")
    p.add_argument(
        "--no-record",
        action="store_true",
        help="do not store the verdicts (opens the store read-only)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    spec = load_budget_file(args.budgets)
    project = load_project_config(args.config)  # a ConfigError: exit 2
    # A bundle given as --baseline is read (and refused, exit 2) before the store is opened.
    choice = choice_from_args(args, project.baseline, Path(spec.path).read_text("utf-8"))
    if not args.store.exists():
        raise UsageError(f"no metrics store at {args.store} (pass --store PATH|URL)")
    if args.runs is not None:
        return _backtest(args, spec.path, list(spec.budgets))
    if args.branch is not None:
        raise UsageError("--branch goes with --runs (back-testing)")
    with Store.open(args.store, readonly=args.no_record) as store:
        return gate(
            store,
            resolve_run(store, args.run),
            list(spec.budgets),
            spec.path,
            baseline=choice,
            save_baseline=args.save_baseline,
            reports=ReportPaths(args.json, args.junit, args.markdown, args.html),
            record=not args.no_record,
        )


def _backtest(args: argparse.Namespace, path: str, budgets: list[Budget]) -> int:
    last = backtest.parse_runs(args.runs)
    if args.run != "latest" or args.save_baseline:
        raise UsageError("--runs back-tests stored runs: drop --run and --save-baseline")
    with Store.open(args.store, readonly=True) as store:
        runs = backtest.pick_runs(store, last, args.branch)
        where = f"branch {args.branch}" if args.branch else "every branch"
        if not runs:
            raise UsageError(f"{args.store}: no finished run on {where} to back-test")
        result = backtest.backtest(store, budgets, path, runs)
    backtest.render(result, Console(width=None if sys.stdout.isatty() else 160), where)
    if args.json is not None:
        backtest.write_json(result, args.json)
    return 0

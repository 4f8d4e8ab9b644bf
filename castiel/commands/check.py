"""`castiel check --budgets FILE`: evaluate a run's budgets from the store, print the table,
write reports, exit 0 pass (warnings allowed) / 1 a budget failed / 2 bad input (a `--store`
that is a directory or not a Castiel store included) / 3 the store cannot be read."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from budgets.spec import load_budget_file
from castiel import argtypes
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

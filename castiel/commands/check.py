"""`castiel check --budgets FILE`: evaluate a run's budgets from the store, print the table,
write reports, exit 0 pass (warnings allowed) / 1 a budget failed / 2 bad input / 3 broken."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from budgets.spec import BudgetSpecError, load_budget_file
from castiel.errors import EXIT_BROKEN, UsageError
from castiel.gate import ReportPaths, gate, resolve_run
from castiel.storearg import add_store_argument
from collectors.store import Store, StoreError


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
    add_store_argument(p)
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
        raise UsageError(f"no metrics store at {args.store} (pass --store PATH|URL)")
    try:
        with Store.open(args.store, readonly=args.no_record) as store:
            return gate(
                store,
                resolve_run(store, args.run),
                list(spec.budgets),
                spec.path,
                baseline=args.baseline,
                save_baseline=args.save_baseline,
                reports=ReportPaths(args.json, args.junit, args.markdown, args.html),
                record=not args.no_record,
            )
    except StoreError as exc:
        print(f"castiel: store unreadable: {exc}", file=sys.stderr)
        return EXIT_BROKEN

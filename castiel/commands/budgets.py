"""`castiel budgets validate FILE...`, `castiel budgets schema` and `castiel budgets export`
(castiel/commands/budgets_export.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from budgets.schema import budget_file_schema
from budgets.spec import BudgetSpecError, load_budget_file
from castiel.commands.budgets_export import register_export
from castiel.errors import EXIT_BAD_INPUT, EXIT_PASS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "budgets",
        help="validate budget files, print their JSON Schema",
        description="Work with performance budget files (see docs/budgets.md).",
    )
    bsub = p.add_subparsers(dest="budgets_command", metavar="ACTION")
    bsub.required = True
    v = bsub.add_parser(
        "validate",
        help="check budget files; every problem with file:line:column, key and a hint",
        description="Check budget files. Exit 0 when all are valid, 2 otherwise.",
    )
    v.add_argument("files", nargs="+", metavar="FILE")
    v.set_defaults(handler=validate)
    s = bsub.add_parser(
        "schema",
        help="print the JSON Schema of budget files (for editors)",
        description="Print the JSON Schema of budget files, e.g. for the YAML language server.",
    )
    s.set_defaults(handler=schema)
    register_export(bsub)


def validate(args: argparse.Namespace) -> int:
    code = EXIT_PASS
    for path in args.files:
        try:
            spec = load_budget_file(path)
        except BudgetSpecError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            code = EXIT_BAD_INPUT
            continue
        print(f"{path}: {len(spec.budgets)} budgets OK")
    return code


def schema(args: argparse.Namespace) -> int:
    print(json.dumps(budget_file_schema(), indent=2))
    return EXIT_PASS

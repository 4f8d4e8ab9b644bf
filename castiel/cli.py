"""`castiel …`: the command line. Each command group lives in castiel/commands/<group>.py and
exposes `register(subparsers)`; handlers return an exit code (DESIGN.md):
0 pass · 1 a budget failed · 2 bad input · 3 the run itself broke."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import redis.exceptions

from castiel.commands import (
    alerts,
    budgets,
    check,
    dashboard,
    demo,
    monitor,
    queue,
    run,
    schedule,
    sources,
    store,
    worker,
)
from castiel.errors import EXIT_BAD_INPUT, EXIT_BROKEN, exit_code_for
from runtime.errors import BadInput, RunBroken

# Add a command group here: one module with register(subparsers).
COMMAND_GROUPS = (
    worker,
    queue,
    schedule,
    run,
    monitor,
    check,
    budgets,
    dashboard,
    demo,
    sources,
    alerts,
    store,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Bad CLI arguments exit 2 with usage, like every bad input."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="castiel",
        description="Castiel: job queue runtime, metrics, performance budgets and load tests "
        "for Python services on Redis.",
        epilog="Exit codes: 0 pass (warnings allowed), 1 a budget failed, 2 bad input "
        "(config, budgets, CLI), 3 the run itself broke (target unreachable, Redis down).\n"
        "Redis: --redis URL or $CASTIEL_REDIS_URL (redis://, rediss://, redis+cluster://).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
    except (BadInput, RunBroken) as exc:
        print(f"castiel: {exc}", file=sys.stderr)
        return exit_code_for(exc) or EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except (OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # Redis unreachable and similar: the run itself broke, not the input.
        print(f"castiel: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    return code


if __name__ == "__main__":
    sys.exit(main())

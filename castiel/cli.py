"""`castiel …`: the command line. Each command group lives in castiel/commands/<group>.py and
exposes `register(subparsers)`; handlers return an exit code (DESIGN.md):
0 pass · 1 a budget failed · 2 bad input · 3 the run itself broke."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from castiel.commands import (
    alerts,
    browse,
    budgets,
    calibrate,
    check,
    dashboard,
    demo,
    loadtest,
    monitor,
    queue,
    run,
    runs,
    schedule,
    sources,
    store,
    worker,
)
from castiel.errors import EXIT_BAD_INPUT, EXIT_BROKEN, Interrupted, exit_code_for
from runtime.errors import BadInput, RunBroken
from runtime.redis_outage import REDIS_UNAVAILABLE

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
    runs,
    browse,
    loadtest,
    calibrate,
    store,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Bad CLI arguments exit 2 with one line naming the argument, like every bad input."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="castiel",
        description="Castiel: job queue runtime, metrics, performance budgets and load tests "
        "for Python services on Redis.",
        epilog="Exit codes: 0 pass (warnings allowed), 1 a budget failed, 2 bad input "
        "(config, budgets, CLI), 3 the run itself broke (target unreachable, Redis down, "
        "impossible data), 4 inconclusive (the run's numbers cannot be trusted: load generator "
        "saturated, too few requests, arrival rate short of target); stopped by a signal: "
        "128 + its number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).\n"
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (2): a code, also in-process
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
    except (BadInput, RunBroken) as exc:
        # One line; a file with several problems says how many more (`validate` lists all).
        print(f"castiel: {exc}", file=sys.stderr)
        return exit_code_for(exc) or EXIT_BAD_INPUT
    except Interrupted as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except REDIS_UNAVAILABLE as exc:
        # Redis unreachable and similar: the run itself broke, not the input.
        print(f"castiel: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`castiel …`: the command line. Each command group lives in castiel/commands/<group>.py and
exposes `register(subparsers)`; handlers return an exit code (DESIGN.md):
0 pass · 1 a budget failed · 2 bad input · 3 the run itself broke.

Command groups are imported lazily: `castiel worker` imports the worker's module and what it
runs, not the alerts, budgets and load-test machinery of the other commands (a worker is
restarted often, and `pip install castiel` alone does not even install those)."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from castiel.errors import EXIT_BAD_INPUT, EXIT_BROKEN, Interrupted, UsageError, exit_code_for
from runtime.errors import BadInput, RunBroken
from runtime.redis_outage import REDIS_UNAVAILABLE

RUNTIME = None  # the command runs on `pip install castiel` alone
PLATFORM = "platform"  # it needs `pip install 'castiel[platform]'`


@dataclass(frozen=True)
class Command:
    module: str
    """Its module, with `register(subparsers)`."""
    help: str
    """The line `castiel --help` shows: the same as the module's own (a test checks)."""
    extra: str | None
    """The install extra it needs (PLATFORM), or RUNTIME."""


# Add a command group here: one line, and its module in castiel/commands/.
COMMANDS: dict[str, Command] = {
    "worker": Command(
        "castiel.commands.worker", "run a worker class (subclass of runtime.BaseWorker)", RUNTIME
    ),
    "queue": Command("castiel.commands.queue", "inspect and operate a job queue", RUNTIME),
    "schedule": Command("castiel.commands.schedule", "cron and interval schedules", RUNTIME),
    "run": Command("castiel.commands.run", "run a load test with live budgets (CI gate)", PLATFORM),
    "monitor": Command(
        "castiel.commands.monitor", "watch budgets continuously (no load test)", PLATFORM
    ),
    "check": Command(
        "castiel.commands.check", "evaluate performance budgets for a run (CI gate)", PLATFORM
    ),
    "budgets": Command(
        "castiel.commands.budgets", "validate budget files, print their JSON Schema", PLATFORM
    ),
    "dashboard": Command("castiel.commands.dashboard", "serve the dashboard (Streamlit)", PLATFORM),
    "demo": Command(
        "castiel.commands.demo",
        "run the whole platform on this machine (embedded redis-server)",
        PLATFORM,
    ),
    "sources": Command(
        "castiel.commands.sources",
        "metrics sources of castiel.yaml (Redis, scrape, Prometheus, Azure Monitor)",
        PLATFORM,
    ),
    "alerts": Command(
        "castiel.commands.alerts",
        "alert routing: validate config, test receivers, silences",
        PLATFORM,
    ),
    "runs": Command(
        "castiel.commands.runs", "list, show, export, import and delete stored runs", PLATFORM
    ),
    "browse": Command(
        "castiel.commands.browse",
        "load pages in headless Chromium: Web Vitals and page weight (frontend budgets)",
        PLATFORM,
    ),
    "loadtest": Command(
        "castiel.commands.loadtest", "load generators on other machines (Locust workers)", PLATFORM
    ),
    "calibrate": Command(
        "castiel.commands.calibrate",
        "measure each budget's run-to-run noise and A/A false alarms",
        PLATFORM,
    ),
    "store": Command(
        "castiel.commands.store", "manage the metrics store (schema migrations)", PLATFORM
    ),
}

# What the platform extra installs, by import name (pyproject.toml's `platform` list; a test
# keeps the two in step). A platform command failing to import one of these means the
# platform is not installed; any other missing module is a real error and is not hidden.
PLATFORM_MODULES = frozenset(
    {
        "alembic",
        "azure",
        "httpx",
        "jsonschema",
        "locust",
        "numpy",
        "pandas",
        "plotly",
        "psycopg",
        "rich",
        "scipy",
        "sqlalchemy",
        "starlette",
        "streamlit",
        "uvicorn",
        "websockets",
        "yaml",
    }
)


class MissingExtra(UsageError):
    """A command needs an install extra that is not installed (exit 2)."""

    def __init__(self, name: str, extra: str, missing: str) -> None:
        super().__init__(
            f"`castiel {name}` needs the {extra} install: pip install 'castiel[{extra}]' "
            f"(module {missing!r} is missing)"
        )


def _needs_extra(name: str, exc: ModuleNotFoundError) -> MissingExtra | None:
    extra = COMMANDS[name].extra
    missing = (exc.name or "").partition(".")[0]
    if extra is not None and missing in PLATFORM_MODULES:
        return MissingExtra(name, extra, missing)
    return None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Bad CLI arguments exit 2 with one line naming the argument, like every bad input."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command group `argv` names (its first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: the group it names is imported and registered in full, every
    other group is a stub that only lists itself in `castiel --help`. Without `argv`, every
    group is registered in full. Raises MissingExtra for a group whose extra is missing."""
    parser = _Parser(
        prog="castiel",
        description="Castiel: job queue runtime, metrics, performance budgets and load tests "
        "for Python services on Redis.",
        epilog="Exit codes: 0 pass (warnings allowed), 1 a budget failed, 2 bad input "
        "(config, budgets, CLI), 3 the run itself broke (target unreachable, Redis down, "
        "impossible data), 4 inconclusive (the run's numbers cannot be trusted: load generator "
        "saturated, too few requests, arrival rate short of target); stopped by a signal: "
        "128 + its number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).\n"
        "Redis: --redis URL or $CASTIEL_REDIS_URL (redis://, rediss://, redis+cluster://).\n"
        "`pip install castiel` runs worker, queue and schedule; the other commands need "
        "`pip install 'castiel[platform]'`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    chosen = chosen_command(argv) if argv is not None else None
    for name, command in COMMANDS.items():
        if argv is None or name == chosen:
            try:
                importlib.import_module(command.module).register(sub)
            except ModuleNotFoundError as exc:
                missing = _needs_extra(name, exc)
                if missing is None:
                    raise
                raise missing from None
        else:
            sub.add_parser(name, help=command.help, add_help=False)
    return parser


def _run(args: argparse.Namespace) -> int:
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ModuleNotFoundError as exc:  # a platform module imported when it is first needed
        missing = _needs_extra(args.command, exc)
        if missing is None:
            raise
        raise missing from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except MissingExtra as exc:
        print(f"castiel: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help (0) or a bad argument (2): a code, also in-process
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = _run(args)
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

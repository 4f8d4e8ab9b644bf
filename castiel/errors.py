"""Exit codes of `castiel` (DESIGN.md) and the one place errors become exit codes.

Raise `runtime.errors.BadInput` (exit 2) or `runtime.errors.RunBroken` (exit 3) where the
problem is found; `castiel.cli.main` prints the message as one line and returns
`exit_code_for(exc)`. Command handlers never translate errors by hand."""

from __future__ import annotations

import signal

from runtime.errors import BadInput, RunBroken

EXIT_PASS = 0
EXIT_BUDGET_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BROKEN = 3
EXIT_INCONCLUSIVE = 4
"""The run finished but its numbers cannot be trusted (budgets/validity.py): the load
generator was saturated, it sent fewer requests than the budgets need, or an arrival rate fell
short. Not a pass, and not the service's failure."""


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised where a blocking call must be cut short (a command whose work
    cannot poll a `loadtest.stopping.StopRequest`); `main` exits 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


class UsageError(BadInput):
    """Bad input (argument, file, config): printed as one line, exit code 2."""


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code for an error Castiel raised on purpose, None for anything else."""
    if isinstance(exc, BadInput):
        return EXIT_BAD_INPUT
    if isinstance(exc, RunBroken):
        return EXIT_BROKEN
    return None

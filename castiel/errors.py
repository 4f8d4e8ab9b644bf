"""Exit codes of `castiel` (DESIGN.md) and the error that maps to exit 2."""

EXIT_PASS = 0
EXIT_BUDGET_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BROKEN = 3


class UsageError(Exception):
    """Bad input (argument, file, config): printed as one line, exit code 2."""

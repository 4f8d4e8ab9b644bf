"""Exceptions Castiel raises on purpose. Each says what went wrong and what to do about it.

Two branches matter to the command line, which maps them to exit codes in one place
(`castiel.errors.exit_code_for`): `BadInput` (exit 2: a file, argument, config or payload is
wrong, and running again will not help) and `RunBroken` (exit 3: a dependency is unreachable
or the run itself broke). They live here, at the bottom of the layers, so every package can
raise them where the problem is found."""

from __future__ import annotations


class CastielError(Exception):
    """Base class for every error Castiel raises on purpose."""


class BadInput(CastielError):
    """The input is wrong: a file, a command-line argument, a config value. Exit code 2."""


class RunBroken(CastielError):
    """A dependency is unreachable or the run itself broke (Redis down, target refused,
    store unreachable). Exit code 3."""


class ConfigError(BadInput, ValueError):
    """A setting is missing or malformed (keyword argument or environment variable)."""


class PayloadError(CastielError, TypeError):
    """A job payload or result cannot be encoded as JSON."""


class EvictionPolicyError(CastielError):
    """The Redis server may evict keys, which could silently drop jobs."""


class UnrecoverableError(CastielError):
    """Raise from `process` to fail a job at once, skipping any remaining attempts."""


class JobTimeoutError(CastielError, TimeoutError):
    """A job ran longer than its timeout."""


class WorkerCrashed(RunBroken):
    """One of a worker's loops died of an unexpected error (its traceback is logged); the
    process must be restarted."""


class NotReplicatedError(CastielError):
    """A durable add wrote its job, but fewer replicas than asked confirmed it in time: the
    job may be lost if its master fails now. Adding it again with `job_id` is idempotent."""

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id

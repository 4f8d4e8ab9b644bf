"""Exceptions the runtime raises. Each says what went wrong and what to do about it."""

from __future__ import annotations


class CastielError(Exception):
    """Base class for every error Castiel raises on purpose."""


class ConfigError(CastielError, ValueError):
    """A setting is missing or malformed (keyword argument or environment variable)."""


class PayloadError(CastielError, TypeError):
    """A job payload or result cannot be encoded as JSON."""


class EvictionPolicyError(CastielError):
    """The Redis server may evict keys, which could silently drop jobs."""


class UnrecoverableError(CastielError):
    """Raise from `process` to fail a job at once, skipping any remaining attempts."""


class JobTimeoutError(CastielError, TimeoutError):
    """A job ran longer than its timeout."""

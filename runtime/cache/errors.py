"""Exceptions of the cache. Each says what went wrong and what to do about it."""

from __future__ import annotations

from runtime.errors import CastielError


class CacheUnavailableError(CastielError):
    """Redis could not be reached and the cache is configured fail-closed (or the operation,
    such as an invalidation, must not pretend to have succeeded)."""


class CacheError(CastielError):
    """The cache met data or a state it cannot work with (a corrupt entry, a runaway
    invalidation retry)."""

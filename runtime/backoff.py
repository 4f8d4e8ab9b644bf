"""Retry delays: exponential backoff with jitter, as a pure function of the attempt number."""

from __future__ import annotations

import random
from dataclasses import dataclass

from runtime.errors import ConfigError


@dataclass(frozen=True)
class Backoff:
    """delay(n) = min(max_delay, base * factor**(n-1)), then up to `jitter` of it taken off at
    random, so retries of many jobs that failed together spread out instead of colliding."""

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base < 0 or self.max_delay < 0:
            raise ConfigError("backoff base and max_delay must be >= 0 seconds")
        if self.factor < 1:
            raise ConfigError("backoff factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ConfigError("backoff jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retrying after failed attempt number `attempt` (1-based)."""
        raw = min(self.max_delay, self.base * self.factor ** max(0, attempt - 1))
        if not self.jitter:
            return raw
        draw = (rng or random).random()
        return raw * (1 - self.jitter * draw)

    def to_list(self) -> list[float]:
        return [self.base, self.factor, self.max_delay, self.jitter]

    @classmethod
    def from_list(cls, values: list[float] | None) -> Backoff:
        return cls(*values) if values else cls()

"""Worker configuration: keyword arguments, then environment variables, then class defaults,
validated at start with a message that names the setting and its environment variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from runtime.errors import ConfigError

ENV_PREFIX = "CASTIEL_"


@dataclass(frozen=True)
class WorkerSettings:
    queue: str = "default"
    redis_url: str | None = None
    concurrency: int = 10
    lease: float = 10.0  # seconds a fetched job stays ours without renewal
    max_stalls: int = 1  # lease expiries a job survives before it fails
    stall_interval: float = 2.0  # how often this worker sweeps expired leases
    grace: float = 30.0  # seconds in-flight jobs get to finish on SIGTERM
    block_timeout: float = 5.0  # longest blocking wait on Redis while idle
    # Settle calls in flight at once (1: wait out each round trip). 2 overlaps the worker's
    # work with Redis's, but makes each call smaller: measured, it cost ~8 µs/job more CPU
    # (worker + Redis) and was not faster on a loaded 2-core machine (docs/benchmarks.md).
    settle_depth: int = 1
    heartbeat_interval: float = 5.0
    metrics_port: int | None = None  # serve /metrics on 127.0.0.1:PORT when set
    allow_eviction: bool = False
    worker_id: str | None = None

    def validate(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            env = ENV_PREFIX + name.upper()
            return ConfigError(f"worker setting {name!r} (env {env}): {why}")

        if not self.queue:
            raise bad("queue", "must be a queue name")
        if self.concurrency < 1:
            raise bad("concurrency", f"must be >= 1, got {self.concurrency}")
        if not 1 <= self.settle_depth <= 8:
            raise bad("settle_depth", f"must be between 1 and 8, got {self.settle_depth}")
        if self.lease < 0.5:
            raise bad("lease", f"must be >= 0.5 seconds, got {self.lease}")
        if self.max_stalls < 0:
            raise bad("max_stalls", f"must be >= 0, got {self.max_stalls}")
        for name in ("stall_interval", "grace", "block_timeout", "heartbeat_interval"):
            if getattr(self, name) <= 0 and name != "grace":
                raise bad(name, f"must be > 0 seconds, got {getattr(self, name)}")
        if self.grace < 0:
            raise bad("grace", f"must be >= 0 seconds, got {self.grace}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise bad("metrics_port", f"must be a TCP port, got {self.metrics_port}")

    @classmethod
    def resolve(
        cls,
        defaults: Mapping[str, Any],
        overrides: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
    ) -> WorkerSettings:
        """Keyword overrides beat `CASTIEL_<NAME>` environment variables, which beat the
        worker class's defaults. Unknown keywords and unparsable values raise ConfigError."""
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ConfigError(f"unknown worker setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, f in known.items():
            if name in overrides and overrides[name] is not None:
                values[name] = overrides[name]
            elif ENV_PREFIX + name.upper() in env:
                values[name] = _parse(name, str(f.type), env[ENV_PREFIX + name.upper()])
            elif name in defaults:
                values[name] = defaults[name]
        if values.get("redis_url") is None and "CASTIEL_REDIS_URL" in env:
            values["redis_url"] = env["CASTIEL_REDIS_URL"]
        settings = cls(**values)
        settings.validate()
        return settings


def _parse(name: str, type_name: str, raw: str) -> Any:
    env = ENV_PREFIX + name.upper()
    try:
        if type_name.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
    except ValueError:
        expected = type_name.split(" ", maxsplit=1)[0]
        raise ConfigError(f"{env}={raw!r}: expected {expected}") from None
    return raw

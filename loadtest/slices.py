"""Per-second slices of Locust's cumulative statistics, attributed to the seconds they cover.

Locust keeps cumulative counts and `response_times` dicts ({rounded ms: count}) per endpoint;
the difference of two snapshots is the interval's requests, failures and a mergeable
histogram, with nothing added to the per-request path. A slicer runs in every process that
sends requests (the local process, or each worker of a distributed run) and cuts at whole
wall-clock seconds, so a distributed run's data lands in the seconds it was measured in
instead of the seconds the master happened to hear about it (docs/loadtest.md).

Pure: no Locust import; the reporter feeds it Locust's entries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]  # (name, method)


@dataclass(frozen=True)
class EntrySnapshot:
    """One endpoint's cumulative statistics at one moment."""

    name: str
    method: str
    requests: int
    failures: int
    response_times: Mapping[int, int]

    @classmethod
    def of_serialized(cls, entry: Mapping[str, Any]) -> EntrySnapshot:
        """From `StatsEntry.serialize()` (what a worker sends to its master)."""
        return cls(
            str(entry["name"]),
            str(entry["method"]),
            int(entry["num_requests"]),
            int(entry["num_failures"]),
            {int(k): int(v) for k, v in entry["response_times"].items()},
        )


def slice_bounds(previous_end: float, now: float) -> tuple[float, float]:
    """The seconds a cut at `now` covers: from the previous cut to the last whole second
    (at least one second, so a cut a few ms late still closes the second it belongs to)."""
    return previous_end, max(previous_end + 1, float(math.floor(now)))


@dataclass
class Slicer:
    """Differences of cumulative snapshots. `forget()` after the source was reset (a worker's
    statistics restart from zero after each report to the master)."""

    _base: dict[Key, EntrySnapshot] = field(default_factory=dict)
    _counters: dict[str, float] = field(default_factory=dict)

    def endpoints(self, current: Iterable[EntrySnapshot]) -> list[dict[str, Any]]:
        """What changed since the last call, one record per endpoint (the reporter's format:
        name, method, requests, failures, rt_ms)."""
        out = []
        for e in current:
            key = (e.name, e.method)
            prev = self._base.get(key)
            prev_rt: Mapping[int, int] = prev.response_times if prev else {}
            d_n = e.requests - (prev.requests if prev else 0)
            d_f = e.failures - (prev.failures if prev else 0)
            d_rt = {
                str(ms): n - prev_rt.get(ms, 0)
                for ms, n in e.response_times.items()
                if n != prev_rt.get(ms, 0)
            }
            self._base[key] = EntrySnapshot(
                e.name, e.method, e.requests, e.failures, dict(e.response_times)
            )
            if d_n or d_f:
                out.append(
                    {
                        "name": e.name,
                        "method": e.method,
                        "requests": d_n,
                        "failures": d_f,
                        "rt_ms": d_rt,
                    }
                )
        return out

    def counters(self, current: Mapping[str, float]) -> dict[str, float]:
        """Differences of cumulative counters that are never reset (iterations, dropped)."""
        out = {name: value - self._counters.get(name, 0) for name, value in current.items()}
        self._counters.update(current)
        return out

    def forget(self) -> None:
        self._base = {}

"""A load generator's own CPU use, as the validity check reads it (budgets/validity.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

MIN_SPAN = 0.5
"""Seconds. The kernel counts CPU time in clock ticks (10 ms): over 20 ms one tick reads 50 %
and two read 100 %, so a reading over a shorter span than this says nothing. Locust's reports
can come that close together on a loaded machine (a single-threaded worker once read 213 %)."""


class Cpu:
    """This process's CPU use, in percent of one core, since the previous reading at least
    MIN_SPAN seconds ago; a reading taken sooner repeats the previous one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._process = psutil.Process()
        self._clock = clock
        self._since = clock()
        self._used = self._cpu_seconds()
        self._last = 0.0

    def _cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def percent(self) -> float:
        now = self._clock()
        span = now - self._since
        if span >= MIN_SPAN:
            used = self._cpu_seconds()
            self._last = 100.0 * (used - self._used) / span
            self._since, self._used = now, used
        return self._last

"""Loaded into the Locust process next to the locustfile (`-f user.py,reporter.py`): every
second it appends one JSON line to $CASTIEL_STATS_FILE with the interval's requests, failures
and response-time histogram per endpoint — the difference of Locust's cumulative
`response_times` dicts, so the per-request path is untouched. On the master (distributed
runs) the stats are the workers' merged reports; a final line is written when Locust quits,
so the lines always add up to Locust's own totals."""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

Cumulative = tuple[int, int, dict[int, int]]


class Reporter:
    def __init__(self, environment: Environment, out: IO[str]) -> None:
        self.env = environment
        self.out = out
        self.last: dict[tuple[str, str], Cumulative] = {}
        ev = environment.events
        ev.spawning_complete.add_listener(self.on_spawned)
        ev.test_start.add_listener(self.on_test_start)
        ev.quitting.add_listener(self.on_quit)
        self.write({"event": "init", "t": time.time()})
        gevent.spawn(self.loop)

    def write(self, record: dict[str, Any]) -> None:
        if not self.out.closed:
            self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.out.flush()

    def delta(self, final: bool = False) -> dict[str, Any]:
        endpoints = []
        for (name, method), entry in list(self.env.stats.entries.items()):
            prev_n, prev_f, prev_rt = self.last.get((name, method), (0, 0, {}))
            rt = dict(entry.response_times)
            d_rt = {k: v - prev_rt.get(k, 0) for k, v in rt.items() if v != prev_rt.get(k, 0)}
            d_n, d_f = entry.num_requests - prev_n, entry.num_failures - prev_f
            self.last[(name, method)] = (entry.num_requests, entry.num_failures, rt)
            if d_n or d_f:
                endpoints.append(
                    {
                        "name": name,
                        "method": method,
                        "requests": d_n,
                        "failures": d_f,
                        "rt_ms": d_rt,
                    }
                )
        total = self.env.stats.total
        return {
            "event": "final" if final else "tick",
            "t": time.time(),
            "users": self.env.runner.user_count if self.env.runner else 0,
            "endpoints": endpoints,
            "total_requests": total.num_requests,
            "total_failures": total.num_failures,
        }

    def loop(self) -> None:
        while not self.out.closed:
            gevent.sleep(1.0)
            self.write(self.delta())

    def on_spawned(self, user_count: int, **_: Any) -> None:
        self.write({"event": "spawning_complete", "t": time.time(), "users": user_count})

    def on_test_start(self, **_: Any) -> None:
        self.last = {}  # Locust resets its stats when a test starts
        self.write({"event": "test_start", "t": time.time()})

    def on_quit(self, **_: Any) -> None:
        self.write(self.delta(final=True))
        self.out.close()


def _on_init(environment: Environment, **_: Any) -> None:
    path = os.environ.get("CASTIEL_STATS_FILE")
    if path and not isinstance(environment.runner, WorkerRunner):
        Reporter(environment, open(path, "a", encoding="utf-8"))  # noqa: SIM115


events.init.add_listener(_on_init)

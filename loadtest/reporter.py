"""Loaded into the Locust process next to the locustfile (`-f user.py,reporter.py`): every
second it appends one JSON line to $CASTIEL_STATS_FILE with the interval's requests, failures
and response-time histogram per endpoint — the difference of Locust's cumulative
`response_times` dicts, so Locust's own per-request path is untouched. On the master
(distributed runs) the stats are the workers' merged reports; a final line is written when
Locust quits, so the lines always add up to Locust's own totals.

Each line also carries what k6-style thresholds and the validity check need:
* `detail`: requests per endpoint, status code and outcome (`expected_response`: Locust
  counted it a success) with their response times, from a `request` listener;
* `iterations`: the users' top-level task executions that completed (k6's iterations);
* `cpu`: the CPU use (percent of one core) of every Locust process, sampled every second,
  so a saturated load generator is visible (Locust itself samples every 10 s).

Workers send their part with each report to the master (`report_to_master`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import IO, Any

import gevent
import psutil
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import bucket_response_time
from locust.user.task import DefaultTaskSet

Cumulative = tuple[int, int, dict[int, int]]
DetailKey = tuple[str, str, str, bool]


class Detail:
    """Per-request counts by (name, method, status, success) with rounded response times
    (ms, Locust's own bucketing), drained once per report."""

    def __init__(self) -> None:
        self.cells: dict[DetailKey, list[Any]] = {}
        self.iterations = 0

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response: Any = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        status = str(getattr(response, "status_code", 0) or 0)
        cell = self.cells.get((name, request_type, status, exception is None))
        if cell is None:
            cell = self.cells[(name, request_type, status, exception is None)] = [0, {}]
        cell[0] += 1
        if response_time is not None:
            ms = bucket_response_time(response_time)
            cell[1][ms] = cell[1].get(ms, 0) + 1

    def drain(self) -> dict[str, Any]:
        out = {
            "detail": [[*key, count, rt] for key, (count, rt) in self.cells.items()],
            "iterations": self.iterations,
        }
        self.cells = {}
        self.iterations = 0
        return out

    def merge(self, part: dict[str, Any]) -> None:
        self.iterations += int(part.get("iterations", 0))
        for name, method, status, ok, count, rt in part.get("detail", []):
            cell = self.cells.setdefault((name, method, status, bool(ok)), [0, {}])
            cell[0] += int(count)
            for ms, n in rt.items():
                cell[1][int(ms)] = cell[1].get(int(ms), 0) + int(n)


def count_iterations(detail: Detail) -> None:
    """Count every completed top-level task of a user (k6's `iterations`): Locust has no
    event for it, so the default task set's dispatch is wrapped once per process."""
    original: Callable[[DefaultTaskSet, Any], None] = DefaultTaskSet.execute_task

    def execute_task(self: DefaultTaskSet, task: Any) -> None:
        original(self, task)
        detail.iterations += 1

    DefaultTaskSet.execute_task = execute_task  # type: ignore[method-assign]


class Cpu:
    """This process's CPU use since the previous reading (percent of one core)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first reading only starts the clock

    def percent(self) -> float:
        return float(self.process.cpu_percent(None))


class Reporter:
    def __init__(self, environment: Environment, out: IO[str], detail: Detail) -> None:
        self.env = environment
        self.out = out
        self.detail = detail
        self.cpu = Cpu()
        self.worker_cpu: dict[str, float] = {}
        self.last: dict[tuple[str, str], Cumulative] = {}
        self.errors = Occurrences()
        ev = environment.events
        ev.spawning_complete.add_listener(self.on_spawned)
        ev.test_start.add_listener(self.on_test_start)
        ev.quitting.add_listener(self.on_quit)
        if isinstance(environment.runner, MasterRunner):
            ev.worker_report.add_listener(self.on_worker_report)
        self.write({"event": "init", "t": time.time()})
        gevent.spawn(self.loop)

    def write(self, record: dict[str, Any]) -> None:
        if not self.out.closed:
            self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.out.flush()

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        part = data.get("castiel")
        if isinstance(part, dict):
            self.detail.merge(part)
            if "cpu" in part:
                self.worker_cpu[f"worker-{client_id}"] = float(part["cpu"])

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
        own = "master" if isinstance(self.env.runner, MasterRunner) else "local"
        # Users are not reported once Locust stopped them: the run's last reading is the
        # load it ran with (k6's `vus` value), not the 0 left after the stop.
        users = {} if final else {"users": self.env.runner.user_count if self.env.runner else 0}
        return {
            "event": "final" if final else "tick",
            "t": time.time(),
            **users,
            "endpoints": endpoints,
            "total_requests": total.num_requests,
            "total_failures": total.num_failures,
            "cpu": {own: self.cpu.percent(), **self.worker_cpu},
            **self.detail.drain(),
            **self.errors.delta(self.env),
        }

    def loop(self) -> None:
        while not self.out.closed:
            gevent.sleep(1.0)
            self.write(self.delta())

    def on_spawned(self, user_count: int, **_: Any) -> None:
        self.write({"event": "spawning_complete", "t": time.time(), "users": user_count})

    def on_test_start(self, **_: Any) -> None:
        self.last = {}  # Locust resets its stats when a test starts
        self.errors = Occurrences()
        self.detail.drain()
        self.write({"event": "test_start", "t": time.time()})

    def on_quit(self, **_: Any) -> None:
        self.write(self.delta(final=True))
        self.out.close()


ERROR_TEXT = 300
"""Characters of an error message or exception kept (a label: long texts are cut)."""


class Occurrences:
    """Locust's failures table (`stats.errors`: method, name, error, occurrences) and
    exceptions table (`runner.exceptions`: message, count) as increments since the last
    report; on the master both already hold the workers' merged tables."""

    def __init__(self) -> None:
        self.errors: dict[tuple[str, str, str], int] = {}
        self.exceptions: dict[tuple[str, str], int] = {}

    def delta(self, env: Environment) -> dict[str, Any]:
        errors: dict[tuple[str, str, str], int] = {}
        for e in list(env.stats.errors.values()):
            key = (str(e.name), str(e.method), str(e.error)[:ERROR_TEXT])
            errors[key] = errors.get(key, 0) + int(e.occurrences)
        exceptions: dict[tuple[str, str], int] = {}
        for row in list((env.runner.exceptions if env.runner else {}).values()):
            raised = (str(row.get("msg", ""))[:ERROR_TEXT], _where(str(row.get("traceback", ""))))
            exceptions[raised] = exceptions.get(raised, 0) + int(row.get("count", 0))
        return {
            "errors": [[*k, n] for k, n in _grown(self.errors, errors)],
            "exceptions": [[*k, n] for k, n in _grown(self.exceptions, exceptions)],
        }


def _where(traceback: str) -> str:
    """Where an exception was raised: the innermost frame of Locust's formatted traceback
    (`File "...", line 15, in checkout · raise KeyError("cart")`); Locust keeps the message
    (str(exception)) apart."""
    lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
    return " · ".join(lines[-2:])[:ERROR_TEXT]


def _grown(seen: dict[Any, int], totals: dict[Any, int]) -> list[tuple[Any, int]]:
    """What each total grew by since `seen` (which is updated)."""
    out = []
    for key, total in totals.items():
        if total > seen.get(key, 0):
            out.append((key, total - seen.get(key, 0)))
            seen[key] = total
    return out


class WorkerPart:
    """On a worker: hands its detail, iterations and CPU to every report to the master."""

    def __init__(self, environment: Environment, detail: Detail) -> None:
        self.detail = detail
        self.cpu = Cpu()
        environment.events.report_to_master.add_listener(self.on_report)

    def on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data["castiel"] = {**self.detail.drain(), "cpu": self.cpu.percent()}


def _on_init(environment: Environment, **_: Any) -> None:
    path = os.environ.get("CASTIEL_STATS_FILE")
    if not path:
        return
    detail = Detail()
    if isinstance(environment.runner, WorkerRunner):
        WorkerPart(environment, detail)
    else:
        Reporter(environment, open(path, "a", encoding="utf-8"), detail)  # noqa: SIM115
    if not isinstance(environment.runner, MasterRunner):  # the master sends no requests
        environment.events.request.add_listener(detail.on_request)
        count_iterations(detail)


events.init.add_listener(_on_init)

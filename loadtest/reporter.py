"""Loaded into every Locust process of a run next to the locustfile (`-f user.py,...,
reporter.py`). It writes $CASTIEL_STATS_FILE, one JSON line per event, that `stream.py`
turns into series:

* `slice`: the requests, failures and response-time histogram per endpoint of [start, t),
  cut at whole wall-clock seconds (`slices.py`), the open-model counters (iterations started,
  dropped) when the run paces arrivals, and what k6-style thresholds need: `detail` (requests
  per endpoint, status code and outcome with their response times, from a `request`
  listener) and `iterations` (the users' completed top-level tasks, k6's iterations);
* `tick` (every second) and `final` (when Locust quits): users, Locust's own totals, the CPU
  use (percent of one core) of every Locust process, sampled every second so a saturated
  load generator is visible (Locust itself samples every 10 s), for an arrival-rate run
  the target rate, and what grew of Locust's failures table (per endpoint and error) and
  exceptions table (per message and innermost frame) since the last line (on the master
  both already hold the workers' merged tables).

Where the slices are cut: in the process that sent the requests. A local run cuts its own
statistics. In a distributed run each worker cuts its statistics every second and sends the
slices (and its CPU) with its report to the master, whose reporter writes them; the report
interval is lowered from Locust's 3 s to 1 s so the live view lags by a second, not three.
Each slice therefore lands in the seconds it was measured in, and the slices add up exactly
to the master's totals (every report's data is in exactly one slice). The final line is
written when Locust quits, after the workers' last reports."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import IO, Any

import gevent
import locust.runners
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import bucket_response_time
from locust.user.task import DefaultTaskSet

from loadtest.cpu import Cpu
from loadtest.pacing import PacingState, pacing_state
from loadtest.slices import EntrySnapshot, Slicer, slice_bounds

WORKER_SLICES = "castiel_slices"  # the key of a worker report that carries its slices
WORKER_CPU = "castiel_cpu"  # the key of a worker report that carries its CPU use

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


def _sleep_to_next_second() -> None:
    now = time.time()
    gevent.sleep(math.floor(now) + 1 - now + 0.002)


def _live_entries(environment: Environment) -> list[EntrySnapshot]:
    return [
        EntrySnapshot(name, method, e.num_requests, e.num_failures, dict(e.response_times))
        for (name, method), e in list(environment.stats.entries.items())
    ]


def _counters(state: PacingState | None) -> dict[str, float] | None:
    if state is None or state.dispenser is None:
        return None
    c = state.dispenser.counters
    return {
        "iterations": c.iterations,
        "dropped": c.dropped,
        "finished": c.finished,
        "busy_seconds": c.busy_seconds,
    }


class Cutter:
    """Cuts one process's statistics into slices at whole seconds (local and workers)."""

    def __init__(self, environment: Environment, detail: Detail) -> None:
        self.env = environment
        self.detail = detail
        self.slicer = Slicer()
        self.previous_end = float(math.floor(time.time()))

    def reset(self) -> None:
        """Locust resets its statistics when a test starts: so does the cutter."""
        self.slicer.forget()
        self.detail.drain()

    def cut(self, entries: list[EntrySnapshot], now: float, advance: bool) -> dict[str, Any]:
        """A slice up to `now`. `advance=False` for a partial cut inside the current second
        (a report, the end): the rest of that second follows in the next cut."""
        start, end = slice_bounds(self.previous_end, now)
        if advance:
            self.previous_end = end
        record: dict[str, Any] = {
            "event": "slice",
            "start": start,
            "t": end,
            "endpoints": self.slicer.endpoints(entries),
            **self.detail.drain(),
        }
        counters = _counters(pacing_state(self.env))
        if counters is not None:
            record["counters"] = self.slicer.counters(counters)
        return record


class Reporter:
    """The local process or the master: writes the stats file."""

    def __init__(self, environment: Environment, out: IO[str], detail: Detail) -> None:
        self.env = environment
        self.out = out
        self.master = isinstance(environment.runner, MasterRunner)
        self.cutter = None if self.master else Cutter(environment, detail)
        self.cpu = Cpu()
        self.worker_cpu: dict[str, float] = {}
        self.pending: list[dict[str, Any]] = []  # worker slices not written yet
        self.last_tick = time.time()
        self.errors = Occurrences()
        ev = environment.events
        ev.spawning_complete.add_listener(self.on_spawned)
        ev.test_start.add_listener(self.on_test_start)
        ev.quitting.add_listener(self.on_quit)
        if self.master:
            ev.worker_report.add_listener(self.on_worker_report)
        self.write({"event": "init", "t": time.time()})
        gevent.spawn(self.loop)

    def write(self, record: dict[str, Any]) -> None:
        if not self.out.closed:
            self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.out.flush()

    def emit(self, record: dict[str, Any]) -> None:
        state = pacing_state(self.env)
        if state is not None and "counters" in record:
            state.observe(record["counters"])
        self.write(record)

    def status(self, event: str) -> dict[str, Any]:
        now = time.time()
        total = self.env.stats.total
        record: dict[str, Any] = {
            "event": event,
            "t": now,
            "total_requests": total.num_requests,
            "total_failures": total.num_failures,
            "cpu": {"master" if self.master else "local": self.cpu.percent(), **self.worker_cpu},
            **self.errors.delta(self.env),
        }
        if event != "final":
            # Not once Locust stopped them: the run's last reading is the load it ran with
            # (k6's `vus` value), not the 0 left after the stop.
            record["users"] = self.env.runner.user_count if self.env.runner else 0
        state = pacing_state(self.env)
        if state is not None and state.active(self.last_tick):
            record["target_rate"] = state.target_rate(self.last_tick, now)
        self.last_tick = now
        return record

    def loop(self) -> None:
        while not self.out.closed:
            _sleep_to_next_second()
            if self.cutter is not None:
                self.emit(self.cutter.cut(_live_entries(self.env), time.time(), advance=True))
            self.flush_pending()
            state = pacing_state(self.env)
            if state is not None:
                state.close_second()
            self.write(self.status("tick"))

    def flush_pending(self) -> None:
        pending, self.pending = self.pending, []
        for record in pending:
            self.emit(record)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        for record in data.get(WORKER_SLICES, ()):
            self.pending.append({**record, "source": client_id})
        if WORKER_CPU in data:
            self.worker_cpu[f"worker-{client_id}"] = float(data[WORKER_CPU])

    def on_spawned(self, user_count: int, **_: Any) -> None:
        self.write({"event": "spawning_complete", "t": time.time(), "users": user_count})

    def on_test_start(self, **_: Any) -> None:
        self.errors = Occurrences()  # Locust resets its tables when a test starts
        if self.cutter is not None:
            self.cutter.reset()
        self.write({"event": "test_start", "t": time.time()})

    def on_quit(self, **_: Any) -> None:
        now = time.time()
        if self.cutter is not None:
            self.pending.append(self.cutter.cut(_live_entries(self.env), now, advance=False))
        # The last slices end where the run ended, not at the next whole second: a budget
        # over the whole run counts what was sent up to its end, and the run ends now.
        for record in self.pending:
            record["t"] = max(float(record["start"]), min(float(record["t"]), now))
        self.flush_pending()
        self.write(self.status("final"))
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


class WorkerSlices:
    """A worker: slices every second, handed to the master with each report."""

    def __init__(self, environment: Environment, detail: Detail) -> None:
        locust.runners.WORKER_REPORT_INTERVAL = 1.0  # read by the report loop on each round
        self.env = environment
        self.cutter = Cutter(environment, detail)
        self.cpu = Cpu()
        self.pending: list[dict[str, Any]] = []
        # Registered after Locust's own report listener (the runner exists before `init`):
        # data["stats"] already holds everything since the last report, and the live
        # entries have just been reset to zero.
        environment.events.report_to_master.add_listener(self.on_report)
        environment.events.test_start.add_listener(lambda **_: self.cutter.reset())
        gevent.spawn(self.loop)

    def loop(self) -> None:
        while True:
            _sleep_to_next_second()
            self.pending.append(self.cutter.cut(_live_entries(self.env), time.time(), advance=True))

    def on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        reported = [EntrySnapshot.of_serialized(e) for e in data.get("stats", ())]
        self.pending.append(self.cutter.cut(reported, time.time(), advance=False))
        self.cutter.slicer.forget()
        data[WORKER_SLICES], self.pending = self.pending, []
        data[WORKER_CPU] = self.cpu.percent()


def _on_init(environment: Environment, **_: Any) -> None:
    detail = Detail()
    if not isinstance(environment.runner, MasterRunner):  # the master sends no requests
        environment.events.request.add_listener(detail.on_request)
        count_iterations(detail)
    if isinstance(environment.runner, WorkerRunner):
        WorkerSlices(environment, detail)
        return
    path = os.environ.get("CASTIEL_STATS_FILE")
    if path:
        Reporter(environment, open(path, "a", encoding="utf-8"), detail)  # noqa: SIM115


events.init.add_listener(_on_init)

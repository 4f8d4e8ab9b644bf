"""`castiel demo`: the runtime demo on an embedded Redis.

Starts its own redis-server (free port, AOF data under .castiel/demo/), two worker processes
of examples.jobs:ThumbnailWorker, and a producer that enqueues jobs (single adds, bulk bursts,
priorities, delays, a few failing jobs); shows throughput and queue counts live; cleans up
every process it started on exit or Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from castiel.redis_server import RedisServer, free_port
from loadtest.stopping import StopRequest, spawn_detached, stop_on_signals
from runtime import Counts, JobSpec, Queue, connect
from runtime.heartbeat import Heartbeat, read_heartbeats

QUEUE = "thumbnails"
WORKER = "examples.jobs:ThumbnailWorker"


@dataclass
class DemoOptions:
    duration: float = 20.0
    rate: int = 400  # jobs enqueued per second
    workers: int = 2
    data_dir: Path = Path(".castiel/demo")


@dataclass
class Snapshot:
    elapsed: float
    enqueued: int
    counts: Counts
    completed_per_s: float
    processed: int
    workers: list[Heartbeat]


@contextmanager
def _redis(data_dir: Path) -> Iterator[RedisServer]:
    # Each demo starts from empty data, so its figures are its own.
    shutil.rmtree(data_dir / "redis", ignore_errors=True)
    server = RedisServer(data_dir / "redis", appendonly=True, detach=True).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def _workers(url: str, n: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = log_path.open("wb")
    proc = spawn_detached(
        [
            sys.executable,
            "-m",
            "castiel",
            "worker",
            WORKER,
            "--redis",
            url,
            "--processes",
            str(n),
            "--metrics-port",
            str(free_port()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "CASTIEL_REDIS_URL": url},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisor stops its worker processes
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _table(s: Snapshot) -> Table:
    table = Table(title=f"castiel demo · queue {QUEUE!r} · {s.elapsed:5.1f}s")
    for col in (
        "enqueued",
        "waiting",
        "delayed",
        "active",
        "completed*",
        "failed",
        "jobs/s",
        "workers",
    ):
        table.add_column(col, justify="right")
    c = s.counts
    table.add_row(
        str(s.enqueued),
        str(c.wait),
        str(c.delayed),
        str(c.active),
        str(s.processed),
        str(c.failed),
        f"{s.completed_per_s:,.0f}",
        str(len(s.workers)),
    )
    table.caption = "* completed + failed, from the per-minute counters"
    return table


def _line(s: Snapshot) -> str:
    c = s.counts
    return (
        f"[{s.elapsed:5.1f}s] enqueued={s.enqueued} wait={c.wait} delayed={c.delayed} "
        f"active={c.active} processed={s.processed} failed={c.failed} "
        f"rate={s.completed_per_s:,.0f}/s workers={len(s.workers)}"
    )


def _finished(q: Queue) -> int:
    """Jobs completed or failed so far, from the queue's per-minute counters (exact and live,
    unlike the completed set, which is trimmed)."""
    return sum(sum(per.values()) for per in q.per_minute().values())


def _produce(q: Queue, rng: random.Random, n: int, start: int) -> int:
    """One tick of traffic: mostly a bulk burst, some single adds with options."""
    specs = [
        JobSpec("thumbnail", {"image": f"img-{start + i}.png"}, attempts=3) for i in range(n - 3)
    ]
    q.add_bulk(specs)
    q.add("thumbnail", {"image": "urgent.png"}, priority=100, attempts=3)
    q.add("thumbnail", {"image": "later.png"}, delay=rng.uniform(0.5, 3), attempts=3)
    q.add("thumbnail", {"image": f"broken-{start}.png", "corrupt": rng.random() < 0.2}, attempts=3)
    return n


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop it: the workers and redis-server are stopped
    and the exit code is 128 + the signal number."""
    with stop_on_signals() as stop:
        return _run_demo(options, console or Console(), stop)


def _run_demo(options: DemoOptions, console: Console, stop: StopRequest) -> int:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    with (
        _redis(options.data_dir) as server,
        _workers(server.url, options.workers, options.data_dir / "workers.log") as workers,
    ):
        conn = connect(server.url)
        q = Queue(conn.sync, QUEUE)
        print(f"redis-server: {server.url} (AOF under {options.data_dir / 'redis'})")
        print(
            f"workers: {options.workers} processes of {WORKER} "
            f"(log: {options.data_dir / 'workers.log'})",
            flush=True,
        )
        start = time.monotonic()
        enqueued = 0
        history = deque([(start, _finished(q))], maxlen=9)  # ~2 s of ticks for the rate
        per_tick = max(4, options.rate // 4)
        live = Live(console=console, refresh_per_second=4) if console.is_terminal else None
        try:
            if live:
                live.start()
            next_print = start
            while not stop.requested:
                now = time.monotonic()
                producing = now - start < options.duration
                if producing:
                    enqueued += _produce(q, rng, per_tick, enqueued)
                counts = q.counts()
                beats, _ = read_heartbeats(q.client)
                processed = _finished(q)
                history.append((now, processed))
                (t0, p0), (t1, p1) = history[0], history[-1]
                rate = (p1 - p0) / max(1e-6, t1 - t0)
                snap = Snapshot(now - start, enqueued, counts, rate, processed, beats)
                if live:
                    live.update(_table(snap))
                elif now >= next_print:
                    print(_line(snap), flush=True)
                    next_print = now + 2
                if workers.poll() is not None:
                    console.print(
                        f"[red]workers exited with {workers.returncode}; see "
                        f"{options.data_dir / 'workers.log'}[/red]"
                    )
                    return 3
                drained = counts.wait == 0 and counts.active == 0 and counts.delayed == 0
                if not producing and (drained or now - start > options.duration + 30):
                    break
                stop.sleep(0.25)
        finally:
            if live:
                live.stop()
        if stop.requested:
            console.print(f"{stop.reason}; stopping workers and redis-server")
            conn.close()
            return stop.exit_code
        elapsed = time.monotonic() - start
        final = q.counts()
        print(_line(Snapshot(elapsed, enqueued, final, processed / elapsed, processed, beats)))
        print(
            f"done: {enqueued} jobs enqueued, {final.failed} failed for good "
            f"(corrupt images), average {processed / elapsed:,.0f} jobs/s"
        )
        conn.close()
    return 0

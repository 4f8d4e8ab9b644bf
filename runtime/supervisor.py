"""Runs N worker processes of one class and keeps them running: `castiel worker --processes`.

Children are spawned (not forked) so none inherits the parent's Redis connections or event
loop. SIGTERM/SIGINT are forwarded; each child then shuts down gracefully on its own. A child
that dies unexpectedly is restarted with backoff; one that exits 2 (bad configuration) stops
the whole set, since restarting cannot fix it. Restarts are scheduled, never slept through:
one child's backoff never delays another's restart. Stopped while Redis is unreachable,
children exit 3 without a traceback and `run()` returns 3."""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from runtime.autoscale import Autoscaler, ScalingPolicy
from runtime.correlation import log_job_context
from runtime.errors import ConfigError, WorkerCrashed
from runtime.redis_outage import REDIS_FAILED

log = logging.getLogger("castiel.supervisor")
EXIT_CONFIG = 2
EXIT_BROKEN = 3
"""A child whose own loop crashed (restarted), or that ended because Redis did not answer
while it was being stopped (reported once by `run()`)."""


def load_worker_class(spec: str) -> type[Any]:
    """'package.module:ClassName' → the class; ConfigError with the reason otherwise."""
    from runtime.worker import BaseWorker  # noqa: PLC0415 - keeps the import graph shallow

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"worker {spec!r}: expected MODULE:Class, e.g. myapp.jobs:EmailWorker")
    if "" not in sys.path:
        sys.path.insert(0, "")  # like uvicorn: modules in the current directory import
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"worker {spec!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise ConfigError(f"worker {spec!r}: module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, BaseWorker)):
        raise ConfigError(f"worker {spec!r}: {attr} is not a subclass of runtime.BaseWorker")
    return cls


def _child(spec: str, settings: dict[str, Any], index: int) -> None:
    logging.basicConfig(level=logging.INFO)
    log_job_context(prefix=f"[worker {index}] ")
    try:
        cls = load_worker_class(spec)
        if settings.get("metrics_port"):
            settings = {**settings, "metrics_port": settings["metrics_port"] + index}
        worker = cls(**settings)
    except ConfigError as exc:
        print(f"castiel worker: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    try:
        worker.run()
    except WorkerCrashed as exc:  # its traceback is logged: restart this child
        print(f"castiel worker: {exc}", file=sys.stderr)
        sys.exit(EXIT_BROKEN)
    except REDIS_FAILED:
        # Stopped before Redis ever answered (the worker has logged why): an exit code for
        # the supervisor to report once, not a traceback per process.
        sys.exit(EXIT_BROKEN)
    except KeyboardInterrupt:  # Ctrl-C before the worker's own handlers were installed
        sys.exit(128 + signal.SIGINT)


@dataclass
class RestartBackoff:
    """How long a child that died waits before its restart: `base` doubling with each death
    of that child (up to `cap`), starting over once it ran `healthy_after` seconds. Pure: the
    caller says how long the child ran."""

    base: float = 1.0
    cap: float = 30.0
    healthy_after: float = 10.0
    failures: dict[int, int] = field(default_factory=dict)

    def delay(self, index: int, ran_for: float) -> float:
        if ran_for >= self.healthy_after:
            self.failures[index] = 0
        self.failures[index] = self.failures.get(index, 0) + 1
        return min(self.cap, self.base * 2.0 ** (self.failures[index] - 1))


@dataclass
class Supervisor:
    """Runs `processes` worker processes, or between MIN and MAX of them by the queue's
    scaling signal when `autoscale` is set (runtime/autoscale.py)."""

    spec: str
    settings: dict[str, Any]
    processes: int = 1
    restart_backoff: float = 1.0
    healthy_after: float = 10.0
    autoscale: ScalingPolicy | None = None
    decide_every: float = 2.0

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._children: dict[int, BaseProcess] = {}
        self._started: dict[int, float] = {}
        self._restart_at: dict[int, float] = {}  # children that died, waiting out their backoff
        self._retiring: set[int] = set()
        self._backoff = RestartBackoff(self.restart_backoff, healthy_after=self.healthy_after)
        self._stopping = False
        self._code = 0

    def _spawn(self, index: int) -> None:
        proc = self._ctx.Process(
            target=_child, args=(self.spec, self.settings, index), name=f"castiel-worker-{index}"
        )
        proc.start()
        self._children[index] = proc
        self._started[index] = time.monotonic()

    def _signal(self, index: int, signum: int) -> None:
        proc = self._children.get(index)
        if proc is not None and proc.pid is not None and proc.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signum)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        self._dump(signum, _frame)

    def _dump(self, signum: int, _frame: FrameType | None) -> None:
        for index in list(self._children):
            self._signal(index, signum)

    def _reap(self) -> None:
        for index, proc in list(self._children.items()):
            proc.join(timeout=0.05)
            if proc.exitcode is None:
                continue
            del self._children[index]
            if index in self._retiring:
                self._retiring.discard(index)  # scaled down on purpose
            elif self._stopping and proc.exitcode == EXIT_BROKEN:
                self._code = self._code or EXIT_BROKEN  # stopped while Redis was unreachable
            elif proc.exitcode == EXIT_CONFIG:
                self._code = EXIT_CONFIG
                self._forward(signal.SIGTERM, None)
            elif not self._stopping:
                now = time.monotonic()
                delay = self._backoff.delay(index, ran_for=now - self._started[index])
                log.warning(
                    "worker %d exited with %s; restarting in %.1fs", index, proc.exitcode, delay
                )
                self._restart_at[index] = now + delay

    def _restart_due(self) -> None:
        if self._stopping:
            self._restart_at.clear()
            return
        now = time.monotonic()
        for index, at in list(self._restart_at.items()):
            if at <= now:
                del self._restart_at[index]
                self._spawn(index)

    def _scale(self, autoscaler: Autoscaler) -> None:
        # A child waiting out its restart backoff still counts: it is coming back.
        active = sorted(i for i in (*self._children, *self._restart_at) if i not in self._retiring)
        d = autoscaler.decide(len(active))
        if d.desired == len(active):
            return
        log.warning(
            "autoscale %s: %d -> %d worker(s) (backlog %d, %.1f jobs/s per worker, "
            "recommendation %d)",
            autoscaler.queue,
            len(active),
            d.desired,
            d.backlog,
            d.per_worker_rate,
            d.recommendation,
        )
        if d.desired > len(active):
            free = (
                i for i in range(10_000) if i not in self._children and i not in self._restart_at
            )
            for _ in range(d.desired - len(active)):
                self._spawn(next(free))
        else:
            for index in active[d.desired :]:
                if self._restart_at.pop(index, None) is not None:
                    continue  # not running: just do not restart it
                self._retiring.add(index)  # graceful: SIGTERM, jobs finish or go back
                self._signal(index, signal.SIGTERM)

    def _autoscaler(self, cls: type[Any]) -> Autoscaler:
        from runtime.autoscale import AutoscaleCollector  # noqa: PLC0415
        from runtime.connection import connect  # noqa: PLC0415
        from runtime.metrics import RuntimeMetrics, serve_metrics  # noqa: PLC0415

        assert self.autoscale is not None
        queue = self.settings.get("queue") or cls.queue
        client = connect(self.settings.get("redis_url")).sync
        autoscaler = Autoscaler(client, queue, self.autoscale)
        port = self.settings.get("metrics_port")
        if port:
            # The supervisor serves the scaling signal; its workers use the ports after it.
            metrics = RuntimeMetrics()
            metrics.registry.register(AutoscaleCollector(autoscaler))
            serve_metrics(metrics.registry, port)
            self.settings = {**self.settings, "metrics_port": port + 1}
        return autoscaler

    def run(self) -> int:
        cls = load_worker_class(self.spec)  # fail fast (exit 2) before spawning anything
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._forward)
        # SIGUSR1 (a set that seems stuck): this process's stacks, and each child prints its own.
        signal.signal(signal.SIGUSR1, self._dump)
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)
        autoscaler = self._autoscaler(cls) if self.autoscale is not None else None
        initial = self.autoscale.min_workers if self.autoscale is not None else self.processes
        for i in range(initial):
            if not self._stopping:  # a signal during start-up: start no more
                self._spawn(i)
        next_decision = time.monotonic() + self.decide_every
        while (
            self._children
            or (self._restart_at and not self._stopping)
            or (autoscaler is not None and not self._stopping)
        ):
            self._reap()
            self._restart_due()
            if (
                autoscaler is not None
                and not self._stopping
                and time.monotonic() >= (next_decision)
            ):
                next_decision = time.monotonic() + self.decide_every
                try:
                    self._scale(autoscaler)
                except REDIS_FAILED as exc:
                    log.warning(
                        "autoscale: cannot read the queue (%s); keeping %d worker(s)",
                        exc,
                        len(self._children),
                    )
            time.sleep(0.15)
        return self._code

"""Runs N worker processes of one class and keeps them running: `castiel worker --processes`.

Children are spawned (not forked) so none inherits the parent's Redis connections or event
loop. SIGTERM/SIGINT are forwarded; each child then shuts down gracefully on its own. A child
that dies unexpectedly is restarted with backoff; one that exits 2 (bad configuration) stops
the whole set, since restarting cannot fix it."""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from runtime.errors import ConfigError

log = logging.getLogger("castiel.supervisor")
EXIT_CONFIG = 2


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
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s [worker {index}] %(name)s: %(message)s",
    )
    try:
        cls = load_worker_class(spec)
        if settings.get("metrics_port"):
            settings = {**settings, "metrics_port": settings["metrics_port"] + index}
        worker = cls(**settings)
    except ConfigError as exc:
        print(f"castiel worker: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    worker.run()


@dataclass
class Supervisor:
    spec: str
    settings: dict[str, Any]
    processes: int
    restart_backoff: float = 1.0

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._children: dict[int, BaseProcess] = {}
        self._stopping = False

    def _spawn(self, index: int) -> None:
        proc = self._ctx.Process(
            target=_child, args=(self.spec, self.settings, index), name=f"castiel-worker-{index}"
        )
        proc.start()
        self._children[index] = proc

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for proc in self._children.values():
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    def run(self) -> int:
        load_worker_class(self.spec)  # fail fast (exit 2) before spawning anything
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._forward)
        for i in range(self.processes):
            self._spawn(i)
        failures: dict[int, int] = {}
        code = 0
        while self._children:
            for index, proc in list(self._children.items()):
                proc.join(timeout=0.2)
                if proc.exitcode is None:
                    continue
                del self._children[index]
                if proc.exitcode == EXIT_CONFIG:
                    code = EXIT_CONFIG
                    self._forward(signal.SIGTERM, None)
                elif not self._stopping:
                    failures[index] = failures.get(index, 0) + 1
                    delay = min(30.0, self.restart_backoff * 2 ** (failures[index] - 1))
                    log.warning(
                        "worker %d exited with %s; restarting in %.1fs", index, proc.exitcode, delay
                    )
                    time.sleep(delay)
                    if not self._stopping:
                        self._spawn(index)
        return code

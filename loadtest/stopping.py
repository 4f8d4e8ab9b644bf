"""Stopping on a signal, and never outliving the parent.

* `stop_on_signals()` turns SIGTERM (CI cancel, `timeout`, `docker stop`), SIGINT (Ctrl-C)
  and SIGHUP (closed terminal) into a `StopRequest` the run loop checks, instead of an
  exception thrown at whatever line happens to run: the loop then stops Locust, records the
  run `aborted`, writes the reports and resolves the alerts, in bounded time.
* `die_with_parent()` is a `preexec_fn` that asks Linux to send the child SIGTERM when the
  process that started it dies, even by SIGKILL (`prctl(PR_SET_PDEATHSIG)`), so a killed
  `castiel run` leaves no Locust loading the target. Locust's own workers (`--processes`) are
  forked later, and a fork clears that setting: `loadtest/parent_watch.py`, loaded into every
  Locust process, sets it again there and also polls its parent.

Exit codes of a run stopped by a signal follow the shell's convention, 128 + the signal's
number: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

log = logging.getLogger("castiel.stopping")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOCUST_STOP_GRACE = 20.0
"""Seconds Locust gets to stop its users and write its final stats after it is asked to
(SIGTERM to its process group); then the whole group is killed."""
ALERTS_DRAIN_ON_SIGNAL = 5.0
"""Seconds the resolve notifications get when a signal stopped the run (what is left stays in
the store's outbox for the next run or monitor)."""


@dataclass
class StopRequest:
    """The first stop signal received (None: none yet). Later signals change nothing: the
    stop already under way is bounded in time."""

    signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def reason(self) -> str:
        return f"stopped by {self.name}" if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process a signal ended."""
        return 128 + self.signum if self.signum is not None else 0

    def request(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum

    def sleep(self, seconds: float, step: float = 0.2) -> bool:
        """Sleep up to `seconds`, waking early when a stop is requested; True if it was."""
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(step, left))
        return self.requested


@contextlib.contextmanager
def stop_on_signals(
    signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
) -> Iterator[StopRequest]:
    """Record SIGTERM/SIGINT/SIGHUP in a StopRequest while the block runs; the previous
    handlers come back after it. Outside the main thread (where Python cannot install
    handlers) the request simply never fires."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.requested:
            log.warning("%s received; already stopping", signal.Signals(signum).name)
        stop.request(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


PARENT_ENV = "CASTIEL_PARENT_PID"
"""Set by `castiel run` for Locust (loadtest/launch.py): the pid Locust must not outlive."""


def expected_parent(pid: int, loaded_in: int, env: Mapping[str, str]) -> int | None:
    """Pure: the pid a Locust process must not outlive. A worker forked by `--processes`
    (`pid` is not `loaded_in`, the process that imported the plugins): the master. The
    master: the `castiel run` in $CASTIEL_PARENT_PID. None: not known (Locust run by hand)."""
    if pid != loaded_in:
        return loaded_in
    given = env.get(PARENT_ENV, "")
    return int(given) if given.isdigit() else None


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return fn


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send `sig` to this process when its parent dies. False where that is not
    available (not Linux)."""
    prctl = _prctl()
    return prctl is not None and prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `subprocess.Popen(preexec_fn=...)` that makes the child receive `sig` when this
    process dies; None where Linux's prctl is not available. Everything it needs is looked up
    before the fork, so the child only makes one system call."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    number = int(sig)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, number, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork() and prctl()
            os.kill(os.getpid(), number)

    return preexec


def spawn_detached(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child in a session of its own (a terminal's Ctrl-C or a signal to our process
    group does not reach it: its parent decides when and how it stops; `os.killpg(child.pid,
    ...)` reaches it and everything it forks) that gets SIGTERM if this process dies."""
    return subprocess.Popen(
        list(argv),
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 - one prctl call, looked up before fork
        **kwargs,
    )

"""Runs started from the dashboard: `castiel run` child processes, one at a time for the whole
dashboard (every tab, every session), not one per browser tab.

One `Launcher` per dashboard process and store (`common.launcher()`, a Streamlit resource):
a second start while a run is in progress is refused with the reason (one started here, or a
run the store shows as running, started anywhere); any tab can stop the one started here;
when a run ends, its exit code and Castiel's own last message (`castiel: ...`, from the
child's output kept in a log file) are kept for every tab to show. No Streamlit here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.model import RunInfo

EXIT_MEANING = {
    0: "passed",
    1: "a budget failed",
    2: "bad input",
    3: "the run broke",
    4: "inconclusive",
}


class Refused(Exception):
    """A start that cannot happen now; the message says why."""


@dataclass(frozen=True)
class Launched:
    pid: int
    argv: tuple[str, ...]
    log: Path
    started_at: float


@dataclass(frozen=True)
class Ended:
    pid: int
    code: int
    message: str
    """Castiel's own last word (`castiel: ...`), else the output's last line."""

    @property
    def meaning(self) -> str:
        if self.code < 0:
            return f"killed by signal {-self.code}"
        return EXIT_MEANING.get(self.code, f"exit code {self.code}")


class Launcher:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._launched: Launched | None = None
        self._last: Ended | None = None

    def current(self) -> Launched | None:
        """The run started here that is still going."""
        with self._lock:
            self._reap()
            return self._launched

    def last(self) -> Ended | None:
        """How the last run started here ended."""
        with self._lock:
            self._reap()
            return self._last

    def start(
        self,
        argv: Sequence[str],
        running: RunInfo | None,
        env: Mapping[str, str] | None = None,
    ) -> Launched:
        """Start `argv` (a `castiel run`, in `env`: the store goes there, not in the argv,
        where a URL's password would show in `ps`) unless a run is in progress: `running` is
        the run the store shows as running, if any. Raises Refused."""
        with self._lock:
            self._reap()
            if self._launched is not None:
                since = time.strftime("%H:%M:%S", time.gmtime(self._launched.started_at))
                raise Refused(
                    f"a run started from this dashboard is in progress (pid "
                    f"{self._launched.pid}, since {since} UTC): stop it first"
                )
            if running is not None:
                since = time.strftime("%H:%M:%S", time.gmtime(running.started_at))
                host = running.environment.get("host", "another machine")
                raise Refused(
                    f"run {running.id} is in progress (started {since} UTC on {host}): "
                    "one load test at a time, or the two would measure each other"
                )
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"dashboard-run-{time.strftime('%Y%m%dT%H%M%S')}.log"
            with log.open("wb") as out:
                # Its own session: the run outlives a closed tab and a restarted dashboard,
                # and a Ctrl-C in the dashboard's terminal does not reach it.
                proc = subprocess.Popen(
                    list(argv),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=None if env is None else dict(env),
                )
            self._proc = proc
            self._launched = Launched(proc.pid, tuple(argv), log, time.time())
            self._last = None
            return self._launched

    def stop(self) -> bool:
        """Ask the run started here to stop, as Ctrl-C would (`castiel run` then stops Locust,
        resolves the run's alerts and records the run as aborted; SIGTERM would leave it
        "running"). False when none is going."""
        with self._lock:
            self._reap()
            if self._proc is None:
                return False
            try:
                os.kill(self._proc.pid, signal.SIGINT)
            except ProcessLookupError:
                return False
            return True

    def _reap(self) -> None:
        if self._proc is None or self._launched is None or self._proc.poll() is None:
            return
        code = self._proc.returncode
        self._last = Ended(self._launched.pid, code, last_message(self._launched.log))
        self._proc = None
        self._launched = None


def last_message(log: Path) -> str:
    """Castiel's own last line (`castiel: ...`), else the last line of the output."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    own = [line for line in lines if line.startswith("castiel:")]
    return own[-1] if own else (lines[-1] if lines else "")

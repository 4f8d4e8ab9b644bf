"""The Locust child process of a run: start, stop early (an abort budget), and wait."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from loadtest.launch import LocustOptions, locust_command
from loadtest.stopping import LOCUST_STOP_GRACE, spawn_detached


@dataclass
class LocustProcess:
    options: LocustOptions
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    stopped_early: bool = False
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        argv, env = locust_command(self.options)
        log = self.log_path.open("wb")
        self._log = log
        # Its own session, so one signal reaches the master and its workers (the process
        # group); and SIGTERM when this process dies, even by SIGKILL (loadtest.stopping).
        self.proc = spawn_detached(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Ask Locust to stop now: SIGTERM makes it quit gracefully and write its final stats
        (every process of a distributed run, hence the process group)."""
        if self.running and self.proc is not None:
            self.stopped_early = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        """Kill every process of the group now (the graceful stop took too long)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, timeout: float = LOCUST_STOP_GRACE) -> int:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        self.kill()  # workers of a master that exited first (`--processes`) go with it
        if self._log is not None:
            self._log.close()
        return code

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

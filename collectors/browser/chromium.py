"""Headless Chromium as a child process that never outlives its owner.

* Started in its own session (process group), so `close()` ends the browser and every
  renderer, GPU and utility process it forked, on every exit path of the caller.
* `PR_SET_PDEATHSIG` (SIGKILL) is set in the child before exec, so a caller killed with
  SIGKILL (or crashing) takes the browser with it; the browser's helpers exit when it does.
  Linux delivers that signal when the *thread* that started the child ends, so start the
  browser from the thread that lives as long as it is needed (the main thread; see
  collector.py).
* A fresh `--user-data-dir` per browser, removed on close: no profile, cache or cookies
  leak between runs.
* The DevTools port is chosen by Chromium (`--remote-debugging-port=0`) and read back from
  `DevToolsActivePort`, so there is no race for a free port.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from collectors.browser.errors import BrowserError

T = TypeVar("T")

# The flags the team runs Chromium with on CI machines (root in a container, no GPU): no
# sandbox (it needs user namespaces), no QUIC (loopback targets speak HTTP/1.1 and
# transfer sizes must be comparable), and nothing that phones home during a measurement.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)
# Lighthouse's desktop viewport, so LCP candidates are the ones Lighthouse would see.
WINDOW = (1350, 940)
_PR_SET_PDEATHSIG = 1


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def _die_with_parent() -> Callable[[], object]:
    """What the forked child runs before exec: prctl(PR_SET_PDEATHSIG, SIGKILL). libc is
    looked up here, in the parent, so the child only makes the one C call (no dlopen or
    import between fork and exec, where another thread's locks could be held)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return functools.partial(prctl, _PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class Endpoint:
    """Where the browser's DevTools protocol listens, and what it says it is."""

    ws_url: str
    version: str


class Chromium:
    """`with Chromium.start() as browser:` ... `browser.endpoint.ws_url`."""

    def __init__(self, proc: subprocess.Popen[bytes], profile: Path, endpoint: Endpoint) -> None:
        self.proc = proc
        self.profile = profile
        self.endpoint = endpoint

    @classmethod
    def start(
        cls,
        executable: str | None = None,
        *,
        timeout: float = 30.0,
        extra_flags: tuple[str, ...] = (),
    ) -> Chromium:
        exe = executable or find_chromium()
        if exe is None:
            raise BrowserError(
                "chromium is not installed (apt-get install chromium); frontend "
                "measurements need a real browser"
            )
        profile = Path(tempfile.mkdtemp(prefix="castiel-chromium-"))
        argv = [
            exe,
            *FLAGS,
            *extra_flags,
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - prctl must run in the child
            )
        except OSError as exc:
            shutil.rmtree(profile, ignore_errors=True)
            raise BrowserError(f"cannot start {exe}: {exc.strerror or exc}") from None
        try:
            endpoint = _endpoint(proc, profile, timeout)
        except BaseException:
            _stop(proc)
            shutil.rmtree(profile, ignore_errors=True)
            raise
        return cls(proc, profile, endpoint)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the whole process group (TERM, then KILL after 5 s) and drop the profile."""
        _stop(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Helpers that outlived the browser (the group is gone once the leader has been reaped,
    # so this is best effort).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _endpoint(proc: subprocess.Popen[bytes], profile: Path, timeout: float) -> Endpoint:
    port_file = profile / "DevToolsActivePort"
    lines = _poll(
        lambda: _port_lines(port_file),
        proc,
        timeout,
        f"Chromium did not open its DevTools port within {timeout:g}s",
    )
    port = int(lines[0])
    info = _poll(lambda: _version(port), proc, timeout, "Chromium's DevTools did not answer")
    ws = info.get("webSocketDebuggerUrl")
    if not isinstance(ws, str):
        raise BrowserError("Chromium's DevTools gave no browser websocket URL")
    return Endpoint(ws, str(info.get("Browser", "")))


def _port_lines(path: Path) -> list[str] | None:
    try:
        lines = path.read_text().split("\n")
    except OSError:
        return None
    return lines if len(lines) >= 2 and lines[0].isdigit() and lines[1] else None


def _version(port: int) -> dict[str, Any] | None:
    try:
        url = f"http://127.0.0.1:{port}/json/version"
        with urllib.request.urlopen(url, timeout=5) as r:
            data = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _poll(
    fn: Callable[[], T | None], proc: subprocess.Popen[bytes], timeout: float, message: str
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value is not None:
            return value
        if proc.poll() is not None:
            raise BrowserError(f"Chromium exited during start-up (exit code {proc.returncode})")
        if time.monotonic() > deadline:
            raise BrowserError(message)
        time.sleep(0.05)

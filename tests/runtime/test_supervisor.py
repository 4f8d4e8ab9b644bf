"""The supervisor of `castiel worker --processes N`: each child's restart backoff is its own
(it never delays another child's restart) and starts over after a healthy period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import connect
from runtime.heartbeat import read_heartbeats
from runtime.supervisor import RestartBackoff
from tests.helpers import ROOT, wait_until

SPEC = "tests.runtime.workers:RecordingWorker"


class Children:
    """Watches a supervisor's children through their heartbeats (one every 0.2 s)."""

    def __init__(self, url: str) -> None:
        self.r = connect(url).sync
        self.seen: set[int] = set()

    def live(self) -> set[int]:
        return {b.pid for b in read_heartbeats(self.r)[0] if time.time() - b.last_beat < 1.0}

    def new(self) -> set[int]:
        fresh = self.live() - self.seen
        self.seen |= fresh
        return fresh

    def kill_and_wait_replacement(self, pid: int) -> int:
        os.kill(pid, signal.SIGKILL)
        (replacement,) = wait_until(self.new, 30, interval=0.02, message=f"{pid}'s replacement")
        return replacement


@pytest.fixture
def supervisor(redis_url: str) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**options: Any) -> subprocess.Popen[bytes]:
        settings = {"redis_url": redis_url, "heartbeat_interval": 0.2}
        code = (
            "import sys; from runtime.supervisor import Supervisor; "
            f"sys.exit(Supervisor({SPEC!r}, {settings!r}, processes=2, **{options!r}).run())"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
def test_one_childs_backoff_never_delays_another_childs_restart(
    redis_url: str, supervisor: Any
) -> None:
    supervisor(restart_backoff=0.25)
    kids = Children(redis_url)
    a, b = sorted(wait_until(lambda: len(kids.live()) == 2 and kids.live(), 60))
    kids.seen |= {a, b}
    for _ in range(4):  # A's restarts wait 0.25, 0.5, 1 and 2 s
        a = kids.kill_and_wait_replacement(a)
    os.kill(a, signal.SIGKILL)  # A's next restart waits 4 s...
    time.sleep(0.5)  # ...(the supervisor notices within 0.15 s)...
    os.kill(b, signal.SIGKILL)  # ...and B dies during that wait: its restart waits 0.25 s
    wait_until(kids.new, 30, interval=0.02, message="the first replacement")
    t_first = time.monotonic()
    wait_until(kids.new, 30, interval=0.02, message="the second replacement")
    gap = time.monotonic() - t_first
    # Both take as long to spawn, so B comes back about 3.25 s before A (4 s - 0.5 s - 0.25 s),
    # not 0.25 s after A's 4 s as when the supervisor slept through A's backoff.
    assert gap >= 2.0, f"B came back only {gap:.2f}s before A"


@pytest.mark.slow
def test_the_backoff_starts_over_after_a_healthy_period(redis_url: str, supervisor: Any) -> None:
    supervisor(restart_backoff=1.0, healthy_after=2.0)
    kids = Children(redis_url)
    a, _ = sorted(wait_until(lambda: len(kids.live()) == 2 and kids.live(), 60))
    kids.seen |= kids.live()
    a = kids.kill_and_wait_replacement(a)  # restarts after 1 s
    a = kids.kill_and_wait_replacement(a)  # after 2 s
    time.sleep(2.5)  # a healthy period is the condition under test
    t0 = time.monotonic()
    kids.kill_and_wait_replacement(a)  # after 1 s again, not 4 s
    took = time.monotonic() - t0
    assert took < 3.5, f"the restart took {took:.1f}s: the backoff did not start over"


def test_restart_backoff_is_per_child_and_resets_after_a_healthy_period() -> None:
    backoff = RestartBackoff(base=1.0, cap=30.0, healthy_after=10.0)
    assert [backoff.delay(0, ran_for=1) for _ in range(6)] == [1, 2, 4, 8, 16, 30]
    assert backoff.delay(1, ran_for=1) == 1, "child 1 has a backoff of its own"
    assert backoff.delay(0, ran_for=12) == 1, "12 s of health: start over"
    assert backoff.delay(0, ran_for=1) == 2

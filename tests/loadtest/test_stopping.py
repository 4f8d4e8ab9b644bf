"""loadtest.stopping on its own: stop signals become a request the loop checks (never an
exception at a random line), and a child started with `spawn_detached` dies with its parent,
even when the parent is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from loadtest.stopping import StopRequest, expected_parent, stop_on_signals
from tests.helpers import ROOT, wait_until


def test_the_first_signal_is_recorded_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with stop_on_signals() as stop:
        assert not stop.requested and stop.exit_code == 0
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: stop.requested, 5, message="the handler to run")
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal changes nothing
        time.sleep(0.1)  # the handler runs between bytecodes; give it the chance
        assert stop.name == "SIGHUP" and stop.reason == "stopped by SIGHUP"
        assert stop.exit_code == 129
        started = time.monotonic()
        assert stop.sleep(30)  # returns at once once requested
        assert time.monotonic() - started < 1
    assert signal.getsignal(signal.SIGHUP) is before


def test_exit_codes_follow_the_shell() -> None:
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)):
        stop = StopRequest()
        stop.request(sig)
        assert stop.exit_code == code


def test_a_detached_child_dies_with_its_killed_parent(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from loadtest.stopping import spawn_detached
                child = spawn_detached([sys.executable, "-c", "import time; time.sleep(120)"])
                open({str(pid_file)!r}, "w").write(str(child.pid))
                time.sleep(120)
                """
            ),
        ],
        cwd=ROOT,
    )
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 20, message="the child")
    child = int(pid_file.read_text())
    assert os.getpgid(child) == child  # a session (and process group) of its own
    parent.kill()  # SIGKILL: nothing in the parent runs any more
    parent.wait(10)

    def gone() -> bool:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        return state == "Z"  # exited, waiting for init to reap it

    wait_until(gone, 10, 0.05, "the child to get its parent-death signal")


def test_a_locust_process_knows_whom_it_must_not_outlive() -> None:
    env = {"CASTIEL_PARENT_PID": "4242"}
    assert expected_parent(pid=100, loaded_in=100, env=env) == 4242  # the master
    assert expected_parent(pid=101, loaded_in=100, env=env) == 100  # a forked worker
    assert expected_parent(pid=100, loaded_in=100, env={}) is None  # Locust run by hand

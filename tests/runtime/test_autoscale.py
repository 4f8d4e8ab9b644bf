"""The scaling signal: pure decisions with hand-computed expectations, and a supervisor that
scales real worker processes up under a backlog and back down when it drains."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from runtime import ConfigError, JobSpec, Queue, connect
from runtime.autoscale import ScalingPolicy, Stabilizer, recommend
from runtime.heartbeat import read_heartbeats
from tests.helpers import ROOT, wait_until

P = ScalingPolicy(min_workers=1, max_workers=8, target_drain_seconds=10, scale_down_window=60)


def test_recommendation_is_the_hpa_formula() -> None:
    # 1,200 jobs, 20 jobs/s per worker, drain in 10 s: ceil(1200 / 200) = 6 workers.
    assert recommend(P, backlog=1200, per_worker_rate=20, current=2) == 6
    assert recommend(P, backlog=100_000, per_worker_rate=20, current=2) == 8  # max
    assert recommend(P, backlog=0, per_worker_rate=20, current=5) == 1  # min
    assert recommend(P, backlog=50, per_worker_rate=0, current=2) == 3  # cold start: +1
    # Within the 10 % tolerance of the current count: stay.
    assert recommend(P, backlog=1050, per_worker_rate=20, current=5) == 5


def test_stabilisation_scales_up_at_once_and_down_slowly() -> None:
    s = Stabilizer(P)
    assert s.decide(6, current=2, now=0) == 6
    # The recommendation drops, but a higher one was seen within the 60 s down window.
    assert s.decide(2, current=6, now=10) == 6
    assert s.decide(2, current=6, now=59) == 6
    assert s.decide(2, current=6, now=71) == 2


def test_an_oscillating_signal_does_not_flap() -> None:
    s = Stabilizer(P)
    current, counts = 2, []
    for t, rec in enumerate([6, 2, 6, 2, 6, 2, 6, 2] * 4):
        current = s.decide(rec, current, now=t * 5)
        counts.append(current)
    assert counts[0] == 6 and set(counts) == {6}


@pytest.mark.parametrize("text", ["3:1", "x", "1-4", ":4"])
def test_bad_autoscale_values(text: str) -> None:
    with pytest.raises(ConfigError):
        ScalingPolicy.parse(text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "castiel",
            "worker",
            "tests.runtime.workers:RecordingWorker",
            "--autoscale",
            text,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "autoscale" in result.stderr


@pytest.mark.slow
def test_supervisor_scales_up_under_backlog_and_back_down(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    q.add_bulk(JobSpec("j", {"ms": 40}) for _ in range(2500))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "castiel",
            "worker",
            "tests.runtime.workers:RecordingWorker",
            "--redis",
            redis_url,
            "--concurrency",
            "5",
            "--autoscale",
            "1:4",
            "--target-drain",
            "2",
            "--scale-down-window",
            "3",
        ],
        cwd=ROOT,
        env={
            **__import__("os").environ,
            "CASTIEL_REDIS_URL": redis_url,
            "CASTIEL_HEARTBEAT_INTERVAL": "0.5",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    counts: list[int] = []

    def observe() -> int:
        n = len(read_heartbeats(q.client)[0])
        if not counts or counts[-1] != n:
            counts.append(n)
        return n

    try:
        wait_until(lambda: observe() >= 3, 40, interval=0.25, message="scale up")
        wait_until(lambda: q.counts().wait == 0 and q.counts().active == 0, 90, interval=0.25)
        wait_until(lambda: observe() == 1, 40, interval=0.25, message="scale down")
        time.sleep(0.1)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=60)[0].decode()
    assert "autoscale work: 1 ->" in out, out[-2000:]
    peak = counts.index(max(counts))
    rising, falling = counts[: peak + 1], counts[peak:]
    assert rising == sorted(rising) and falling == sorted(falling, reverse=True), counts

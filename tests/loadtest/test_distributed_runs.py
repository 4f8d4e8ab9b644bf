"""Distributed runs for real: per-second data of Locust workers, and workers joining a
`castiel run --expect-workers` master as separate processes on other loopback addresses."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from castiel.redis_server import free_port
from collectors.model import SeriesData
from loadtest.stream import DROPPED, REQUESTS, STARTED
from tests.castiel.test_cli_run import castiel_run, only_run_dir
from tests.helpers import ROOT
from tests.loadtest.slow_server import slow_server
from tests.loadtest.test_arrival_runs import (
    ERRORS,
    LOCUSTFILE,
    locust_requests,
    stored,
    total,
)


def per_second(series: list[SeriesData]) -> Counter[float]:
    counts: Counter[float] = Counter()
    for s in series:
        for p in s.points:
            counts[p.timestamp] += p.value
    return counts


@pytest.mark.slow
def test_per_second_counts_of_a_distributed_run_have_no_gaps_and_add_up(tmp_path: Path) -> None:
    with slow_server(0.0) as target:
        # 12 closed-loop users, one request a second each, over two worker processes.
        result, runs = castiel_run(
            tmp_path, target, ERRORS, "-f", str(LOCUSTFILE),
            "--duration", "12s", "--users", "12", "--processes", "2",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(runs)
    data = stored(tmp_path, run_dir.name)
    counts = per_second(data[REQUESTS])
    locust_total, _ = locust_requests(run_dir)
    assert sum(counts.values()) == locust_total > 60
    seconds = sorted(counts)
    # Whole seconds, but the last: it ends when the run ends (a whole-run count includes it),
    # and covers the last whole second too when the stop came before that second was cut.
    assert all(b - a == 1 for a, b in itertools.pairwise(seconds[:-1])), seconds
    assert 0 < seconds[-1] - seconds[-2] < 2, seconds
    # Steady part (after the ramp, before the stop): every second has its requests. With
    # Locust's 3 s reports taken as they arrive, two of every three seconds were 0.
    steady = [counts[t] for t in seconds[3:-2]]
    assert steady and min(steady) > 0, [counts[t] for t in seconds]


def worker(master: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "castiel", "loadtest", "worker", "--master", master,
         "-f", str(LOCUSTFILE)],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.slow
def test_workers_join_from_other_addresses_and_follow_the_plan_together(tmp_path: Path) -> None:
    port = free_port()
    master = f"127.0.0.2:{port}"
    # Separate processes that keep trying until the master listens; it waits for both.
    workers = [worker(master, tmp_path / f"w{i}.log") for i in (1, 2)]
    try:
        with slow_server(0.0) as target:
            result, runs = castiel_run(
                tmp_path, target, ERRORS, "-f", str(LOCUSTFILE),
                "--arrival-rate", "30", "--duration", "8s", "--users", "20",
                "--expect-workers", "2", "--master-bind", master,
            )  # fmt: skip
        # 4 only when a worker's own CPU made the run untrustworthy (a loaded CI machine):
        # the plan must still have been followed, which is what this test is about.
        assert result.returncode in (0, 4), result.stdout + result.stderr
        if result.returncode == 4:
            assert "load generator saturated" in result.stdout, result.stdout
            assert "arrival rate short of target" not in result.stdout, result.stdout
        assert "unauthenticated" not in result.stderr  # 127.0.0.2 is loopback
        for w in workers:
            assert w.wait(30) == 0, (tmp_path / "w1.log").read_text()
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    run_dir = only_run_dir(runs)
    data = stored(tmp_path, run_dir.name)
    # Each worker took every second iteration of one sequence: together exactly the plan.
    assert total(data[STARTED]) + total(data[DROPPED]) == 240
    locust_total, _ = locust_requests(run_dir)
    assert total(data[REQUESTS]) == locust_total == total(data[STARTED]) >= 0.95 * 240
    sources = {line for line in (run_dir / "locust-stats.jsonl").read_text().splitlines()}
    assert sum('"source":' in line for line in sources) > 0  # slices came from the workers


def test_master_bind_beyond_loopback_warns_and_bad_values_exit_2(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    result, _ = castiel_run(
        tmp_path, unreachable, ERRORS, "--expect-workers", "1", "--master-bind", "0.0.0.0:5557"
    )
    assert result.returncode == 3  # the target is down: nothing was bound
    assert "unauthenticated" in result.stderr and "0.0.0.0:5557" in result.stderr
    result, _ = castiel_run(
        tmp_path, unreachable, ERRORS, "--expect-workers", "1", "--master-bind", "127.0.0.3:1"
    )
    assert result.returncode == 3 and "unauthenticated" not in result.stderr
    for bad in (["--master-bind", "host:port", "--expect-workers", "1"],
                ["--master-bind", "127.0.0.1:5557"],
                ["--expect-workers", "2", "--processes", "2"],
                ["--arrival-rate", "10", "--users", "5", "--max-users", "2"],
                ["--arrival-rate", "30s:x"],
                ["--max-users", "5"]):  # fmt: skip
        result, _ = castiel_run(tmp_path, unreachable, ERRORS, *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert result.stderr.startswith("castiel: ") and "Traceback" not in result.stderr


@pytest.mark.slow
def test_no_workers_is_a_broken_run(tmp_path: Path) -> None:
    port = free_port()
    with slow_server(0.0) as target:
        result, _ = castiel_run(
            tmp_path, target, ERRORS, "--expect-workers", "1",
            "--master-bind", f"127.0.0.2:{port}", "--workers-wait", "3s",
        )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Locust sent no request" in result.stderr


def test_worker_command_bad_input_exits_2(tmp_path: Path) -> None:
    for args in (["--master", "127.0.0.1:x"], ["--master", "127.0.0.1:1", "-f", "nope.py"]):
        result = subprocess.run(
            [sys.executable, "-m", "castiel", "loadtest", "worker", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 2 and result.stderr.startswith("castiel: "), result.stderr


def test_loopback_rules() -> None:
    from loadtest.distributed import exposure_warning, is_loopback, parse_endpoint

    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("*") and not is_loopback("10.0.0.5")
    assert parse_endpoint("10.0.0.5").port == 5557
    assert str(parse_endpoint("[::1]:6000")) == "[::1]:6000"
    assert exposure_warning(parse_endpoint("127.0.0.2:1")) is None
    assert socket.AF_INET  # the module imports cleanly without Locust

"""Workers as real processes under faults: kill -9, SIGTERM, Redis restarts, idle CPU."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from castiel.redis_server import RedisClusterServers, RedisServer
from runtime import Backoff, JobSpec, Queue, connect
from runtime.heartbeat import read_heartbeats
from runtime.redis_outage import REDIS_FAILED
from tests.helpers import cpu_seconds, need, start_worker_process, wait_until
from tests.runtime.workers import RUNS_KEY, STARTS_KEY

SPEC = "tests.runtime.workers:RecordingWorker"


def _runs(r: Any) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall(RUNS_KEY).items()}


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # the worker prints its stacks: say where it hangs
        try:
            out, _ = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        raise AssertionError(f"worker did not stop within {timeout}s:\n{out.decode()}") from None
    return out.decode()


def _wait_heartbeat(q: Queue, n: int = 1) -> None:
    wait_until(lambda: len(read_heartbeats(q.client)[0]) >= n, 15, message="worker heartbeat")


@pytest.mark.slow
def test_kill_9_repeatedly_loses_nothing(url: str) -> None:
    """Only jobs a killed worker held (leased, not acknowledged) may run twice. On a
    standalone server and on the cluster."""
    redis_url = url
    q = Queue(connect(redis_url).sync, "work")
    r = connect(redis_url).sync
    n = 3000
    ids = q.add_bulk(JobSpec("j", {"ms": random.randint(2, 8)}) for _ in range(n))
    args = ("--concurrency", "20", "--lease", "1")
    env = {"CASTIEL_STALL_INTERVAL": "0.3"}
    held_at_kill: set[str] = set()
    rng = random.Random(7)
    for k in range(6):
        proc = start_worker_process(SPEC, redis_url, *args, env=env)
        target = n * (k + 1) // 8
        try:
            wait_until(
                lambda target=target: len(_runs(r)) >= target,
                30,
                message=f"the worker to complete {target} jobs",
            )
            time.sleep(rng.uniform(0, 0.05))  # kill at an arbitrary point of the work
        finally:
            proc.kill()
            proc.wait()
        # With its only worker dead, the active set is exactly what that worker held.
        held_at_kill |= {i.decode() for i in r.zrange(q.keys.active, 0, -1)}
    proc = start_worker_process(SPEC, redis_url, *args, env=env)
    try:
        wait_until(
            lambda: len(_runs(r)) == n and q.counts().active == 0,
            60,
            message="every job to complete",
        )
    finally:
        _stop(proc)
    runs = _runs(r)
    assert set(runs) == set(ids)
    twice = {i for i, c in runs.items() if c > 1}
    assert twice <= held_at_kill, f"{len(twice - held_at_kill)} ran twice without a kill"
    counts = q.counts()
    assert (counts.wait, counts.active, counts.failed, counts.delayed) == (0, 0, 0, 0)
    assert sum(q.per_minute()["completed"].values()) >= n


def test_sigterm_lets_in_flight_jobs_finish_and_keeps_the_rest(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    r = redis.Redis.from_url(redis_url)
    ids = q.add_bulk(JobSpec("j", {"ms": 800}) for _ in range(20))
    proc = start_worker_process(SPEC, redis_url, "--concurrency", "4", "--grace", "10")
    wait_until(lambda: r.hlen(STARTS_KEY) == 4, 15, message="4 jobs in flight")
    started = {k.decode() for k in r.hkeys(STARTS_KEY)}
    proc.send_signal(signal.SIGTERM)
    out = _stop(proc)
    assert proc.returncode == 0, out
    runs = _runs(r)
    assert set(runs) == started, "the in-flight jobs finished within the grace period"
    counts = q.counts()
    assert (counts.completed, counts.wait, counts.active) == (4, 16, 0)
    assert set(q.job_ids(q_state("wait"), 0, 100)) == set(ids) - started


def q_state(name: str) -> object:
    from runtime import JobState

    return JobState(name)


def test_sigterm_after_grace_hands_jobs_back_at_once(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    r = redis.Redis.from_url(redis_url)
    q.add_bulk(JobSpec("j", {"ms": 60_000}) for _ in range(3))
    proc = start_worker_process(
        SPEC, redis_url, "--concurrency", "3", "--grace", "0.5", "--lease", "30"
    )
    wait_until(lambda: r.hlen(STARTS_KEY) == 3, 15, message="3 jobs in flight")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _stop(proc)
    assert time.monotonic() - t0 < 5
    counts = q.counts()
    # Back to waiting at once, not after the 30 s lease; the attempt was not used up.
    assert (counts.wait, counts.active, counts.completed) == (3, 0, 0)
    job = q.get_job(q.job_ids(q_state("wait"))[0])  # type: ignore[arg-type]
    assert job is not None and job.attempts_made == 0


def test_a_killed_workers_jobs_are_recovered_within_seconds(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    r = redis.Redis.from_url(redis_url)
    q.add_bulk(JobSpec("j", {"ms": 30_000}, job_id=f"long{i}") for i in range(2))
    victim = start_worker_process(SPEC, redis_url, "--lease", "2")
    wait_until(lambda: r.hlen(STARTS_KEY) == 2, 15, message="2 jobs in flight")
    victim.kill()
    victim.wait()
    q.add_bulk(JobSpec("j", {"ms": 1}, job_id=f"short{i}") for i in range(3))
    rescuer = start_worker_process(
        SPEC, redis_url, "--lease", "2", env={"CASTIEL_STALL_INTERVAL": "0.5"}
    )
    t0 = time.monotonic()
    try:
        wait_until(
            lambda: r.hget(STARTS_KEY, "long0") == b"2" and r.hget(STARTS_KEY, "long1") == b"2",
            15,
            message="the stalled jobs to be picked up again",
        )
    finally:
        rescuer.kill()
        rescuer.wait()
    assert time.monotonic() - t0 < 6, "recovered after the lease, not after a job timeout"
    job = q.get_job("long0")
    assert job is not None and job.stalls == 1


def test_long_jobs_keep_their_lease(redis_url: str) -> None:
    """A job running 3x its lease is renewed, so a second worker's sweep never steals it."""
    q = Queue(connect(redis_url).sync, "work")
    r = redis.Redis.from_url(redis_url)
    q.add("j", {"ms": 3000}, job_id="long")
    env = {"CASTIEL_STALL_INTERVAL": "0.3"}
    a = start_worker_process(SPEC, redis_url, "--lease", "1", env=env)
    wait_until(lambda: r.hget(STARTS_KEY, "long") == b"1", 15, message="job start")
    b = start_worker_process(SPEC, redis_url, "--lease", "1", env=env)
    try:
        wait_until(lambda: r.hget(RUNS_KEY, "long") == b"1", 15, message="job completion")
    finally:
        try:
            _stop(a)
        finally:
            _stop(b)
    assert r.hget(STARTS_KEY, "long") == b"1"
    job = q.get_job("long")
    assert job is not None and job.stalls == 0


def test_idle_worker_blocks_instead_of_polling(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    proc = start_worker_process(SPEC, redis_url, env={"CASTIEL_BLOCK_TIMEOUT": "1"})
    try:
        _wait_heartbeat(q)
        time.sleep(0.5)  # let start-up work settle before measuring
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(4)  # the measurement window itself
        used = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        assert used < 0.02, f"idle worker used {used:.1%} CPU"
        # ...and it still wakes at once when work arrives.
        r = redis.Redis.from_url(redis_url)
        t1 = time.monotonic()
        q.add("j", {"ms": 0}, job_id="wake")
        wait_until(lambda: r.hget(RUNS_KEY, "wake") == b"1", 5, interval=0.005)
        assert time.monotonic() - t1 < 0.5
    finally:
        _stop(proc)


@dataclass
class Restartable:
    """Where the queue lives, and how to crash it and start it again (AOF, fsync always)."""

    url: str
    kill: Callable[[], None]
    start: Callable[[], None]
    outage: float = 1.5  # seconds down


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Restartable]:
    if request.param == "standalone":
        server: RedisServer = request.getfixturevalue("fresh_redis")
        yield Restartable(server.url, server.kill, server.start)
        return
    need("redis-server")
    need("redis-cli")
    cluster = RedisClusterServers(tmp_path / "cluster", appendonly=True).start()
    master = cluster.master_for("castiel:{work}:wait")

    def start() -> None:
        master.start()
        cluster.wait_healthy(30)

    try:
        # Past the node timeout (2 s): the other masters mark it failed, the cluster is down.
        yield Restartable(cluster.url, master.kill, start, outage=3.0)
    finally:
        cluster.stop()


@pytest.mark.slow
def test_redis_restart_mid_run_loses_no_acknowledged_add(restartable: Restartable) -> None:
    """The server (or the cluster master holding the queue) is killed and started again."""
    url = restartable.url
    conn = connect(url, retries=0, socket_timeout=1, connect_timeout=0.5)
    q = Queue(conn.sync, "work")
    returned: list[str] = []
    stop = threading.Event()
    backoff = Backoff(base=0.2, jitter=0)

    def produce() -> None:
        i = 0
        while not stop.is_set():
            try:
                # The job's own Redis calls fail during the outage too: it retries.
                job_id = q.add("j", {"ms": 2}, job_id=f"p{i}", attempts=5, backoff=backoff)
                returned.append(job_id)
                i += 1
            except REDIS_FAILED:
                time.sleep(0.05)  # the producer's own retry pause while Redis is down
            time.sleep(0.002)

    worker = start_worker_process(SPEC, url, "--concurrency", "10", "--lease", "2")
    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(lambda: len(returned) > 200, 20, message="jobs to flow")
        # ...through the worker: on a loaded machine it takes seconds to start, and an outage
        # over before it connects tests nothing.
        ran = connect(url).sync
        wait_until(lambda: ran.hlen(RUNS_KEY) > 50, 30, message="the worker to run jobs")
        restartable.kill()
        down_cpu0, t0 = cpu_seconds(worker.pid), time.monotonic()
        time.sleep(restartable.outage)  # Redis stays down this long: the outage under test
        spinning = (cpu_seconds(worker.pid) - down_cpu0) / (time.monotonic() - t0)
        restartable.start()
        r = connect(url).sync
        n_before = len(returned)
        wait_until(lambda: len(returned) > n_before + 200, 30, message="adds after restart")
        stop.set()
        producer.join()
        wait_until(
            lambda: set(returned) <= {k.decode() for k in r.hkeys(RUNS_KEY)},
            60,
            message="every acknowledged job to run",
        )
        assert worker.poll() is None, "the worker survived the outage"
        # A retry loop without backoff burns a whole core (~100 %); backing off measured
        # 8-32 % over this window (the in-flight jobs failing and being buffered included).
        assert spinning < 0.5, f"worker used {spinning:.0%} CPU while Redis was down"
    finally:
        stop.set()
        producer.join()
        out = _stop(worker)
    assert "Redis unreachable" in out and "reachable again" in out, out
    assert out.count("Redis unreachable") <= 4, "an outage is logged once, not per call"


def test_processes_flag_runs_and_stops_several_workers(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    proc = start_worker_process(SPEC, redis_url, "--processes", "2")
    try:
        _wait_heartbeat(q, 2)
        pids = {b.pid for b in read_heartbeats(q.client)[0]}
        assert len(pids) == 2 and proc.pid not in pids
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

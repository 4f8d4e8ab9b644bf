"""Redis Cluster with replicas: a master killed with kill -9 while workers process thousands
of jobs. Replication is asynchronous, so adds acknowledged in the instant before the kill
may be lost; durable adds (WAIT-based) lose none."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis

from castiel.redis_server import RedisClusterServers
from runtime import AsyncQueue, JobState, Queue, connect
from runtime.errors import NotReplicatedError
from runtime.redis_outage import REDIS_FAILED
from tests.helpers import need, start_worker_process, wait_until
from tests.runtime.test_worker_faults import _stop
from tests.runtime.workers import RUNS_KEY, STARTS_KEY

SPEC = "tests.runtime.workers:RecordingWorker"


@pytest.mark.cluster
def test_durable_adds_return_once_a_replica_has_the_job(
    cluster_url: str, redis_cluster: RedisClusterServers
) -> None:
    conn = connect(cluster_url)
    q = Queue(conn.sync, "durable")
    first = q.add("x", {"n": 1}, durable=True)
    assert q.add("x", job_id="fixed", durable=True) == "fixed"
    assert q.add("x", job_id="fixed", durable=True) == "fixed"  # idempotent, still confirmed

    async def add_async() -> list[str]:
        aq = AsyncQueue(conn.aio, "durable")
        try:
            return [await aq.add("y", durable=True), await aq.add("y", job_id="f2", durable=True)]
        finally:
            await conn.aclose()

    ids = asyncio.run(add_async())
    assert ids[1] == "f2"
    assert set(q.job_ids(JobState.WAIT)) == {first, "fixed", *ids}
    # ...and the replica of the queue's master has them (WAIT said so; read it there).
    (replica,) = redis_cluster.replicas_of(redis_cluster.master_for(q.keys.jobs))
    r = redis.Redis(port=replica.port)
    r.execute_command("READONLY")
    assert {k.decode() for k in r.hkeys(q.keys.jobs)} == {first, "fixed", *ids}


def test_a_durable_add_without_a_replica_says_so_and_keeps_the_job_id(redis_url: str) -> None:
    conn = connect(redis_url)
    q = Queue(conn.sync, "durable", durable_timeout=0.2)
    with pytest.raises(NotReplicatedError, match="0 of 1 replica") as caught:
        q.add("x", durable=True)
    # The job was written (on the master): adding it again with its id is idempotent.
    assert q.get_job(caught.value.job_id) is not None
    with pytest.raises(NotReplicatedError):
        q.add("x", job_id=caught.value.job_id, durable=True)
    assert q.counts().wait == 1


@dataclass
class Producers:
    """Threads adding jobs with ids of their own, retrying an id until its add returns (so a
    retry after a failover is idempotent); `acked` holds (monotonic time, id) per returned add."""

    url: str
    queue: str
    durable: bool
    threads: int = 4
    acked: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    failures: int = 0

    def run(self, n: int) -> None:
        conn = connect(self.url, socket_timeout=2, connect_timeout=1)
        q = Queue(conn.sync, self.queue)
        i = 0
        while not self.stop.is_set():
            job_id = f"p{n}-{i}"
            try:
                q.add("j", {"ms": 1}, job_id=job_id, durable=self.durable)
            except (*REDIS_FAILED, NotReplicatedError):
                self.failures += 1
                time.sleep(0.05)  # the producer's own pause before trying the same id again
                continue
            self.acked.append((time.monotonic(), job_id))
            i += 1
        conn.close()

    def __enter__(self) -> Producers:
        self._threads = [
            threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(self.threads)
        ]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)


@pytest.fixture(scope="module")
def replicated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """3 masters with a replica each, of this module's own: its tests kill masters."""
    need("redis-server")
    need("redis-cli")
    cluster = RedisClusterServers(tmp_path_factory.mktemp("failover"), replicas=1).start()
    yield cluster
    cluster.stop()


def _queue_away_from_the_run_records(cluster: RedisClusterServers, taken: set[str]) -> str:
    """A queue whose master holds neither the workers' run records nor another test's queue,
    so killing it loses nothing the test counts with."""
    records = {cluster.master_for(RUNS_KEY).port, cluster.master_for(STARTS_KEY).port}
    for i in range(100):
        name = f"fo{i}"
        if name not in taken and cluster.master_for(f"castiel:{{{name}}}:wait").port not in records:
            return name
    raise AssertionError("no queue name maps to another master")


def _failover_run(cluster: RedisClusterServers, name: str, durable: bool) -> tuple[int, int, int]:
    """Workers process while producers add; kill -9 the queue's master; its replica takes
    over; the killed node comes back as a replica. Returns (acknowledged adds, acknowledged
    adds lost, adds acknowledged in the second before the kill)."""
    url = cluster.url
    r = connect(url).sync
    key = f"castiel:{{{name}}}:wait"
    env = {"CASTIEL_STALL_INTERVAL": "0.5"}
    args = ("--queue", name, "--concurrency", "20", "--lease", "2")
    workers = [start_worker_process(SPEC, url, *args, env=env) for _ in range(2)]
    try:
        with Producers(url, name, durable) as producers:
            wait_until(lambda: len(producers.acked) >= 3000, 60, message="3000 adds")
            victim = cluster.master_for(key)
            victim.kill()  # kill -9
            killed_at = time.monotonic()
            at_kill = len(producers.acked)
            wait_until(
                lambda: cluster.master_for(key) is not victim and cluster.healthy(),
                60,
                interval=0.2,
                message="the replica to take over",
            )
            victim.start()  # back as a replica of the new master
            cluster.wait_healthy(60)
            wait_until(
                lambda: len(producers.acked) >= at_kill + 2000, 60, message="adds after failover"
            )
        acked = {job_id for _, job_id in producers.acked}
        q = Queue(connect(url).sync, name)

        def drained() -> bool:
            c = q.counts()
            return c.wait + c.active + c.delayed == 0

        wait_until(drained, 120, interval=0.2, message="the workers to drain the queue")
        exited = [w.poll() for w in workers if w.poll() is not None]
    finally:
        # A worker that exited says why in its output: keep it for the assertion below.
        outputs = [_stop(w, timeout=30) for w in workers]
    assert not exited, f"the workers carried on by themselves; exit codes {exited}:\n" + "\n".join(
        out[-4000:] for out in outputs
    )
    ran = {k.decode() for k in r.hkeys(RUNS_KEY)}
    lost = acked - ran
    window = sum(1 for t, _ in producers.acked if killed_at - 1 <= t < killed_at)
    print(
        f"\nfailover ({'durable' if durable else 'plain'} adds): {len(acked)} acknowledged, "
        f"{len(lost)} lost, {window} acknowledged in the second before the kill"
    )
    return len(acked), len(lost), window


@pytest.mark.slow
@pytest.mark.cluster
def test_a_killed_master_fails_over_and_workers_carry_on(
    replicated_cluster: RedisClusterServers,
) -> None:
    name = _queue_away_from_the_run_records(replicated_cluster, set())
    acked, lost, window = _failover_run(replicated_cluster, name, durable=False)
    assert acked >= 5000
    # Replication is asynchronous: only adds acknowledged just before the kill can be lost.
    assert lost <= window


@pytest.mark.slow
@pytest.mark.cluster
def test_durable_adds_lose_nothing_when_a_master_is_killed(
    replicated_cluster: RedisClusterServers,
) -> None:
    name = _queue_away_from_the_run_records(replicated_cluster, {"fo0", "fo1", "fo2"})
    acked, lost, _ = _failover_run(replicated_cluster, name, durable=True)
    assert acked >= 5000
    assert lost == 0

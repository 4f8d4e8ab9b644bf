"""Redis Cluster faults, each on a cluster of the test's own: a node of a cluster without
replicas stopped and started again (the one "Redis is unavailable" definition must cover
redis-py's cluster errors, which are not all RedisErrors)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from castiel.redis_server import RedisClusterServers
from runtime import JobSpec, Queue, connect
from tests.helpers import ROOT, need, start_worker_process, wait_until
from tests.runtime.test_worker_faults import _stop
from tests.runtime.workers import RUNS_KEY

SPEC = "tests.runtime.workers:RecordingWorker"


def own_cluster(tmp_path: Path, **kw: object) -> Iterator[RedisClusterServers]:
    need("redis-server")
    need("redis-cli")
    cluster = RedisClusterServers(tmp_path / "cluster", **kw).start()  # type: ignore[arg-type]
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def aof_cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """3 masters, no replicas, AOF with fsync always: a restarted node keeps its jobs."""
    yield from own_cluster(tmp_path, appendonly=True)


def _ran(url: str) -> set[str]:
    r = connect(url).sync
    return {k.decode() for k in r.hkeys(RUNS_KEY)}


@pytest.mark.slow
@pytest.mark.cluster
def test_a_worker_lives_through_a_cluster_node_stopping(aof_cluster: RedisClusterServers) -> None:
    url = aof_cluster.url
    q = Queue(connect(url).sync, "work")
    before = q.add_bulk(JobSpec("j", {"ms": 1}) for _ in range(50))
    worker = start_worker_process(SPEC, url, "--lease", "2")
    try:
        wait_until(lambda: set(before) <= _ran(url), 20, message="the first jobs")
        owner = aof_cluster.master_for(q.keys.wait)
        owner.kill()
        stats = subprocess.run(
            [sys.executable, "-m", "castiel", "queue", "stats", "work", "--redis", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # The other nodes mark it failed after the node timeout (2 s): the cluster answers
        # CLUSTERDOWN, and redis-py's cluster client may raise errors that are not RedisErrors.
        wait_until(
            lambda: not aof_cluster.healthy(), 20, interval=0.2, message="cluster state fail"
        )
        assert worker.poll() is None, "the worker is still running during the outage"
        owner.start()
        aof_cluster.wait_healthy(30)
        after = Queue(connect(url).sync, "work").add_bulk(
            JobSpec("j", {"ms": 1}) for _ in range(50)
        )
        wait_until(lambda: set(after) <= _ran(url), 60, message="jobs added after the outage")
        assert worker.poll() is None, "the worker lived through the outage"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_stop(worker)}") from None
    out = _stop(worker)
    assert "Redis unreachable" in out and "reachable again" in out, out
    # The CLI reports an unreachable cluster in one line with exit 3, not a traceback.
    assert stats.returncode == 3, stats.stderr
    assert "Traceback" not in stats.stderr and stats.stderr.count("\n") == 1, stats.stderr


def test_one_definition_of_redis_unavailable_covers_cluster_errors() -> None:
    from runtime.redis_outage import REDIS_UNAVAILABLE

    for exc in (
        redis.exceptions.RedisClusterException("Redis Cluster cannot be connected"),
        redis.exceptions.SlotNotCoveredError("slot not covered"),
        redis.exceptions.ClusterDownError("CLUSTERDOWN"),
        redis.exceptions.TryAgainError("TRYAGAIN"),
        redis.exceptions.ReadOnlyError("READONLY"),
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.TimeoutError("timeout"),
        ConnectionRefusedError(),
    ):
        assert isinstance(exc, REDIS_UNAVAILABLE), exc
    assert not isinstance(redis.exceptions.ResponseError("WRONGTYPE"), REDIS_UNAVAILABLE)

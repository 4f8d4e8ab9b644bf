"""BaseWorker behaviour, run in-process against a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from runtime import (
    Backoff,
    BaseWorker,
    ConfigError,
    CorrelationFilter,
    Job,
    JobSpec,
    JobState,
    Queue,
    RuntimeMetrics,
    UnrecoverableError,
    connect,
    correlation_scope,
)
from runtime.heartbeat import read_heartbeats
from tests.helpers import run_worker_until


def _queue(url: str, name: str = "work") -> Queue:
    return Queue(connect(url).sync, name)


def _drained(q: Queue) -> Any:
    async def done() -> bool:
        c = q.counts()
        return c.wait == 0 and c.active == 0 and c.delayed == 0

    return done


class Echo(BaseWorker):
    queue = "work"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.running = 0
        self.max_running = 0

    async def process(self, job: Job) -> Any:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        await asyncio.sleep(job.data.get("ms", 0) / 1000)
        self.running -= 1
        return {"echo": job.data}


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_processes_every_job_with_bounded_concurrency(redis_url: str, depth: int) -> None:
    q = _queue(redis_url)
    q.add_bulk(JobSpec("e", {"i": i, "ms": 5}) for i in range(300))
    w = Echo(redis_url=redis_url, concurrency=7, settle_depth=depth)
    run_worker_until(w, _drained(q))
    assert w.processed == 300
    assert 1 < w.max_running <= 7
    assert q.counts().completed == 300
    last = q.get_job(q.job_ids(JobState.COMPLETED, 299, 1)[0])
    assert last is not None and last.result == {"echo": last.data}


class Flaky(BaseWorker):
    queue = "work"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[float] = []

    async def process(self, job: Job) -> Any:
        self.calls.append(time.monotonic())
        if job.data["mode"] == "unrecoverable":
            raise UnrecoverableError("bad input, do not retry")
        if len(self.calls) < job.data["succeed_on"]:
            raise RuntimeError(f"attempt {len(self.calls)} fails")
        return "ok"


def test_retries_follow_exponential_backoff(redis_url: str) -> None:
    q = _queue(redis_url)
    backoff = Backoff(base=0.2, factor=2, jitter=0)
    q.add("f", {"mode": "retry", "succeed_on": 3}, job_id="j", attempts=3, backoff=backoff)
    w = Flaky(redis_url=redis_url)
    run_worker_until(w, _drained(q))
    gaps = [b - a for a, b in zip(w.calls, w.calls[1:], strict=False)]
    assert len(w.calls) == 3
    assert 0.2 <= gaps[0] < 0.45 and 0.4 <= gaps[1] < 0.7, gaps
    job = q.get_job("j")
    assert job is not None and job.state == JobState.COMPLETED and job.attempts_made == 3
    assert job.error is not None and "attempt 2 fails" in job.error["message"]
    assert "Traceback" in job.error["traceback"]


def test_exhausted_attempts_fail_with_traceback(redis_url: str) -> None:
    q = _queue(redis_url)
    q.add(
        "f",
        {"mode": "retry", "succeed_on": 99},
        job_id="j",
        attempts=2,
        backoff=Backoff(base=0.01, jitter=0),
    )
    w = Flaky(redis_url=redis_url)
    run_worker_until(w, _drained(q))
    job = q.get_job("j")
    assert job is not None and job.state == JobState.FAILED and job.attempts_made == 2
    assert job.error is not None and job.error["type"] == "RuntimeError"
    assert 'raise RuntimeError(f"attempt' in job.error["traceback"]
    assert w.failed == 1 and len(w.calls) == 2


def test_unrecoverable_error_skips_retries(redis_url: str) -> None:
    q = _queue(redis_url)
    q.add("f", {"mode": "unrecoverable"}, job_id="j", attempts=5)
    w = Flaky(redis_url=redis_url)
    run_worker_until(w, _drained(q))
    job = q.get_job("j")
    assert job is not None and job.state == JobState.FAILED and len(w.calls) == 1
    assert job.error is not None and job.error["type"] == "UnrecoverableError"


def test_job_timeout_fails_the_attempt(redis_url: str) -> None:
    q = _queue(redis_url)
    q.add("slow", {"ms": 5000}, job_id="j", timeout=0.2)
    w = Echo(redis_url=redis_url)
    started = time.monotonic()
    run_worker_until(w, _drained(q))
    assert time.monotonic() - started < 4
    job = q.get_job("j")
    assert job is not None and job.state == JobState.FAILED
    assert job.error is not None and job.error["type"] == "JobTimeoutError"


class BadResult(BaseWorker):
    queue = "work"

    async def process(self, job: Job) -> Any:
        return {1, 2}


def test_non_json_result_fails_the_job_clearly(redis_url: str) -> None:
    q = _queue(redis_url)
    q.add("x", job_id="j", attempts=3)
    run_worker_until(BadResult(redis_url=redis_url), _drained(q))
    job = q.get_job("j")
    assert job is not None and job.state == JobState.FAILED and job.attempts_made == 1
    assert job.error is not None and "not JSON-serialisable" in job.error["message"]


class SyncWorker(BaseWorker):
    queue = "work"

    def process(self, job: Job) -> Any:  # type: ignore[override]
        from runtime.correlation import get_correlation_id

        time.sleep(0.02)
        return {"thread": threading.current_thread().name, "corr": get_correlation_id()}


def test_sync_process_runs_in_threads_with_correlation_id(redis_url: str) -> None:
    q = _queue(redis_url)
    with correlation_scope("req-77"):
        q.add_bulk(JobSpec("s", i) for i in range(8))
    run_worker_until(SyncWorker(redis_url=redis_url, concurrency=4), _drained(q))
    results = [q.get_job(i) for i in q.job_ids(JobState.COMPLETED)]
    assert all(r is not None and r.result["corr"] == "req-77" for r in results)
    assert all(r is not None and r.result["thread"].startswith("castiel-job") for r in results)


class Logging(BaseWorker):
    queue = "work"

    async def process(self, job: Job) -> Any:
        logging.getLogger("app").warning("processing")
        return None


def test_log_records_carry_correlation_and_job_id(redis_url: str) -> None:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Capture()
    handler.addFilter(CorrelationFilter())
    logging.getLogger("app").addHandler(handler)
    try:
        q = _queue(redis_url)
        with correlation_scope("corr-9"):
            q.add("x", job_id="job-1")
        run_worker_until(Logging(redis_url=redis_url), _drained(q))
    finally:
        logging.getLogger("app").removeHandler(handler)
    assert [(r.correlation_id, r.job_id) for r in records] == [("corr-9", "job-1")]  # type: ignore[attr-defined]


def test_heartbeat_carries_identity_counts_and_metrics(redis_url: str) -> None:
    q = _queue(redis_url)
    q.add_bulk(JobSpec("e", {"ms": 1}) for _ in range(20))
    w = Echo(redis_url=redis_url, concurrency=3, heartbeat_interval=0.1)
    seen: list[Any] = []

    async def beat_after_work() -> bool:
        c = q.counts()
        beats, _ = read_heartbeats(q.client)
        if c.wait == 0 and c.active == 0 and beats and beats[0].processed == 20:
            seen.extend(beats)
            return True
        return False

    run_worker_until(w, beat_after_work)
    beat = seen[0]
    assert beat.id == w.worker_id and beat.queues == ["work"] and beat.concurrency == 3
    names = {(name, labels.get("outcome")) for name, labels, _ in beat.metrics}
    assert ("castiel_jobs_total", "completed") in names
    completed = [
        v
        for n, lab, v in beat.metrics
        if n == "castiel_jobs_total" and lab.get("outcome") == "completed"
    ]
    assert completed == [20.0]
    # A graceful stop withdraws the heartbeat.
    assert read_heartbeats(q.client) == ([], [])


def test_metrics_count_outcomes_and_durations(redis_url: str) -> None:
    q = _queue(redis_url)
    q.add_bulk(JobSpec("e", {"ms": 20}) for _ in range(5))
    metrics = RuntimeMetrics()
    run_worker_until(Echo(redis_url=redis_url, metrics=metrics), _drained(q))
    reg = metrics.registry
    assert (
        reg.get_sample_value("castiel_jobs_total", {"queue": "work", "outcome": "completed"}) == 5
    )
    assert reg.get_sample_value("castiel_job_processing_seconds_count", {"queue": "work"}) == 5
    total = reg.get_sample_value("castiel_job_processing_seconds_sum", {"queue": "work"})
    assert total is not None and total >= 5 * 0.02
    assert reg.get_sample_value("castiel_jobs_in_flight", {"queue": "work"}) == 0


def test_paused_queue_is_not_fetched_until_resumed(redis_url: str) -> None:
    q = _queue(redis_url)
    q.pause()
    q.add_bulk(JobSpec("e", {}) for _ in range(5))
    w = Echo(redis_url=redis_url)
    resumed_at: list[float] = []

    async def done() -> bool:
        if not resumed_at:
            await asyncio.sleep(0.3)
            assert w.processed == 0 and q.counts().wait == 5
            q.resume()
            resumed_at.append(time.monotonic())
        return w.processed == 5

    run_worker_until(w, done)
    assert q.counts().completed == 5


@pytest.mark.parametrize(
    ("kw", "env", "message"),
    [
        ({"concurrency": 0}, {}, "'concurrency' (env CASTIEL_CONCURRENCY): must be >= 1"),
        ({}, {"CASTIEL_LEASE": "soon"}, "CASTIEL_LEASE='soon': expected float"),
        ({"bogus": 1}, {}, "unknown worker setting(s): bogus"),
        ({"grace": -1}, {}, "'grace' (env CASTIEL_GRACE): must be >= 0"),
    ],
)
def test_settings_are_validated_with_clear_messages(
    monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any], env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as exc:
        Echo(**kw)
    assert message in str(exc.value)


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tuned(Echo):
        concurrency = 3
        lease = 4.0

    monkeypatch.setenv("CASTIEL_LEASE", "6")
    w = Tuned(grace=1)
    assert (w.settings.concurrency, w.settings.lease, w.settings.grace) == (3, 6.0, 1)
    assert Tuned(lease=9).settings.lease == 9


@pytest.mark.cluster
@pytest.mark.parametrize("depth", [1, 2])
def test_worker_on_redis_cluster(cluster_url: str, depth: int) -> None:
    q = _queue(cluster_url)
    q.add_bulk(JobSpec("e", {"i": i, "ms": 1}) for i in range(200))
    q.add("e", {"ms": 1}, job_id="later", delay=0.3)
    w = Echo(redis_url=cluster_url, concurrency=10, settle_depth=depth)
    run_worker_until(w, _drained(q))
    assert w.processed == 201 and q.counts().completed == 201


def test_worker_survives_redis_refusing_calls(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An out-of-memory Redis refuses writes: the worker keeps its state and carries on."""
    q = _queue(redis_url)
    q.add_bulk(JobSpec("e", {"ms": 1}) for _ in range(20))
    admin = q.client
    admin.config_set("maxmemory", "1")  # every write is now refused with OOM
    w = Echo(redis_url=redis_url)
    refused_seen: list[bool] = []

    async def done() -> bool:
        if not refused_seen and any("refused a call" in r.message for r in caplog.records):
            refused_seen.append(True)
            admin.config_set("maxmemory", "0")
        return w.processed == 20

    try:
        with caplog.at_level(logging.WARNING, logger="castiel.worker"):
            run_worker_until(w, done)
    finally:
        admin.config_set("maxmemory", "0")
    assert refused_seen and q.counts().completed == 20

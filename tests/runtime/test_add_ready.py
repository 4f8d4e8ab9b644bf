"""The lean add path (runtime/lua/add_ready.lua) against the general one (add.lua): the same
records, ids, order and wake-ups, on a standalone server and on the Cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from runtime import Backoff, JobSpec, JobState, Queue, QueueOptions, RuntimeMetrics
from runtime.connection import RedisConnection
from runtime.queue_ops import BULK_CHUNK, QueueOps

SPECS = [
    JobSpec("plain"),
    JobSpec("data", {"to": "ü@example.com", "n": [1, 2.5, None, 2**62]}),
    JobSpec("high", priority=7),
    JobSpec("lowest", priority=-500),
    JobSpec(
        "options",
        attempts=3,
        backoff=Backoff(base=0.25, factor=3, max_delay=9.5, jitter=0.1),
        timeout=2.5,
        correlation_id="corr-1",
        group="tenant-1",
    ),
    JobSpec("own-id", job_id="order-42"),
    JobSpec("ünïcødé 🚀", {"emoji": "🚀", "nested": {"a": [{"b": True}]}}),
]
TIMES = ("added", "ready")  # Redis TIME at the add: the two paths ran a moment apart


def _general(q: Queue, specs: list[JobSpec]) -> list[str]:
    """Adds through add.lua whatever the specs are (the path the lean one must match)."""
    call = q.ops.script_call(False, [q.ops.spec_args(s) for s in specs])
    return QueueOps.parse_add(q._call(call))


def _stored(conn: RedisConnection, q: Queue) -> dict[str, Any]:
    """Everything an add writes, with the records decoded and their add times taken out."""
    k, r = q.keys, conn.sync
    records = {}
    for job_id, raw in r.hgetall(k.jobs).items():
        meta = json.loads(raw)
        assert all(isinstance(meta.pop(f), int) for f in TIMES), meta
        records[job_id] = meta
    return {
        "records": records,
        "data": r.hgetall(k.data),
        "wait": r.zrange(k.wait, 0, -1, withscores=True),
        "meta": r.hgetall(k.meta),
        "notify": r.llen(k.notify),
        "events": [e[b"event"] for _, e in r.xrange(k.events)],
    }


@pytest.mark.parametrize("events", [0, 100])
def test_lean_and_general_adds_store_the_same(conn: RedisConnection, events: int) -> None:
    lean = Queue(conn.sync, "lean", events_maxlen=events)
    general = Queue(conn.sync, "general", events_maxlen=events)
    assert all(lean.ops.spec_args(s)[4] is not None for s in SPECS)  # all take the lean path
    single = JobSpec("single", {"k": 1}, priority=3)
    lean_ids = [*lean.add_bulk(SPECS), lean.add(single.name, single.data, priority=3)]
    general_ids = _general(general, SPECS) + _general(general, [single])
    assert lean_ids == general_ids == ["1", "2", "3", "4", "5", "order-42", "6", "7"]
    assert _stored(conn, lean) == _stored(conn, general)
    job = lean.get_job("5")
    assert job is not None and job.state is JobState.WAIT
    assert (job.max_attempts, job.timeout, job.correlation_id) == (3, 2.5, "corr-1")
    assert job.backoff == Backoff(base=0.25, factor=3, max_delay=9.5, jitter=0.1)
    assert lean.job_ids(JobState.WAIT, 0, 3) == ["3", "7", "1"]  # priority, then FIFO


def test_lean_add_is_idempotent_and_counts_new_jobs_only(conn: RedisConnection) -> None:
    metrics = RuntimeMetrics()
    q = Queue(conn.sync, "q", metrics=metrics)
    assert q.add("a", {"v": 1}, job_id="x") == "x"
    ids = q.add_bulk([JobSpec("a", {"v": 2}, job_id="x"), JobSpec("b"), JobSpec("c", job_id="y")])
    ids += q.add_bulk([JobSpec("d", job_id="z"), JobSpec("e", {"v": 3}, job_id="z")])
    assert ids == ["x", "1", "y", "z", "z"]
    assert q.counts().wait == 4
    assert q.get_job("x").data == {"v": 1}  # type: ignore[union-attr]
    assert q.get_job("z").name == "d"  # type: ignore[union-attr]
    assert metrics.registry.get_sample_value("castiel_jobs_enqueued_total", {"queue": "q"}) == 4


def test_a_mixed_bulk_keeps_its_order_across_both_paths(conn: RedisConnection) -> None:
    q = Queue(conn.sync, "q")
    specs = [
        JobSpec("a"),
        JobSpec("b", dedup_key="k"),
        JobSpec("c"),
        JobSpec("d", delay=60),
        JobSpec("e"),
        JobSpec("f", dedup_key="k"),  # dropped: "b" holds the key
    ]
    ids = q.add_bulk(specs)
    assert ids == ["1", "2", "3", "4", "5", "2"]
    assert q.job_ids(JobState.WAIT) == ["1", "2", "3", "5"]
    assert q.job_ids(JobState.DELAYED) == ["4"]


def test_add_calls_route_runs_of_jobs_in_order() -> None:
    ops = QueueOps("q", QueueOptions())
    per_job = [ops.spec_args(JobSpec("a"))] * (BULK_CHUNK + 1)
    per_job += [ops.spec_args(JobSpec("b", delay=1))]
    per_job += [ops.spec_args(JobSpec("c", dedup_key="k")), ops.spec_args(JobSpec("d"))]
    calls = ops.add_calls(per_job)
    assert [(c.script, (len(c.args) - 1) // 4) for c in calls] == [
        ("add_ready", BULK_CHUNK),
        ("add_ready", 1),
        ("add", 2),
        ("add_ready", 1),
    ]
    assert calls[0].keys == ops.keys.ready_add_keys()
    assert calls[2].keys == ops.keys.script_keys()
    assert all(k.startswith("castiel:{q}:") for c in calls for k in c.keys)
    assert calls[2].args[1:5] == ["", per_job[-3][1], "null", 1000]  # id, meta, data, delay
    assert calls[3].args[1:5] == ["", per_job[-1][1], "null", 0]  # id, meta, data, priority


@pytest.mark.parametrize(
    "bad",
    [
        ["", '{"name":"x"}', "null", "501"],
        ["", '{"name":"x"}', "null", "1.5"],
        ["", '{"name":"x"}', "null", "high"],
        ["", "[]", "null", "0"],
        ["", "{}", "null", "0"],
        ["", '{"name":"x"}', "null"],
    ],
)
def test_lean_add_checks_every_argument_before_its_first_write(
    conn: RedisConnection, bad: list[str]
) -> None:
    q = Queue(conn.sync, "q")
    good = ["", '{"name":"ok","pri":0,"att":1}', "null", "0"]
    with pytest.raises(redis.ResponseError, match="add_ready"):
        q._scripts["add_ready"](keys=q.keys.ready_add_keys(), args=[0, *good, *bad])
    assert conn.sync.hgetall(q.keys.meta) == {}
    assert conn.sync.hlen(q.keys.jobs) == 0 and conn.sync.zcard(q.keys.wait) == 0

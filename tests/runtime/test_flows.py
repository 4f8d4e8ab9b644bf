"""Flows: parent/child jobs across queues, 3 levels deep, failure policies, crashes."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
import redis

from runtime import (
    AsyncFlowProducer,
    AsyncQueue,
    ConfigError,
    FlowJob,
    FlowNode,
    FlowProducer,
    JobState,
    Queue,
    connect,
)
from runtime.connection import async_client
from tests.helpers import run_workers_until, start_worker_process, wait_until
from tests.runtime.workers import FlowStep

ORDER = "castiel-test:order"


def node(
    queue: str, name: str, v: int = 0, children: list[FlowJob] | None = None, **kw: Any
) -> FlowJob:
    data = {"name": name, "v": v, **kw.pop("data", {})}
    return FlowJob(queue, "step", data, children or [], **kw)


def tree(fail: str | None = None, ignore: bool = False) -> FlowJob:
    """root (assemble) <- a, b (render) <- a1, a2 (assemble), b1 (render)."""

    def n(q: str, name: str, v: int, kids: list[FlowJob] | None = None) -> FlowJob:
        data = {"fail": True} if name == fail else {}
        return node(q, name, v, kids, data=data, fail_parent=not (ignore and name == fail))

    return n(
        "assemble",
        "root",
        1000,
        [
            n("render", "a", 100, [n("assemble", "a1", 10), n("assemble", "a2", 20)]),
            n("render", "b", 200, [n("render", "b1", 30)]),
        ],
    )


def run_flow(url: str, root: FlowNode, timeout: float = 30) -> tuple[Queue, Queue]:
    conn = connect(url)
    assemble, render = Queue(conn.sync, "assemble"), Queue(conn.sync, "render")
    workers = [FlowStep(redis_url=url, queue="assemble"), FlowStep(redis_url=url, queue="render")]

    async def finished() -> bool:
        job = assemble.get_job(root.id)
        return job is not None and job.state in (JobState.COMPLETED, JobState.FAILED)

    run_workers_until(workers, finished, timeout)
    return assemble, render


def ran(url: str) -> list[str]:
    r = connect(url).sync
    return [x.decode() for x in r.lrange(ORDER, 0, -1)]


def test_three_level_flow_runs_children_first_and_parents_read_results(url: str) -> None:
    root = FlowProducer(connect(url).sync).add(tree())
    assemble, render = Queue(connect(url).sync, "assemble"), Queue(connect(url).sync, "render")
    assert assemble.counts().waiting_children == 1 and render.counts().waiting_children == 2
    assert assemble.counts().wait == 2 and render.counts().wait == 1
    assemble, render = run_flow(url, root)
    order = ran(url)
    for parent, kids in {"root": ["a", "b"], "a": ["a1", "a2"], "b": ["b1"]}.items():
        assert all(order.index(k) < order.index(parent) for k in kids), order
    job = assemble.get_job(root.id)
    assert job is not None and job.state == JobState.COMPLETED
    assert job.result == 1000 + (100 + 10 + 20) + (200 + 30)
    a = render.get_job(root.children[0].id)
    assert a is not None and a.children == [c.ref for c in root.children[0].children]
    assert render.children_results(a).values == {
        f"assemble:{root.children[0].children[0].id}": 10,
        f"assemble:{root.children[0].children[1].id}": 20,
    }


def test_failed_child_fails_its_parents_by_default(url: str) -> None:
    root = FlowProducer(connect(url).sync).add(tree(fail="a1"))
    assemble, render = run_flow(url, root)
    job = assemble.get_job(root.id)
    assert job is not None and job.state == JobState.FAILED
    assert job.error is not None and job.error["type"] == "ChildFailedError"
    a = render.get_job(root.children[0].id)
    assert a is not None and a.state == JobState.FAILED
    assert "a" not in ran(url) and "root" not in ran(url)


def test_ignored_child_failure_lets_the_parent_run(url: str) -> None:
    root = FlowProducer(connect(url).sync).add(tree(fail="a1", ignore=True))
    assemble, render = run_flow(url, root)
    job = assemble.get_job(root.id)
    assert job is not None and job.state == JobState.COMPLETED
    assert job.result == 1000 + (100 + 20) + (200 + 30)
    a = render.get_job(root.children[0].id)
    assert a is not None
    failures = render.children_results(a).failures
    assert next(iter(failures.values()))["message"] == "a1 fails"


def test_adding_the_same_flow_again_creates_nothing(redis_url: str) -> None:
    def fixed() -> FlowJob:
        return node("assemble", "root", 1, [node("render", "c", 2, job_id="c")], job_id="r")

    producer = FlowProducer(connect(redis_url).sync)
    producer.add(fixed())
    producer.add(fixed())
    render = Queue(connect(redis_url).sync, "render")
    assemble = Queue(connect(redis_url).sync, "assemble")
    assert render.counts().wait == 1 and assemble.counts().waiting_children == 1


def test_an_undelivered_outbox_entry_is_delivered_by_the_sweep(url: str) -> None:
    """A worker that dies right after acknowledging a child, before telling the parent."""
    root = FlowProducer(connect(url).sync).add(node("assemble", "p", 1, [node("render", "c", 2)]))

    async def go() -> tuple[Any, Any]:
        client = async_client(connect(url).settings)
        try:
            render = AsyncQueue(client, "render")
            res = await render.settle_and_fetch([], [], 1, "tok", 30_000, "w")
            done = await render.settle_and_fetch(
                [(res.jobs[0].job.id, "tok", "2")], [], 0, "tok2", 30_000, "w"
            )
            assert done.flow_events == 1
            # ...the worker dies here. Any other worker's sweep finds the entry:
            _, _, pending = await render.sweep_stalled(1)
            assert pending == 1
            assemble = AsyncQueue(client, "assemble")
            outcomes = await render.deliver_outbox(
                lambda q: assemble if q == "assemble" else render
            )
            again = await render.deliver_outbox(lambda q: assemble)
            return outcomes, again
        finally:
            await client.aclose()

    outcomes, again = asyncio.run(go())
    assert outcomes == {"ready": 1} and again == {}
    job = Queue(connect(url).sync, "assemble").get_job(root.id)
    assert job is not None and job.state == JobState.WAIT


@pytest.mark.slow
def test_a_worker_killed_mid_flow_does_not_strand_the_flow(redis_url: str) -> None:
    leaves = [node("render", f"leaf{i}", i, data={"ms": 300}) for i in range(12)]
    mids = [node("assemble", f"mid{j}", 0, leaves[j * 4 : (j + 1) * 4]) for j in range(3)]
    root = FlowProducer(connect(redis_url).sync).add(node("assemble", "root", 0, mids))
    spec = "tests.runtime.workers:FlowStep"
    env = {"CASTIEL_STALL_INTERVAL": "0.3"}
    parents = start_worker_process(spec, redis_url, "--queue", "assemble", "--lease", "1", env=env)
    victim = start_worker_process(
        spec, redis_url, "--queue", "render", "--lease", "1", "--concurrency", "4", env=env
    )
    r = redis.Redis.from_url(redis_url)
    assemble = Queue(connect(redis_url).sync, "assemble")
    try:
        wait_until(lambda: r.llen(ORDER) >= 4, 20, message="some leaves to finish")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        rescuer = start_worker_process(
            spec, redis_url, "--queue", "render", "--lease", "1", "--concurrency", "4", env=env
        )
        try:
            wait_until(
                lambda: (
                    (j := assemble.get_job(root.id)) is not None and j.state == JobState.COMPLETED
                ),
                40,
                message="the flow to complete",
            )
        finally:
            rescuer.terminate()
            rescuer.wait(20)
    finally:
        parents.terminate()
        parents.wait(20)
    job = assemble.get_job(root.id)
    assert job is not None and job.result == sum(range(12))


def test_producers_check_each_queue_once_not_on_every_flow(redis_url: str) -> None:
    """The eviction-policy check (CONFIG GET) and the queue registration are once per producer
    and queue; they used to cost two round trips per queue on every flow added (20 CONFIG
    GETs for these 10 flows), and ran the example service's Redis pool dry under load."""
    conn = connect(redis_url)

    def calls(command: str) -> int:
        stats = conn.sync.info("commandstats").get(f"cmdstat_{command}", {})
        return int(stats.get("calls", 0))

    def flow(i: int) -> FlowJob:
        return node("assemble", f"r{i}", i, [node("render", f"c{i}", i)])

    conn.sync.config_resetstat()
    producer = FlowProducer(conn.sync)
    for i in range(10):
        producer.add(flow(i))
    assert calls("config|get") == 2  # one per queue (SADD also runs inside the scripts)

    async def main() -> None:
        client = connect(redis_url).aio
        try:
            producer = AsyncFlowProducer(client)
            for i in range(10, 20):
                await producer.add(flow(i))
        finally:
            await client.aclose()

    conn.sync.config_resetstat()
    asyncio.run(main())
    assert calls("config|get") == 2  # one per queue (SADD also runs inside the scripts)


@pytest.mark.parametrize("where", ["child", "root"])
def test_a_flow_with_a_dedup_key_is_refused_before_anything_is_written(
    redis_url: str, where: str
) -> None:
    """A deduplicated child would not be created (the key holder is not its parent's child),
    so its parent would wait forever; a deduplicated root would leave its children reporting
    to no one. So flows refuse dedup keys, at add, before writing."""
    conn = connect(redis_url)
    render = Queue(conn.sync, "render")
    holder = render.add("step", {"name": "x"}, dedup_key="k")
    dedup = {"options": {"dedup_key": "k"}}
    child = node("render", "c", **(dedup if where == "child" else {}))
    root = node("assemble", "root", children=[child], **(dedup if where == "root" else {}))
    with pytest.raises(ConfigError, match="dedup_key"):
        FlowProducer(conn.sync).add(root)
    assert sum(Queue(conn.sync, "assemble").counts().as_dict().values()) == 0
    assert render.job_ids(JobState.WAIT) == [holder]

"""Flows: a tree of jobs, across queues, added in one call. A parent becomes ready only when
all its children finished, and reads their results (`BaseWorker.children(job)`).

Atomicity: the jobs of one queue are created by one script call, so a flow inside one queue
(or queues sharing a hash tag) is all-or-nothing. Across queues (different cluster slots) no
Redis transaction can span them; instead every step is atomic inside its own queue and the
steps are idempotent: job ids are assigned here, before anything is written, and adding the
same tree again creates only what is missing. A child that finishes writes an outbox entry in
its own queue in the same script that records its outcome; workers deliver it to the
parent's queue with an idempotent script, right away and again from every stall sweep, so a
worker killed at any point never leaves a parent waiting forever."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import ConfigError
from runtime.job import JobSpec
from runtime.metrics import RuntimeMetrics
from runtime.queue import AsyncQueue, Queue


@dataclass
class FlowJob:
    """One node of a flow. `fail_parent=False` lets the parent run even if this job fails
    (its error is then visible in `ChildResults.failures`). `options` are JobSpec options."""

    queue: str
    name: str
    data: Any = None
    children: list[FlowJob] = field(default_factory=list)
    fail_parent: bool = True
    job_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FlowNode:
    """Where each job of an added flow went."""

    queue: str
    id: str
    children: list[FlowNode]

    @property
    def ref(self) -> str:
        return f"{self.queue}:{self.id}"


@dataclass
class _Planned:
    specs: list[JobSpec] = field(default_factory=list)
    extras: list[dict[str, Any] | None] = field(default_factory=list)


def _refuse_dedup(node: FlowJob, path: str) -> None:
    """Deduplication does not mix with flows, so they are refused before anything is written:
    a deduplicated child is not created (the job holding the key is not its parent's child,
    and may finish before the parent exists or never report to it), so its parent would wait
    forever; a deduplicated parent is not created, so its children would report to no one."""
    if "dedup_key" in node.options:
        raise ConfigError(
            f"flow job {path} ({node.queue}:{node.name}): dedup_key cannot be used in a flow "
            "(a deduplicated job would not be created and its parent would wait forever); "
            "deduplicate before adding the flow, e.g. with a fixed job_id for the root"
        )
    for i, child in enumerate(node.children):
        _refuse_dedup(child, f"{path}.children[{i}]")


def plan_flow(tree: FlowJob) -> tuple[FlowNode, dict[str, _Planned]]:
    """Pure: assign ids and group the jobs by queue, parents before their children. A flow
    whose jobs use `dedup_key` is refused (ConfigError), see `_refuse_dedup`."""
    if tree.children:
        _refuse_dedup(tree, "root")
    plan: dict[str, _Planned] = {}

    def visit(node: FlowJob, parent: FlowNode | None) -> FlowNode:
        job_id = node.job_id or uuid.uuid4().hex
        me = FlowNode(node.queue, job_id, [])
        extra: dict[str, Any] = {}
        if parent is not None:
            extra["parent"] = parent.ref
            extra["fp"] = node.fail_parent
        kids = [FlowNode(c.queue, c.job_id or uuid.uuid4().hex, []) for c in node.children]
        if kids:
            extra["pending"] = len(kids)
            extra["kids"] = [k.ref for k in kids]
        planned = plan.setdefault(node.queue, _Planned())
        planned.specs.append(JobSpec(node.name, node.data, job_id=job_id, **node.options))
        planned.extras.append(extra or None)
        for child, kid in zip(node.children, kids, strict=True):
            child_with_id = FlowJob(
                child.queue,
                child.name,
                child.data,
                child.children,
                child.fail_parent,
                kid.id,
                child.options,
            )
            me.children.append(visit(child_with_id, me))
        return me

    return visit(tree, None), plan


class FlowProducer:
    """Adds flows from sync code: `FlowProducer(conn.sync).add(FlowJob(...))`."""

    def __init__(self, client: Any, metrics: RuntimeMetrics | None = None) -> None:
        self.client = client
        self.metrics = metrics
        # One Queue per name, kept: each checks Redis's eviction policy and registers itself
        # once, not on every flow.
        self._queues: dict[str, Queue] = {}

    def add(self, tree: FlowJob) -> FlowNode:
        root, plan = plan_flow(tree)
        for queue, planned in plan.items():
            q = self._queues.get(queue) or self._queues.setdefault(
                queue, Queue(self.client, queue, metrics=self.metrics)
            )
            q.add_raw(planned.specs, planned.extras)
        return root


class AsyncFlowProducer:
    def __init__(self, client: Any, metrics: RuntimeMetrics | None = None) -> None:
        self.client = client
        self.metrics = metrics
        self._queues: dict[str, AsyncQueue] = {}

    async def add(self, tree: FlowJob) -> FlowNode:
        root, plan = plan_flow(tree)
        for queue, planned in plan.items():
            q = self._queues.get(queue) or self._queues.setdefault(
                queue, AsyncQueue(self.client, queue, metrics=self.metrics)
            )
            await q.add_raw(planned.specs, planned.extras)
        return root

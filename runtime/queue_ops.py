"""What the queue sends to its Lua scripts and reads back, as pure functions: script arguments
from job specs, and typed results from replies. Shared by the sync and async queues
(runtime/queue.py), the worker and the scheduler."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from runtime.backoff import Backoff
from runtime.correlation import correlation_id
from runtime.errors import ConfigError
from runtime.job import CorruptRecord, Job, JobSpec, JobState, dumps, loads, read_job
from runtime.keys import QueueKeys

BULK_CHUNK = 500  # jobs per add script call; a pipeline carries many chunks in one round trip


@dataclass(frozen=True)
class QueueOptions:
    """Retention and defaults of one queue. Ages are seconds; -1 disables that bound."""

    keep_completed: int = 1000
    keep_completed_age: float = 24 * 3600
    keep_failed: int = 10_000
    keep_failed_age: float = 7 * 24 * 3600
    # > 0: a lifecycle stream (`events`, one entry per add, start, finish...) capped at about
    # this many entries. Off by default: nothing in Castiel reads it, and its entries cost
    # Redis ~2.5 µs per job and transition. Set it alike on producers and workers.
    events_maxlen: int = 0
    stats_retention_minutes: int = 24 * 60
    default_attempts: int = 1
    default_backoff: Backoff = field(default_factory=Backoff)
    default_timeout: float | None = None
    allow_eviction: bool = False
    durable_replicas: int = 1  # add(durable=True): replicas that must confirm the job...
    durable_timeout: float = 2.0  # ...within this many seconds (runtime/durable.py)

    def __post_init__(self) -> None:
        if self.keep_completed < -1 or self.keep_failed < -1:
            raise ConfigError("keep_completed/keep_failed must be >= 0 (or -1 for unbounded)")
        if self.events_maxlen < 0:
            raise ConfigError("events_maxlen must be >= 0 (0: no events stream)")
        if self.default_attempts < 1:
            raise ConfigError("default_attempts must be >= 1")
        if self.durable_replicas < 1 or self.durable_timeout <= 0:
            raise ConfigError("durable_replicas must be >= 1 and durable_timeout > 0 seconds")


@dataclass(frozen=True)
class Counts:
    wait: int
    delayed: int
    active: int
    completed: int
    failed: int
    paused: bool
    waiting_children: int = 0

    def as_dict(self) -> dict[str, int]:
        return {s.value: getattr(self, state_attr(s)) for s in JobState}


def state_attr(state: JobState) -> str:
    """Attribute (and QueueKeys property) name of a state: waiting-children → waiting_children."""
    return state.value.replace("-", "_")


@dataclass(frozen=True)
class ChildResults:
    """What a flow parent's children produced, by child ref ("queue:id")."""

    values: dict[str, Any]  # results of children that completed
    failures: dict[str, Any]  # error records of children that failed (and were ignored)


@dataclass(frozen=True)
class SettleResult:
    """What one settle-and-fetch round trip did."""

    completed_ms: list[int]  # processing ms per acknowledged job, -1: lease lost, -2: corrupt
    failed: list[tuple[str, int]]  # ('retry'|'failed'|'lost'|'corrupt', processing ms)
    jobs: list[Fetched]
    corrupt: list[tuple[str, str]]  # (id, what is wrong) of leased jobs that cannot be read
    next_delayed_ms: int  # -1 when nothing is delayed
    paused: bool
    rate_limited_ms: int  # > 0: the queue's rate limit frees a slot in this many ms
    group_held: int  # jobs put back because their group was over its rate limit
    flow_events: int  # outbox entries written for flow parents


@dataclass(frozen=True)
class Fetched:
    """A job handed to a worker, with the lease token that proves it still holds it."""

    job: Job
    token: str
    wait_ms: int


def plain(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _as_stored(raw: bytes | str | None) -> Any:
    try:
        return loads(raw)
    except ValueError:
        return plain(raw) if raw is not None else None


def outbox_entry(raw: bytes | str) -> dict[str, Any] | None:
    """A flow outbox entry written by settle.lua, or None when it is corrupt."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    valid = (
        isinstance(entry, dict)
        and isinstance(entry.get("c"), str)
        and isinstance(entry.get("p"), str)
        and ":" in entry["p"]
        and entry.get("ok") in (0, 1)
        and isinstance(entry.get("r"), str)
    )
    return entry if valid else None


JobArgs = list[Any]  # one job's add arguments (QueueOps.spec_args)


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One call of a queue script: which, on which keys, with which arguments."""

    script: str
    keys: list[str]
    args: list[Any]


def seconds_ms(seconds: float) -> int:
    return -1 if seconds < 0 else int(seconds * 1000)


class QueueOps:
    """Pure argument building and reply parsing shared by the sync and async queues."""

    def __init__(self, name: str, options: QueueOptions) -> None:
        if not name or any(c in name for c in "{}: "):
            raise ConfigError(f"queue name {name!r} must be non-empty without '{{', '}}', ':', ' '")
        self.name = name
        self.options = options
        self.keys = QueueKeys(name)
        self.key_list = self.keys.script_keys()
        self.ready_keys = self.keys.ready_add_keys()

    def spec_args(self, spec: JobSpec, extra: dict[str, Any] | None = None) -> JobArgs:
        """One job's arguments: [id, meta_json, data_json, delay_ms, lean], where lean is the
        priority when the job can go through the lean add_ready.lua (ready at once, no dedup
        key, no flow metadata), else None."""
        o = self.options
        meta: dict[str, Any] = {
            "name": spec.name,
            "pri": spec.priority,
            "att": spec.attempts or o.default_attempts,
            "bo": (spec.backoff or o.default_backoff).to_list(),
        }
        timeout = spec.timeout if spec.timeout is not None else o.default_timeout
        if timeout is not None:
            meta["to"] = timeout
        corr = spec.correlation_id or correlation_id.get()
        if corr:
            meta["corr"] = corr
        if spec.dedup_key is not None:
            meta["dd"] = spec.dedup_key
            meta["ddm"] = spec.dedup_mode
            if spec.dedup_window is not None:
                meta["ddt"] = int(spec.dedup_window * 1000)
        if spec.group is not None:
            meta["grp"] = spec.group
        if extra:
            meta.update(extra)
        data = dumps(spec.data, f"payload of job {spec.name!r} on queue {self.name!r}")
        delay_ms = int(spec.delay * 1000)
        lean = spec.priority if not delay_ms and spec.dedup_key is None and not extra else None
        return [spec.job_id or "", dumps(meta, "job options"), data, delay_ms, lean]

    def add_args(
        self, specs: list[JobSpec], extras: list[dict[str, Any] | None] | None = None
    ) -> list[Any]:
        """Arguments of ONE add.lua call for all `specs` (a flow: atomic within the queue)."""
        per_job = [self.spec_args(s, extras[i] if extras else None) for i, s in enumerate(specs)]
        return self.script_call(False, per_job).args

    def add_calls(self, per_job: list[JobArgs]) -> list[ScriptCall]:
        """The add script calls for jobs, in their order: runs of jobs that can take the lean
        path go to add_ready.lua, the others to add.lua, BULK_CHUNK jobs per call at most."""
        calls = []
        for lean, run in itertools.groupby(per_job, key=lambda job: job[4] is not None):
            jobs = list(run)
            for i in range(0, len(jobs), BULK_CHUNK):
                calls.append(self.script_call(lean, jobs[i : i + BULK_CHUNK]))
        return calls

    def script_call(self, lean: bool, per_job: list[JobArgs]) -> ScriptCall:
        args: list[Any] = [self.options.events_maxlen]
        if lean:  # id, meta, data, priority
            for job in per_job:
                args += (job[0], job[1], job[2], job[4])
            return ScriptCall("add_ready", self.ready_keys, args)
        for job in per_job:  # id, meta, data, delay
            args += job[:4]
        return ScriptCall("add", self.key_list, args)

    @staticmethod
    def parse_add(reply: list[Any]) -> list[str]:
        return [plain(reply[i]) for i in range(0, len(reply), 2)]

    @staticmethod
    def created(reply: list[Any]) -> int:
        return sum(int(reply[i]) for i in range(1, len(reply), 2))

    def settle_args(
        self,
        completed: list[tuple[str, str, str]],
        failed: list[tuple[str, str, str, int]],
        fetch: int,
        token: str,
        lease_ms: int,
        worker_id: str,
    ) -> list[Any]:
        o = self.options
        args: list[Any] = [
            len(completed),
            len(failed),
            o.keep_completed,
            seconds_ms(o.keep_completed_age),
            o.keep_failed,
            seconds_ms(o.keep_failed_age),
            o.events_maxlen,
            o.stats_retention_minutes,
            fetch,
            token,
            lease_ms,
            worker_id,
        ]
        for c in completed:
            args.extend(c)
        for f in failed:
            args.extend(f)
        return args

    def parse_fetch(
        self, reply: list[Any], token: str
    ) -> tuple[list[Fetched], list[tuple[str, str]]]:
        """Leased jobs, and (id, problem) of those whose stored record cannot be read here
        (the scripts check only what they use; the worker fails these as corrupt)."""
        jobs, corrupt = [], []
        for i in range(4, len(reply), 4):
            job_id = plain(reply[i])
            try:
                job = read_job(self.name, job_id, reply[i + 1], reply[i + 2])
            except CorruptRecord as exc:
                corrupt.append((job_id, str(exc)))
                continue
            jobs.append(Fetched(job, token, int(reply[i + 3])))
        return jobs, corrupt

    def parse_job(self, job_id: str, raw: list[Any]) -> Job | None:
        """The job for inspection. A payload, result or error that is not JSON (a corrupt
        record) comes back as its raw text; a meta that cannot be read raises CorruptRecord."""
        meta, data, result, error = raw
        if meta is None:
            return None
        job = read_job(self.name, job_id, meta, "null")
        job.data, job.result, job.error = _as_stored(data), _as_stored(result), _as_stored(error)
        return job

    @staticmethod
    def rate_limit_mapping(prefix: str, max_jobs: int, per_seconds: float) -> dict[str, int]:
        if max_jobs < 1 or per_seconds <= 0:
            raise ConfigError("a rate limit needs max_jobs >= 1 and per_seconds > 0")
        return {f"{prefix}_max": max_jobs, f"{prefix}_ms": int(per_seconds * 1000)}

    @staticmethod
    def children_fields(job: Job) -> list[str]:
        return [f"{job.id}|{ref}" for ref in job.children]

    @staticmethod
    def parse_children(job: Job, raw: list[Any]) -> ChildResults:
        values: dict[str, Any] = {}
        failures: dict[str, Any] = {}
        for ref, value in zip(job.children, raw, strict=True):
            if value is None:
                continue
            text = plain(value)
            (values if text[0] == "1" else failures)[ref] = loads(text[1:])
        return ChildResults(values, failures)

    @staticmethod
    def parse_counts(raw: list[Any]) -> Counts:
        wait, delayed, active, completed, failed, parents = (int(x) for x in raw[:6])
        return Counts(
            wait,
            delayed,
            active,
            completed,
            failed,
            paused=raw[6] is not None,
            waiting_children=parents,
        )

    def parse_settle(self, reply: list[Any], token: str) -> SettleResult:
        done_raw, fail_raw, fetch_raw, flow = reply
        jobs, corrupt = self.parse_fetch(fetch_raw, token)
        return SettleResult(
            completed_ms=[int(x) for x in done_raw],
            failed=[(plain(fail_raw[i]), int(fail_raw[i + 1])) for i in range(0, len(fail_raw), 2)],
            jobs=jobs,
            corrupt=corrupt,
            next_delayed_ms=int(fetch_raw[0]),
            paused=bool(int(fetch_raw[1])),
            rate_limited_ms=int(fetch_raw[2]),
            group_held=int(fetch_raw[3]),
            flow_events=int(flow),
        )

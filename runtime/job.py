"""Jobs as typed data, and their JSON encoding (never pickle)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from runtime.backoff import Backoff
from runtime.errors import ConfigError, PayloadError

MIN_PRIORITY, MAX_PRIORITY = -500, 500


class JobState(StrEnum):
    WAITING_CHILDREN = "waiting-children"
    WAIT = "wait"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


# orjson is several times faster than the stdlib on job records, but not exact everywhere:
# it writes NaN/Infinity as null, refuses integers beyond 64 bits and non-string keys, and
# reads integers beyond 64 bits as floats. Those cases go through the stdlib, so the JSON
# accepted, refused and read back is the stdlib's (except that orjson also writes uuid.UUID
# and enum members, as their string and value).
_ORJSON = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_ORJSON |= orjson.OPT_PASSTHROUGH_SUBCLASS
_LONG_NUMBER = re.compile(rb"\d{19}")  # may not fit 64 bits: read with the stdlib


def dumps(value: Any, what: str) -> str:
    """Strict JSON: no NaN/Infinity, no objects json cannot represent; the error says what."""
    if value is None:
        return "null"
    try:
        raw = orjson.dumps(value, option=_ORJSON)
    except TypeError:  # also orjson.JSONEncodeError
        raw = b"null"
    if b"null" not in raw:  # null may stand for a NaN: let the stdlib decide
        return raw.decode()
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serialisable: {exc}") from None


def loads(raw: bytes | str | None) -> Any:
    if raw is None:
        return None
    data = raw.encode() if isinstance(raw, str) else raw
    if _LONG_NUMBER.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the stdlib gives the same error as before, or reads NaN as it always did
    return json.loads(data)


@dataclass(frozen=True)
class JobSpec:
    """One job to enqueue. `job_id` makes `add` idempotent: adding an id that exists is a no-op.

    `priority` runs from -500 to 500, higher first (0 by default); `delay`, `timeout` and the
    backoff are in seconds; `attempts` counts the first run.

    `dedup_key`: while a job with this key has not started, another add with the key is
    dropped (`dedup_mode="drop"`, the default) or replaces the waiting job's data
    (`"replace"`; with a `delay` the delay restarts: a debounce). `dedup_window` (seconds)
    keeps the key held that long after the add, even once the job ran (a throttle).
    `group`: the job counts against its group's rate limit (e.g. a tenant id), see
    `Queue.set_group_rate_limit`."""

    name: str
    data: Any = None
    job_id: str | None = None
    delay: float = 0.0
    priority: int = 0
    attempts: int | None = None
    backoff: Backoff | None = None
    timeout: float | None = None
    correlation_id: str | None = None
    dedup_key: str | None = None
    dedup_mode: str = "drop"
    dedup_window: float | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if self.dedup_mode not in ("drop", "replace"):
            raise ConfigError("dedup_mode must be 'drop' or 'replace'")
        if self.dedup_window is not None and self.dedup_window <= 0:
            raise ConfigError("dedup_window must be > 0 seconds")
        if not self.name:
            raise ConfigError("a job needs a name")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ConfigError(f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
        if self.delay < 0:
            raise ConfigError("delay must be >= 0 seconds")
        if self.attempts is not None and self.attempts < 1:
            raise ConfigError("attempts must be >= 1")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError("timeout must be > 0 seconds")
        if self.job_id is not None and (not self.job_id or len(self.job_id) > 256):
            raise ConfigError("job_id must be a non-empty string of at most 256 characters")


def _ts(ms: Any) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class Job:
    """A job as a worker or an operator sees it. Times come from the Redis server's clock."""

    id: str
    queue: str
    name: str
    data: Any
    state: JobState
    attempts_made: int
    max_attempts: int
    priority: int = 0
    stalls: int = 0
    timeout: float | None = None
    correlation_id: str | None = None
    backoff: Backoff = field(default_factory=Backoff)
    added_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    parent: str | None = None  # "queue:id" of the flow parent this job reports to
    children: list[str] = field(default_factory=list)  # "queue:id" of this job's children

    @classmethod
    def from_meta(
        cls,
        queue: str,
        job_id: str,
        meta: dict[str, Any],
        data: Any,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> Job:
        return cls(
            id=job_id,
            queue=queue,
            name=meta["name"],
            data=data,
            state=JobState(meta.get("state", "wait")),
            attempts_made=int(meta.get("made", 0)),
            max_attempts=int(meta.get("att", 1)),
            priority=int(meta.get("pri", 0)),
            stalls=int(meta.get("stalls", 0)),
            timeout=meta.get("to"),
            correlation_id=meta.get("corr"),
            backoff=Backoff.from_list(meta.get("bo")),
            added_at=_ts(meta.get("added")),
            started_at=_ts(meta.get("started")),
            finished_at=_ts(meta.get("finished")),
            worker=meta.get("worker"),
            result=result,
            error=error,
            parent=meta.get("parent"),
            children=list(meta.get("kids", ())),
        )


class CorruptRecord(ValueError):
    """A stored job record this code cannot use (another version's format, a hand edit)."""


def read_job(queue: str, job_id: str, meta: bytes | str, data: bytes | str) -> Job:
    """A leased job from its stored record; CorruptRecord says what cannot be read."""
    try:
        fields = loads(meta)
    except ValueError:
        raise CorruptRecord("meta is not JSON") from None
    try:
        payload = loads(data)
    except ValueError as exc:
        raise CorruptRecord(f"payload is not JSON ({exc})") from None
    try:
        return Job.from_meta(queue, job_id, fields, payload)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CorruptRecord(f"meta cannot be read ({type(exc).__name__}: {exc})") from None


def corrupt_error(problem: str) -> str:
    """The error record of a job failed because its stored record is corrupt."""
    return dumps(
        {"type": "CorruptJobRecord", "message": f"corrupt job record: {problem}"}, "error record"
    )

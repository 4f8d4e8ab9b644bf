"""The protocol between the cache's logic and its two shells.

Every multi-step cache operation is written once, in `runtime/cache/ops.py`, as a generator
that yields *steps* (call Redis, run the loader, wait, run this once per key in the process,
run that in the background) and receives each step's result, or its exception thrown in at
the `yield`. `Cache` performs the steps with plain calls, `AsyncCache` with awaits; neither
decides anything. The queue splits the same way with plain functions (`QueueOps` builds a
script's arguments, parses its reply) because each queue call is one round trip; so does the
cache's `get`. `get_or_load` is a loop of up to five kinds of I/O with waits, retries and
error handling between them, which a generator keeps as one function that reads top-down
instead of a dozen fragments each shell would stitch back together.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

R = TypeVar("R")

Steps = Generator["Step", Any, R]
"""An operation: yields steps, receives their results, returns the operation's result."""


@dataclass(slots=True)
class Get:
    """`GET key` (a Redis key, prefix included). Reply: bytes or None."""

    key: str


@dataclass(slots=True)
class MGet:
    """`MGET keys`. Reply: a list of bytes or None."""

    keys: list[str]


@dataclass(slots=True)
class Exists:
    """One pipelined `EXISTS` per key (one round trip). Reply: a list of 0/1."""

    keys: list[str]


@dataclass(slots=True)
class Script:
    """One of the cache's Lua scripts (runtime/cache/scripts.py), by name. `shielded`: the
    asyncio shell completes it even if the caller is cancelled meanwhile (a lock release)."""

    name: str
    keys: list[str]
    args: list[Any]
    shielded: bool = False


@dataclass(slots=True)
class Load:
    """Call the user's loader with `args` (awaited if it returns an awaitable). Reply: its
    result; its exception is thrown in."""

    args: tuple[Any, ...] = ()


@dataclass(slots=True)
class Sleep:
    seconds: float


@dataclass(slots=True)
class Flight:
    """Run `steps` once per `key` in this process: a concurrent caller with the same key waits
    up to `wait` seconds for the leader's result (or its exception), then runs its own
    `steps`. Reply: the result."""

    key: str
    steps: Steps[Any]
    wait: float


@dataclass(slots=True)
class Background:
    """Run `steps` detached (a thread of the cache's pool, or a task) and answer at once.
    `done` is called when they end, or if they never start."""

    steps: Steps[None]
    done: Callable[[], None]


Step = Get | MGet | Exists | Script | Load | Sleep | Flight | Background

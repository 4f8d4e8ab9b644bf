"""Loads the queue's Lua scripts once per process: each prefixed with the shared prelude, which
declares the queue's 23 keys, except the lean ones that declare their own few keys."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

SCRIPT_NAMES = (
    "add",
    "settle",
    "extend",
    "sweep",
    "release",
    "retry_failed",
    "pause",
    "child_done",
    "schedule_fire",
    "add_ready",
)
STANDALONE = frozenset({"add_ready"})  # no prelude: fewer keys, less for Redis to set up


@cache
def script_source(name: str) -> str:
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    lua = files("runtime") / "lua"
    own = (lua / f"{name}.lua").read_text()
    return own if name in STANDALONE else (lua / "_prelude.lua").read_text() + "\n" + own

"""Loads the queue's Lua scripts (each prefixed with the shared prelude) once per process."""

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
)


@cache
def script_source(name: str) -> str:
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    lua = files("runtime") / "lua"
    return (lua / "_prelude.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()

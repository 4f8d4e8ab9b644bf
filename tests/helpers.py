"""Small test utilities: polling with a deadline (never sleep-as-synchronisation), running a
worker in-process, and starting worker subprocesses."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(binary: str) -> str:
    """The path of a binary a test starts for real. Missing: a failure in CI (CI=true), where
    `make test` must have installed it; a skip elsewhere, saying how to get it."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed (make test installs it with apt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def need_postgres() -> str:
    """initdb's path (Debian keeps it off PATH), with `need`'s fail-in-CI, skip-elsewhere rule."""
    from castiel.postgres_server import pg_binary

    path = pg_binary("initdb")
    if path is None:
        message = "PostgreSQL (initdb) is not installed (make test installs it with apt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def run_workers_until(
    workers: list[Any], done: Callable[[], Awaitable[bool]], timeout: float = 20.0
) -> None:
    """Run several workers in this process (one event loop) until `done()` is true."""

    async def main() -> None:
        tasks = [asyncio.create_task(w.main()) for w in workers]
        try:
            await await_until(done, timeout, message="workers to finish their work")
        finally:
            for w in workers:
                w.request_stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)

    asyncio.run(main())


def run_worker_until(
    worker: Any, done: Callable[[], Awaitable[bool]], timeout: float = 20.0
) -> None:
    """Run `worker.main()` in this process until `done()` is true, then stop it gracefully."""

    async def main() -> None:
        task = asyncio.create_task(worker.main())
        try:
            await await_until(done, timeout, message="worker to finish its work")
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 30)

    asyncio.run(main())


def start_worker_process(
    spec: str, redis_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, "CASTIEL_REDIS_URL": redis_url, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "castiel", "worker", spec, "--redis", redis_url, *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def cpu_seconds(pid: int) -> float:
    """user+system CPU time of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def recipe(heading: str) -> str:
    """The python block under `## heading` in docs/development.md (the recipes' tests run
    them as written)."""
    text = (ROOT / "docs" / "development.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]

"""arq, driven through its own venv (see arq_tasks.py). Enqueue times are measured inside
that process, so interpreter start-up is not counted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

NAME = "arq"
SETTINGS = "max_jobs 100, burst"
SELF_TIMED = True
ARQ_REQUIREMENT = "arq>=0.26,<1"

HERE = Path(__file__).resolve().parent
VENV = HERE.parent.parent / ".venv" / "peers" / "arq"
PYTHON = VENV / "bin" / "python"


def ensure_venv() -> None:
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", ARQ_REQUIREMENT], check=True)


def _run(url: str, *args: str) -> str:
    env = {**os.environ, "BENCH_REDIS_URL": url, "PYTHONPATH": str(HERE)}
    out = subprocess.run(
        [str(PYTHON), str(HERE / "arq_tasks.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return out.stdout.strip()


def enqueue_single(url: str, n: int) -> float:
    return float(_run(url, "single", str(n)))


def enqueue_bulk(url: str, n: int) -> tuple[str, float]:
    return (
        "no bulk API: 500 concurrent enqueue_job() calls at a time",
        float(_run(url, "bulk", str(n))),
    )


def worker_argv(url: str) -> list[str]:
    return [str(VENV / "bin" / "arq"), "arq_tasks.WorkerSettings"]


def worker_env() -> dict[str, str]:
    return {"PYTHONPATH": str(HERE)}


def remaining(url: str) -> int:
    # arq's own key: a job stays in this zset until it finished. Read with this venv's
    # redis-py: starting an arq-venv interpreter per poll would steal CPU from the worker.
    return int(redis.Redis.from_url(url).zcard("arq:queue"))

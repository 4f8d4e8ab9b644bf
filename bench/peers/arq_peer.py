"""arq, driven through its own venv (see arq_tasks.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redis

NAME = "arq"
SETTINGS = "max_jobs 100, burst"
ARQ_REQUIREMENT = "arq>=0.26,<1"

HERE = Path(__file__).resolve().parent
VENV = HERE.parent.parent / ".venv" / "peers" / "arq"
PYTHON = VENV / "bin" / "python"


def ensure_ready() -> str | None:
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", ARQ_REQUIREMENT], check=True)
    return None


def enqueue_argv(mode: str, n: int, producers: int) -> list[str]:
    return [str(PYTHON), str(HERE / "arq_tasks.py"), mode, str(n), str(producers)]


def worker_argv(url: str) -> list[str]:
    return [str(VENV / "bin" / "arq"), "arq_tasks.WorkerSettings"]


def worker_env() -> dict[str, str]:
    return {"PYTHONPATH": str(HERE)}


def remaining(url: str) -> int:
    # arq's own key: a job stays in this zset until it finished. Read with this venv's
    # redis-py: starting an arq-venv interpreter per poll would steal CPU from the worker.
    return int(redis.Redis.from_url(url).zcard("arq:queue"))

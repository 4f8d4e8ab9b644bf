"""BullMQ (Node.js), the queue Castiel's design comes from: bench/peers/bullmq/bench.mjs,
installed with `npm ci` from the committed lockfile on first use. ioredis is a dependency of
its own there: BullMQ 6 declares it only as an optional peer."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import redis

NAME = "bullmq"
SETTINGS = "1 Node process, concurrency 100, removeOnComplete 1000"

HERE = Path(__file__).resolve().parent / "bullmq"


def ensure_ready() -> str | None:
    """None when ready, else why BullMQ is skipped (no Node.js here)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "skipped: `node` and `npm` are not on PATH (install Node.js 20+ to include BullMQ)"
    if not (HERE / "node_modules" / "bullmq").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return None


def enqueue_argv(mode: str, n: int, producers: int) -> list[str]:
    return ["node", str(HERE / "bench.mjs"), mode, str(n), str(producers)]


def worker_argv(url: str) -> list[str]:
    return ["node", str(HERE / "bench.mjs"), "worker"]


def remaining(url: str) -> int:
    conn = redis.Redis.from_url(url)
    with conn.pipeline(transaction=False) as pipe:
        pipe.llen("bull:bench:wait")
        pipe.llen("bull:bench:active")
        pipe.zcard("bull:bench:prioritized")
        pipe.zcard("bull:bench:delayed")
        return sum(int(x) for x in pipe.execute())


def failures(url: str) -> int:
    return int(redis.Redis.from_url(url).zcard("bull:bench:failed"))


def versions() -> dict[str, str]:
    found = {}
    for package in ("bullmq", "ioredis"):
        manifest = HERE / "node_modules" / package / "package.json"
        if manifest.exists():
            found[package] = json.loads(manifest.read_text())["version"]
    if shutil.which("node"):
        found["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return found

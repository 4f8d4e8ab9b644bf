"""hiredis is the runtime's reply parser when installed (the `redis[hiredis]` dependency), and
the runtime still works on redis-py's pure-Python parser when it is not."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import redis.utils

from runtime import Queue, connect
from tests.helpers import ROOT

WITHOUT_HIREDIS = """
import asyncio, json, sys
sys.modules["hiredis"] = None  # an import of hiredis now fails, as if it were not installed
import redis.utils
from runtime import AsyncQueue, Queue, connect

conn = connect(sys.argv[1])
q = Queue(conn.sync, "no-hiredis")
sync_id = q.add("sync", {"text": "Zoë ✓", "big": 2**70})

async def go():
    aconn = connect(sys.argv[1])
    try:
        q = AsyncQueue(aconn.aio, "no-hiredis")
        return await asyncio.gather(*(q.add("a", i) for i in range(3)))
    finally:
        await aconn.aclose()

async_ids = asyncio.run(go())
parser = type(conn.sync.connection_pool.get_connection()._parser).__name__
print(json.dumps({"hiredis": redis.utils.HIREDIS_AVAILABLE, "parser": parser,
                  "data": q.get_job(sync_id).data, "wait": q.counts().wait}))
"""


def test_the_runtime_depends_on_hiredis_and_uses_it(redis_url: str) -> None:
    requires = importlib.metadata.requires("castiel") or []
    assert any(r.startswith("redis[hiredis]") for r in requires), requires
    assert redis.utils.HIREDIS_AVAILABLE
    conn = connect(redis_url)
    connection = conn.sync.connection_pool.get_connection()
    try:
        assert type(connection._parser).__name__ == "_HiredisParser"
    finally:
        conn.sync.connection_pool.release(connection)
    q = Queue(conn.sync, "with-hiredis")
    assert q.get_job(q.add("x", {"big": 2**70})).data == {"big": 2**70}  # type: ignore[union-attr]


def test_the_runtime_works_without_hiredis(redis_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_HIREDIS, redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result == {
        "hiredis": False,
        "parser": "_RESP3Parser",
        "data": {"text": "Zoë ✓", "big": 2**70},
        "wait": 4,
    }

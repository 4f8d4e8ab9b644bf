"""Real Locust processes (local and distributed) against the real example service."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from pathlib import Path

import pytest

from loadtest.launch import LocustOptions, locust_command
from loadtest.stream import LocustStream
from tests.examples.test_service import start_service


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_streamed_stats_add_up_to_locusts_own(
    redis_url: str, tmp_path: Path, processes: int
) -> None:
    service, base = start_service(redis_url, tmp_path / "db.sqlite")
    # Locust's default master port taken (as by a second run on the same CI machine): a
    # distributed run must not depend on it.
    blocker = socket.socket()
    with contextlib.suppress(OSError):  # already taken by someone else serves as well
        blocker.bind(("127.0.0.1", 5557))
        blocker.listen()
    try:
        options = LocustOptions(base, tmp_path, users=8, duration=5, processes=processes)
        argv, env = locust_command(options)
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=90, check=False
        )
    finally:
        blocker.close()
        service.terminate()
        service.wait(10)
    assert result.returncode == 0, result.stderr[-3000:]
    stream = LocustStream(options.stats_file)
    batch = stream.poll()
    own = json.loads(options.locust_json.read_text())
    locust_total = sum(e["num_requests"] for e in own)
    streamed = sum(s.point.value for s in batch.scalars if s.key.name == "locust_requests_total")
    assert locust_total > 50 and streamed == locust_total == stream.total_requests
    assert stream.phases.spawning_complete is not None and stream.phases.finished is not None
    names = {s.key.label("name") for s in batch.histograms}
    assert {"/shards/{shard_type}", "/users/{user_id}/permissions"} <= names

"""`castiel worker` puts the job id and the correlation id on every log line by default."""

from __future__ import annotations

import re

import pytest

from runtime import Queue, connect, correlation_scope
from tests.helpers import start_worker_process, wait_until
from tests.runtime.test_worker_faults import _stop


@pytest.mark.parametrize("processes", ["1", "2"])
def test_worker_log_lines_carry_job_and_correlation_ids(redis_url: str, processes: str) -> None:
    q = Queue(connect(redis_url).sync, "work")
    with correlation_scope("req-42"):
        q.add("greet", job_id="job-7")
    proc = start_worker_process(
        "tests.runtime.workers:LoggingWorker", redis_url, "--processes", processes
    )
    try:
        wait_until(lambda: q.counts().completed == 1, 30, message="the job to run")
    finally:
        out = _stop(proc, timeout=60)  # a supervisor stops its children one by one
    line = next(x for x in out.splitlines() if "handling greet" in x)
    assert re.search(r"\bjob-7\b", line) and re.search(r"\breq-42\b", line), line

"""What becomes of the jobs a worker ran: the record of a failed attempt (and whether and when
it is retried), and the counting of what settle.lua reports back into the worker's metrics."""

from __future__ import annotations

import logging
import time
import traceback

from runtime.errors import PayloadError, UnrecoverableError
from runtime.job import dumps
from runtime.metrics import RuntimeMetrics
from runtime.queue import Fetched

log = logging.getLogger("castiel.worker")

# What settle.lua reports instead of a processing time for a job it could not complete.
LEASE_LOST, RECORD_CORRUPT = -1, -2


def failure_record(fetched: Fetched, exc: Exception, worker_id: str) -> tuple[str, str, str, int]:
    """The failure to send settle.lua for a job whose attempt raised `exc`: (job id, lease
    token, error record, retry delay in ms; -1 = fail for good)."""
    job = fetched.job
    unrecoverable = isinstance(exc, UnrecoverableError | PayloadError)
    if unrecoverable or job.attempts_made >= job.max_attempts:
        delay_ms = -1
    else:
        delay_ms = int(job.backoff.delay(job.attempts_made) * 1000)
    if not unrecoverable and delay_ms >= 0:
        log.warning(
            "job %s (%s) attempt %d/%d failed: %r; retrying in %.2fs",
            job.id,
            job.name,
            job.attempts_made,
            job.max_attempts,
            exc,
            delay_ms / 1000,
        )
    else:
        log.error(
            "job %s (%s) failed after attempt %d/%d: %r",
            job.id,
            job.name,
            job.attempts_made,
            job.max_attempts,
            exc,
        )
    error = {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "attempt": job.attempts_made,
        "worker": worker_id,
        "at": time.time(),
    }
    return job.id, fetched.token, dumps(error, "error record"), delay_ms


class OutcomeMetrics:
    """The queue's job-outcome metrics, bound to its label once (no label lookup per job)."""

    def __init__(self, metrics: RuntimeMetrics, queue: str) -> None:
        self.completed = metrics.jobs.labels(queue, "completed")
        self.failed = metrics.jobs.labels(queue, "failed")
        self.retried = metrics.jobs.labels(queue, "retried")
        self.lost = metrics.jobs.labels(queue, "lease_lost")
        self.retries = metrics.retries.labels(queue)
        self.processing = metrics.processing.labels(queue)

    def record(self, done_ms: list[int], failed_out: list[tuple[str, int]]) -> tuple[int, int]:
        """Counts what one settle call reported: the processing time of each completed job
        (or LEASE_LOST / RECORD_CORRUPT) and each failure's outcome and time. Returns how
        many jobs completed and how many failed for good."""
        lost = corrupt = failed = 0
        for ms in done_ms:
            if ms == LEASE_LOST:
                lost += 1
            elif ms == RECORD_CORRUPT:
                corrupt += 1
            else:
                self.processing.observe(ms / 1000)
        ok = len(done_ms) - lost - corrupt
        if ok:
            self.completed.inc(ok)
        for outcome, ms in failed_out:
            if outcome == "lost":
                lost += 1
                continue
            if outcome == "corrupt":
                corrupt += 1
                continue
            self.processing.observe(ms / 1000)
            if outcome == "retry":
                self.retried.inc()
                self.retries.inc()
            else:
                failed += 1
                self.failed.inc()
        if corrupt:
            failed += corrupt
            self.failed.inc(corrupt)
            log.error("%d finished job(s) had a corrupt record by then; failed them", corrupt)
        if lost:
            self.lost.inc(lost)
            log.warning(
                "%d job(s) finished after their lease was reclaimed; the results "
                "were discarded (another worker runs them again)",
                lost,
            )
        return ok, failed

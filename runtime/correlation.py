"""Correlation ids travel in contextvars: from an HTTP request into the jobs it enqueues, into
their processing, and onto every log record."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("castiel_correlation_id", default=None)
current_job_id: ContextVar[str | None] = ContextVar("castiel_job_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return correlation_id.get()


@contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    """Run a block under a correlation id (a new one when none is given)."""
    cid = value or new_correlation_id()
    token = correlation_id.set(cid)
    try:
        yield cid
    finally:
        correlation_id.reset(token)


class CorrelationFilter(logging.Filter):
    """Puts `correlation_id` and `job_id` on every record ("-" when there is none), so a format
    string like `%(correlation_id)s` always works."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        record.job_id = current_job_id.get() or "-"
        return True


def log_job_context(prefix: str = "") -> None:
    """Make every line logged through the root logger's handlers show the job id and the
    correlation id ("-" outside a job): each handler gets `CorrelationFilter` (a filter on
    the handler, so records propagated from any logger carry the ids) and a format that
    prints them. `castiel worker` calls it; call it after your own logging setup."""
    formatter = logging.Formatter(
        f"%(asctime)s %(levelname)s {prefix}%(name)s "
        "[job=%(job_id)s corr=%(correlation_id)s]: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, CorrelationFilter) for f in handler.filters):
            handler.addFilter(CorrelationFilter())
        handler.setFormatter(formatter)

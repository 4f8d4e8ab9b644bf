"""Checks before any load is sent: a run against a target that does not answer, or without the
Redis it should observe, is a broken run (exit 3), not a failed budget."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime.connection import connect
from runtime.errors import BadInput, RunBroken
from runtime.redis_outage import REDIS_UNAVAILABLE

__all__ = ["Reachability", "RunBroken", "check_redis", "check_target", "preflight"]


@dataclass(frozen=True)
class Reachability:
    target: str
    redis_url: str | None = None
    timeout: float = 5.0


def check_target(url: str, timeout: float = 5.0) -> None:
    """Any HTTP answer (even 404 or 500) means the target is up; no answer means it is not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput(f"--target {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000)")
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - scheme checked above
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RunBroken(f"target {url} is unreachable: {reason}") from None


def check_redis(url: str, timeout: float = 5.0) -> None:
    conn = connect(url, retries=0, socket_timeout=timeout, connect_timeout=timeout)
    try:
        conn.sync.ping()
    except REDIS_UNAVAILABLE as exc:
        raise RunBroken(
            f"Redis at {conn.settings.url.rpartition('@')[2]} is unreachable: {exc}"
        ) from None
    finally:
        conn.close()


def preflight(r: Reachability) -> None:
    check_target(r.target, r.timeout)
    if r.redis_url:
        check_redis(r.redis_url, r.timeout)

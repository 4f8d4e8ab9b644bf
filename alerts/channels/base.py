"""What every channel shares: the injected HTTP client, the send context (environment, revealed
secrets), results with a classified reason, and Retry-After parsing.

`HttpxClient` sends through httpx's transport directly rather than `httpx.Client`: the client
logs every request URL at INFO level, and a webhook URL is a secret."""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx

from alerts.secrets import MissingSecret, Secret, redact


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    """A transient failure: 429, 5xx, connection refused, timeout."""
    FAILED = "failed"
    """Permanent: other 4xx, bad config, a missing secret. Not retried."""


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reason: str
    """Classified and redacted: `http 503`, `http 400: invalid_payload`, `connect error`..."""
    status_code: int | None = None
    retry_after: float | None = None
    done: int = 0
    """Channels that send one request per alert (PagerDuty, Opsgenie): how many leading alerts
    of the notification were accepted before this failure. A retry sends only the rest, so a
    storm that hits a rate limit makes progress instead of starting over every time."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpClient(Protocol):
    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse: ...


class HttpxClient:
    def __init__(self, verify: bool = True) -> None:
        self._transport = httpx.HTTPTransport(verify=verify, retries=0)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        request = httpx.Request("POST", url, content=body, headers=dict(headers))
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        response = self._transport.handle_request(request)
        try:
            data = response.read()
        finally:
            response.close()
        return HttpResponse(response.status_code, dict(response.headers), data)

    def close(self) -> None:
        self._transport.close()


@dataclass
class SendContext:
    http: HttpClient
    env: Mapping[str, str]
    now: float
    timeout: float = 10.0
    revealed: list[str] = field(default_factory=list)

    def reveal(self, secret: Secret) -> str:
        value = secret.reveal(self.env)
        self.revealed.append(value)
        return value

    def redact(self, text: str) -> str:
        return redact(text, self.revealed)

    def also_secret(self, value: str) -> None:
        """A derived form of a revealed secret that may be echoed (e.g. SMTP AUTH's base64)."""
        self.revealed.append(value)


USER_AGENT = "castiel-alerts/1"


def post_json(
    ctx: SendContext, url: str, payload: Any, headers: Mapping[str, str] | None = None
) -> SendResult:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return post_bytes(ctx, url, body, {"Content-Type": "application/json", **(headers or {})})


def post_bytes(ctx: SendContext, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
    try:
        response = ctx.http.post(url, body, {"User-Agent": USER_AGENT, **headers}, ctx.timeout)
    except httpx.TimeoutException:
        return SendResult(Outcome.RETRY, "timeout")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return SendResult(Outcome.FAILED, "config: invalid URL")
    except httpx.ConnectError as exc:
        return SendResult(Outcome.RETRY, ctx.redact(f"connect error: {exc}"))
    except httpx.TransportError as exc:
        return SendResult(Outcome.RETRY, ctx.redact(f"transport error: {type(exc).__name__}"))
    return classify_http(ctx, response)


def classify_http(ctx: SendContext, r: HttpResponse) -> SendResult:
    if 200 <= r.status < 300:
        return SendResult(Outcome.DELIVERED, f"http {r.status}", r.status)
    detail = excerpt(r.body, ctx.redact)
    reason = f"http {r.status}" + (f": {detail}" if detail else "")
    if r.status == 429 or r.status >= 500:
        retry_after = parse_retry_after(_header(r.headers, "retry-after"), ctx.now)
        return SendResult(Outcome.RETRY, reason, r.status, retry_after)
    return SendResult(Outcome.FAILED, reason, r.status)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


MAX_BODY = 65536
"""Bytes of an error body looked at; the excerpt shown is far shorter."""


def excerpt(body: bytes | str, redact: Callable[[str], str], limit: int = 160) -> str:
    """A short, printable excerpt of an error body (services explain 4xx there). Secrets are
    redacted before anything is cut (a cut through a secret would hide it from redaction),
    and again after a JSON field is picked out (its escapes are undone by then)."""
    raw = body[:MAX_BODY] if isinstance(body, bytes) else body[:MAX_BODY].encode()
    text = redact(raw.decode("utf-8", "replace").strip())
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for k in ("message", "error", "status", "errors"):
            if k in data:
                text = json.dumps(data[k]) if not isinstance(data[k], str) else data[k]
                break
    text = redact(" ".join(text.split()))
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:limit]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    v = value.strip()
    try:
        seconds = float(v)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(v)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def missing_secret(exc: MissingSecret) -> SendResult:
    return SendResult(Outcome.FAILED, f"config: {exc}")

"""HTTP response caching as pure ASGI middleware (no framework import), backed by AsyncCache.

    app = CacheMiddleware(app, AsyncCache("http", conn.aio), ttl=30, vary=("accept",))

* Only GET responses are stored (HEAD is answered from a stored GET). The key is built from
  the path, the query (parameters sorted, so their order does not matter) and the values of
  the request headers named in `vary`.
* Every answer carries an ETag (the app's, or a hash of the body); a request whose
  If-None-Match matches gets `304 Not Modified` without a body.
* Request `Cache-Control: no-store` bypasses the cache; `no-cache` (or `Pragma: no-cache`)
  skips the lookup and stores the fresh answer. Requests with an Authorization header are not
  cached unless `authorization` is in `vary` (one user's answer must not reach another).
* A response is stored only if its status is cacheable (200 by default), it sets no cookie,
  its Cache-Control has no `no-store`/`private`/`max-age=0`, and its body fits `max_body`.
  `s-maxage`/`max-age` shorten the TTL.
* Entries are tagged `path:<path>` plus whatever `tags(scope)` returns, so
  `cache.invalidate_tags(["path:/shards"])` drops every variant of a route.
* If the cache is unavailable, requests go straight to the app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from runtime.cache.aio import AsyncCache
from runtime.cache.errors import CacheUnavailableError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("castiel.cache")

# Not replayed from the cache: per-connection, recomputed, or never shareable.
_UNSTORED_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"date",
        b"server",
        b"set-cookie",
        b"x-cache",
        b"upgrade",
        b"proxy-authenticate",
        b"trailer",
    }
)
# What a 304 repeats from the full answer (RFC 9110 15.4.5).
_NOT_MODIFIED_HEADERS = frozenset(
    {b"cache-control", b"content-location", b"etag", b"expires", b"vary"}
)


def cache_control(value: str) -> dict[str, str | None]:
    """Parse a Cache-Control header into {directive: argument or None} (lower-cased)."""
    out: dict[str, str | None] = {}
    for part in value.split(","):
        name, sep, arg = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = arg.strip().strip('"') if sep else None
    return out


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires."""
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(c.strip().removeprefix("W/") == bare for c in if_none_match.split(","))


def request_key(path: str, query: bytes, varied: Iterable[tuple[str, str]]) -> str:
    params = sorted(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    material = json.dumps([path, params, sorted(varied)], separators=(",", ":"))
    return "http:" + hashlib.sha256(material.encode()).hexdigest()


def storable_ttl(cc: dict[str, str | None], ttl: float | None) -> tuple[bool, float | None]:
    """(store it?, TTL to store with; None = the cache's default) from response directives."""
    if "no-store" in cc or "private" in cc or "no-cache" in cc:
        return False, None
    for directive in ("s-maxage", "max-age"):
        raw = cc.get(directive)
        if raw is not None and raw.isdigit():
            seconds = float(raw)
            if seconds <= 0:
                return False, None
            return True, min(seconds, ttl) if ttl is not None else seconds
    return True, ttl


@dataclass
class _Captured:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    size: int = 0
    passthrough: bool = False  # too big or not storable: forwarded as it came
    complete: bool = False


class CacheMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        cache: AsyncCache,
        *,
        ttl: float | None = None,
        vary: Iterable[str] = ("accept",),
        tags: Callable[[Scope], Iterable[str]] | None = None,
        statuses: Iterable[int] = (200,),
        max_body: int = 1_000_000,
    ) -> None:
        self.app = app
        self.cache = cache
        self.ttl = ttl
        self.vary = tuple(sorted(h.lower() for h in vary))
        self.vary_header = ", ".join(self.vary).encode()
        self.tags = tags
        self.statuses = frozenset(statuses)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        cc = cache_control(headers.get(b"cache-control", ""))
        no_cache = "no-cache" in cc or "no-cache" in headers.get(b"pragma", "").lower()
        if "no-store" in cc or (b"authorization" in headers and "authorization" not in self.vary):
            await self.app(scope, receive, send)
            return
        varied = [(h, headers.get(h.encode(), "")) for h in self.vary]
        key = request_key(scope["path"], scope.get("query_string", b""), varied)
        if_none_match = headers.get(b"if-none-match")
        head = scope["method"] == "HEAD"
        if not no_cache:
            try:
                entry = await self.cache.get(key)
            except CacheUnavailableError:
                await self.app(scope, receive, send)
                return
            if isinstance(entry, dict):
                await self._replay(entry, send, if_none_match, head, b"hit")
                return
        if head:
            await self.app(scope, receive, send)
            return
        captured = _Captured()
        await self.app(scope, receive, self._capturing(captured, send))
        if captured.passthrough or not captured.complete:
            return
        body = b"".join(captured.body)
        stored = [(k, v) for k, v in captured.headers if k.lower() not in _UNSTORED_HEADERS]
        etag = next((v.decode("latin-1") for k, v in stored if k.lower() == b"etag"), None)
        if etag is None:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            stored.append((b"etag", etag.encode()))
        if self.vary and not any(k.lower() == b"vary" for k, _ in stored):
            stored.append((b"vary", self.vary_header))
        entry = {
            "s": captured.status,
            "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in stored],
            "b": base64.b64encode(body).decode(),
            "e": etag,
        }
        response_cc = cache_control(
            ",".join(v.decode("latin-1") for k, v in stored if k.lower() == b"cache-control")
        )
        store, ttl = storable_ttl(response_cc, self.ttl)
        if store:
            tags = [f"path:{scope['path']}", *(self.tags(scope) if self.tags else ())]
            try:
                await self.cache.set(key, entry, ttl=ttl, tags=tags)
            except CacheUnavailableError as exc:
                log.debug("response not cached: %s", exc)
        await self._replay(entry, send, if_none_match, False, b"miss")

    def _capturing(self, captured: _Captured, send: Send) -> Send:
        async def capture(message: Message) -> None:
            if captured.passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                captured.status = message["status"]
                captured.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
                names = {k.lower() for k, _ in captured.headers}
                if captured.status not in self.statuses or b"set-cookie" in names:
                    captured.passthrough = True
                    await send(message)
                return
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                captured.body.append(chunk)
                captured.size += len(chunk)
                if captured.size > self.max_body:
                    captured.passthrough = True
                    await send(
                        {
                            "type": "http.response.start",
                            "status": captured.status,
                            "headers": captured.headers,
                        }
                    )
                    await send(
                        {
                            "type": "http.response.body",
                            "body": b"".join(captured.body),
                            "more_body": message.get("more_body", False),
                        }
                    )
                    return
                if not message.get("more_body", False):
                    captured.complete = True
                return
            await send(message)

        return capture

    async def _replay(
        self,
        entry: dict[str, Any],
        send: Send,
        if_none_match: str | None,
        head: bool,
        source: bytes,
    ) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["h"]]
        if if_none_match is not None and etag_matches(if_none_match, entry["e"]):
            kept = [(k, v) for k, v in headers if k.lower() in _NOT_MODIFIED_HEADERS]
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [*kept, (b"x-cache", source)],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        body = base64.b64decode(entry["b"])
        headers += [(b"content-length", str(len(body)).encode()), (b"x-cache", source)]
        await send({"type": "http.response.start", "status": entry["s"], "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

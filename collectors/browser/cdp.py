"""The Chrome DevTools Protocol over one browser-level websocket (the `websockets` sync
client), with flat sessions: commands for a page carry its `sessionId`, and so do its events.

One thread uses a connection at a time. Events that arrive while waiting for a command's
answer are buffered, in order, for `next_event`."""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from contextlib import ExitStack
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from collectors.browser.errors import BrowserError

Message = dict[str, Any]


class ProtocolError(BrowserError):
    """The browser answered a command with an error."""


class CommandTimeout(BrowserError):
    """A command got no answer in time (the page or the browser is stuck)."""


class CDPConnection:
    def __init__(self, ws: ClientConnection, stack: ExitStack | None = None) -> None:
        self._ws = ws
        self._stack = stack or ExitStack()
        self._ids = itertools.count(1)
        self._events: deque[Message] = deque()

    @classmethod
    def open(cls, ws_url: str, timeout: float = 10.0) -> CDPConnection:
        stack = ExitStack()
        try:
            ws = stack.enter_context(
                connect(ws_url, max_size=None, open_timeout=timeout, ping_interval=None)
            )
            return cls(ws, stack)
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise BrowserError(f"cannot connect to Chromium's DevTools: {exc}") from None

    def call(
        self,
        method: str,
        params: Message | None = None,
        session: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> Message:
        """Send a command and wait for its result; events meanwhile are kept for later."""
        msg_id = next(self._ids)
        msg: Message = {"id": msg_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        self._send(msg)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._recv(deadline)
            if reply is None:
                raise CommandTimeout(f"{method}: no answer from Chromium within {timeout:g}s")
            if "method" in reply:
                self._events.append(reply)
            elif reply.get("id") == msg_id:
                if "error" in reply:
                    error = reply["error"]
                    text = error.get("message", error) if isinstance(error, dict) else error
                    raise ProtocolError(f"{method}: {text}")
                result: Message = reply.get("result", {})
                return result
            # else: the late answer to a command that timed out earlier; nobody waits for it

    def next_event(self, deadline: float) -> Message | None:
        """The next event (buffered first), or None once `deadline` (monotonic) passes."""
        if self._events:
            return self._events.popleft()
        while True:
            msg = self._recv(deadline)
            if msg is None or "method" in msg:
                return msg

    def drain(self) -> None:
        """Forget buffered events (between page loads)."""
        self._events.clear()

    def close(self) -> None:
        self._stack.close()

    def _send(self, msg: Message) -> None:
        try:
            self._ws.send(json.dumps(msg))
        except (OSError, WebSocketException) as exc:
            raise BrowserError(f"lost the connection to Chromium: {exc}") from None

    def _recv(self, deadline: float) -> Message | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            raw = self._ws.recv(timeout=remaining)
        except TimeoutError:
            return None
        except (OSError, WebSocketException) as exc:
            raise BrowserError(f"lost the connection to Chromium: {exc}") from None
        msg = json.loads(raw)
        if not isinstance(msg, dict):
            raise BrowserError(f"Chromium sent a non-object message: {str(raw)[:80]!r}")
        return msg

"""What goes wrong with a browser measurement. Both are `RunBroken` (exit 3: the target or
the browser, not the input, is the problem) and `CollectorError` (during a `castiel run`
the monitor loop records the failure and carries on)."""

from __future__ import annotations

from collectors.base import CollectorError
from runtime.errors import RunBroken


class BrowserError(CollectorError, RunBroken):
    """Chromium is missing, did not start, crashed, or stopped answering the protocol."""


class PageLoadError(BrowserError):
    """One page did not load: unreachable, an HTTP error for the document, or a timeout."""

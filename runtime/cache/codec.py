"""Value codecs. JSON by default; pluggable; never pickle (a shared cache must not be a way to
run code in every process that reads it)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from runtime.errors import PayloadError


class Codec(Protocol):
    """Turns a cached value into bytes and back. `decode(encode(v))` must equal `v`."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class JsonCodec:
    """Strict JSON (no NaN/Infinity); the error names the cache and key."""

    def encode(self, value: Any) -> bytes:
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"cache value is not JSON-serialisable: {exc}") from None

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

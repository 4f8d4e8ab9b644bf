"""`castiel demo`: the runtime demo (filled in below)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the embedded demo")
    p.set_defaults(handler=lambda _args: 0)

"""Where compression starts to pay: Starlette's GZipMiddleware on JSON answers of growing
size, measured through the real middleware (an ASGI call, no network), so the figure is the
CPU a request spends on compression against the bytes it saves.

    .venv/bin/python bench/gzip_threshold.py [--repeat 2000] [--level 9]

For each body size: the time per request with and without the middleware (median of
interleaved rounds), the compressed size, and how many bytes and TCP packets (1448-byte
segments) it saves; "below" is the middleware's cost when the body is under its threshold
(it still wraps the answer to find out). Compression is worth its CPU only when it saves at
least one packet: below that the answer goes out in the same number of round trips anyway."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rich.console import Console
from rich.table import Table
from starlette.middleware.gzip import GZipMiddleware

Scope = MutableMapping[str, Any]
SEGMENT = 1448  # TCP payload per packet with timestamps on a 1500-byte MTU
SIZES = (64, 256, 512, 1024, 1448, 2048, 4096, 16384, 65536)


def body_of(size: int) -> bytes:
    """A JSON list of catalogue-like records, cut to about `size` bytes."""
    rows = [{"name": f"type-{i}", "replicas": 1 + i % 5, "tier": "hot"} for i in range(4000)]
    text = json.dumps(rows, separators=(",", ":"))
    return text[: max(2, size - 1)].rsplit("}", 1)[0].encode() + b"}]" if size > 40 else b"{}"


def app_for(body: bytes) -> Callable[[Scope, Any, Any], Awaitable[None]]:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def call(app: Any) -> int:
    out = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        nonlocal out
        if message["type"] == "http.response.body":
            out += len(message.get("body", b""))

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"accept-encoding", b"gzip")],
    }
    await app(scope, receive, send)
    return out


async def timed(app: Any, repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        await call(app)
    return (time.process_time() - start) / repeat


async def measure(size: int, repeat: int, level: int, rounds: int) -> dict[str, float]:
    body = body_of(size)
    plain = app_for(body)
    zipped = GZipMiddleware(plain, minimum_size=0, compresslevel=level)
    passing = GZipMiddleware(plain, minimum_size=1 << 30, compresslevel=level)
    bare, gz, through = [], [], []
    for _ in range(rounds):
        bare.append(await timed(plain, repeat))
        gz.append(await timed(zipped, repeat))
        through.append(await timed(passing, repeat))
    out = await call(zipped)
    return {
        "size": len(body),
        "gzip": out,
        "extra_us": (statistics.median(gz) - statistics.median(bare)) * 1e6,
        "through_us": (statistics.median(through) - statistics.median(bare)) * 1e6,
        "packets_saved": math.ceil(len(body) / SEGMENT) - math.ceil(out / SEGMENT),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--level", type=int, default=9)
    args = parser.parse_args()
    table = Table(title=f"GZipMiddleware level {args.level}, CPU time per request")
    columns = ("body bytes", "gzip bytes", "saved", "packets saved", "compressing µs", "below µs")
    for col in columns:
        table.add_column(col, justify="right")
    for size in SIZES:
        m = asyncio.run(measure(size, args.repeat, args.level, args.rounds))
        table.add_row(
            f"{m['size']:.0f}",
            f"{m['gzip']:.0f}",
            f"{1 - m['gzip'] / m['size']:.0%}",
            f"{m['packets_saved']:.0f}",
            f"{m['extra_us']:.1f}",
            f"{m['through_us']:.1f}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

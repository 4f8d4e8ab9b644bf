"""`castiel demo`: run the embedded demo (its own redis-server and workers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from castiel.demo import DemoOptions, run_demo
from castiel.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demo on an embedded redis-server",
        description="Start a redis-server of its own (free port, data under .castiel/demo), "
        "two worker processes of the example service, and a producer; show throughput and "
        "queue counts live; clean up every process on exit or Ctrl-C.",
    )
    p.add_argument("--duration", type=float, default=20.0, help="seconds of traffic (20)")
    p.add_argument("--rate", type=int, default=400, help="jobs enqueued per second (400)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    p.add_argument("--data-dir", type=Path, default=Path(".castiel/demo"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.rate < 4 or args.workers < 1:
        raise UsageError("--duration must be > 0, --rate >= 4 and --workers >= 1")
    return run_demo(DemoOptions(args.duration, args.rate, args.workers, args.data_dir))

"""`castiel demo`: run the embedded demo (its own redis-server and workers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from castiel.demo import DemoOptions, run_demo
from castiel.errors import UsageError
from castiel.platform_demo import PlatformDemoOptions, run_platform_demo


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole platform on this machine (embedded redis-server)",
        description="Start a redis-server of its own (free port, data under .castiel/demo), "
        "the example service, two worker processes, the dashboard, and a load test of the "
        "normal scenario with examples/budgets.yaml; print the URLs, the live view and the "
        "verdict; clean up every process on exit or Ctrl-C. Exits with the run's code: 0 "
        "pass, 1 a budget failed, 3 broken, 4 inconclusive. --runtime runs only the "
        "job-queue demo (a producer and two workers, live throughput).",
    )
    p.add_argument(
        "--runtime",
        action="store_true",
        help="only the job-queue demo: a producer and two workers, live throughput",
    )
    p.add_argument(
        "--duration", type=float, default=None, help="seconds of load (75; 20 with --runtime)"
    )
    p.add_argument("--users", type=int, default=20, help="Locust users (20)")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    p.add_argument(
        "--rate", type=int, default=400, help="--runtime: jobs enqueued per second (400)"
    )
    p.add_argument("--workers", type=int, default=2, help="--runtime: worker processes (2)")
    p.add_argument("--data-dir", type=Path, default=Path(".castiel/demo"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    duration = args.duration if args.duration is not None else (20.0 if args.runtime else 75.0)
    if duration <= 0 or args.rate < 4 or args.workers < 1 or args.users < 1:
        raise UsageError("--duration must be > 0, --rate >= 4, --workers and --users >= 1")
    if args.runtime:
        return run_demo(DemoOptions(duration, args.rate, args.workers, args.data_dir))
    return run_platform_demo(
        PlatformDemoOptions(duration, args.users, args.data_dir, not args.no_dashboard)
    )

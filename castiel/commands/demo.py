"""`castiel demo`: run the embedded demo (its own redis-server and workers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from castiel import argtypes
from castiel.demo import DemoOptions, run_demo
from castiel.platform_demo import PlatformDemoOptions, run_platform_demo


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole platform on this machine (embedded redis-server)",
        description="Start a redis-server of its own (free port, data under .castiel/demo), "
        "the example service, two worker processes, the dashboard, and a load test of the "
        "normal scenario with examples/budgets.yaml; print the URLs, the live view and the "
        "verdict; clean up every process on exit. Exits with the run's code: 0 pass, 1 a "
        "budget failed, 3 broken, 4 inconclusive. SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop "
        "the load test first (its run is recorded `aborted`, with reports), then every process "
        "the demo started; the exit code is then 128 + the signal number (143, 130, 129). "
        "Killed outright, the demo takes its processes with it. --runtime runs only the "
        "job-queue demo (a producer and two workers, live throughput).",
    )
    p.add_argument(
        "--runtime",
        action="store_true",
        help="only the job-queue demo: a producer and two workers, live throughput",
    )
    p.add_argument(
        "--duration",
        type=argtypes.duration(maximum=86400.0),
        default=None,
        help="how long the load runs, e.g. 90s, 2m (75s; 20s with --runtime; at most 1d)",
    )
    p.add_argument("--users", type=argtypes.count(1), default=20, help="Locust users (20)")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    p.add_argument(
        "--rate",
        type=argtypes.count(4),
        default=400,
        help="--runtime: jobs enqueued per second, >= 4 (400)",
    )
    p.add_argument(
        "--workers", type=argtypes.count(1, 64), default=2, help="--runtime: worker processes (2)"
    )
    p.add_argument("--data-dir", type=argtypes.directory, default=Path(".castiel/demo"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    duration = args.duration if args.duration is not None else (20.0 if args.runtime else 75.0)
    if args.runtime:
        return run_demo(DemoOptions(duration, args.rate, args.workers, args.data_dir))
    return run_platform_demo(
        PlatformDemoOptions(duration, args.users, args.data_dir, not args.no_dashboard)
    )

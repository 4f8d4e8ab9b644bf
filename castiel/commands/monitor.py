"""`castiel monitor`: the same monitor loop as `castiel run`, without a load generator:
windowed budgets over the runtime's metrics (Redis) and /metrics endpoints, continuously."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from budgets.spec import BudgetSpecError, load_budget_file
from castiel.commands.run import collectors_for
from castiel.errors import EXIT_BROKEN, EXIT_PASS, UsageError
from collectors.store import DEFAULT_PATH, Store
from loadtest.live import live_stats, plain_line
from loadtest.monitor import Monitor
from loadtest.orchestrator import fingerprint, git_info
from loadtest.preflight import RunBroken, check_redis


def register(sub: Any) -> None:
    p = sub.add_parser(
        "monitor",
        help="watch budgets continuously (no load test)",
        description="Collect the runtime's metrics from Redis and /metrics endpoints every "
        "INTERVAL seconds into the store (as a run named 'monitor'), and evaluate the budgets "
        "live. Windowed budgets (scope: window or for) suit continuous use. Stops on "
        "SIGTERM/SIGINT, closing the run.",
    )
    p.add_argument("--budgets", required=True, type=Path, metavar="FILE")
    p.add_argument("--redis", metavar="URL", help="Redis of the runtime")
    p.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="URL",
        help="a /metrics endpoint to scrape (repeatable)",
    )
    p.add_argument("--store", type=Path, default=DEFAULT_PATH)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (1)")
    p.add_argument(
        "--for",
        dest="duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: until stopped)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.redis and not args.metrics:
        raise UsageError("give --redis URL and/or --metrics URL: there is nothing to watch")
    if args.interval <= 0:
        raise UsageError("--interval must be > 0")
    try:
        spec = load_budget_file(args.budgets)
    except BudgetSpecError as exc:
        raise UsageError(str(exc)) from None
    if args.redis:
        try:
            check_redis(args.redis)
        except RunBroken as exc:
            print(f"castiel: {exc}")
            return EXIT_BROKEN
    stop = {"now": False}

    def request_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    commit, branch = git_info()
    console = Console()
    with Store.open(args.store) as store:
        info = store.create_run(
            started_at=time.time(),
            scenario="monitor",
            git_commit=commit,
            git_branch=branch,
            environment=fingerprint(),
        )
        monitor = Monitor(store, info, spec.budgets, collectors_for(args.redis, args.metrics))
        print(f"monitoring as run {info.id} (store {args.store}); Ctrl-C to stop", flush=True)
        next_line = 0.0
        try:
            while not stop["now"]:
                result = monitor.tick(time.time())
                elapsed = result.now - info.started_at
                if elapsed >= next_line:
                    stats = live_stats(monitor.series.snapshot(), result.now)
                    line = plain_line(elapsed, stats, result.verdicts)
                    errors = "; ".join(f"{k}: {v}" for k, v in result.errors.items())
                    print(line + (f" (unreachable: {errors})" if errors else ""), flush=True)
                    next_line = elapsed + 10
                if args.duration is not None and elapsed >= args.duration:
                    break
                time.sleep(max(0.0, args.interval - (time.time() - result.now)))
        finally:
            store.finish_run(info.id, time.time(), "finished")
        if monitor.last_verdicts:
            console.print(f"last verdicts: {len(monitor.last_verdicts)} budget(s) evaluated")
    return EXIT_PASS

"""`castiel worker MODULE:Class`: run worker processes."""

from __future__ import annotations

import argparse
from typing import Any

from castiel.errors import UsageError
from runtime.autoscale import ScalingPolicy
from runtime.correlation import log_job_context
from runtime.supervisor import Supervisor, load_worker_class


def register(sub: Any) -> None:
    p = sub.add_parser(
        "worker",
        help="run a worker class (subclass of runtime.BaseWorker)",
        description="Run worker processes for a BaseWorker subclass. Settings not given here "
        "come from CASTIEL_<SETTING> environment variables, then the class's attributes. "
        "SIGTERM/SIGINT stop fetching, give in-flight jobs --grace seconds, then hand the rest "
        "back to the queue; a second signal skips the grace period.",
        epilog="example: castiel worker examples.jobs:DemoWorker --concurrency 20 --processes 2",
    )
    p.add_argument("worker", metavar="MODULE:Class", help="e.g. myapp.workers:EmailWorker")
    p.add_argument("--redis", metavar="URL", help="Redis URL (default $CASTIEL_REDIS_URL)")
    p.add_argument("--queue", help="queue name (default: the class's `queue`)")
    p.add_argument("--concurrency", type=int, help="jobs processed at once per process")
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="worker processes to run and keep alive (default 1)",
    )
    p.add_argument("--grace", type=float, help="seconds in-flight jobs get on shutdown")
    p.add_argument("--lease", type=float, help="job lease in seconds (renewed while running)")
    p.add_argument(
        "--autoscale",
        metavar="MIN:MAX",
        help="run between MIN and MAX processes, scaled by the queue's backlog and measured "
        "throughput (HPA formula, stabilised); replaces --processes",
    )
    p.add_argument(
        "--target-drain",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="--autoscale: drain the backlog within this long (30)",
    )
    p.add_argument(
        "--scale-down-window",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="--autoscale: scale down only to the highest recommendation of this window (300)",
    )
    p.add_argument(
        "--metrics-port", type=int, help="serve /metrics on 127.0.0.1:PORT (process i uses PORT+i)"
    )
    p.set_defaults(handler=run)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "redis_url": args.redis,
        "queue": args.queue,
        "concurrency": args.concurrency,
        "grace": args.grace,
        "lease": args.lease,
        "metrics_port": args.metrics_port,
    }
    return {k: v for k, v in given.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    log_job_context()  # job and correlation ids on every log line
    if args.processes < 1:
        raise UsageError(f"--processes must be >= 1, got {args.processes}")
    settings = _settings(args)
    if args.autoscale:
        if args.processes != 1:
            raise UsageError("--autoscale replaces --processes: give one of them")
        policy = ScalingPolicy.parse(
            args.autoscale,
            target_drain_seconds=args.target_drain,
            scale_down_window=args.scale_down_window,
        )
        return Supervisor(args.worker, settings, autoscale=policy).run()
    if args.processes == 1:
        cls = load_worker_class(args.worker)
        cls(**settings).run()
        return 0
    return Supervisor(args.worker, settings, args.processes).run()

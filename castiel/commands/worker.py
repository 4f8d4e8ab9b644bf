"""`castiel worker MODULE:Class`: run worker processes."""

from __future__ import annotations

import argparse
import os
from typing import Any

from castiel import argtypes
from castiel.errors import UsageError
from runtime.autoscale import ScalingPolicy
from runtime.connection import RedisSettings
from runtime.correlation import log_job_context
from runtime.errors import RunBroken
from runtime.supervisor import EXIT_BROKEN, Supervisor, load_worker_class
from runtime.worker import BaseWorker


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
    p.add_argument(
        "--redis",
        type=argtypes.redis_url,
        metavar="URL",
        help="Redis URL (default $CASTIEL_REDIS_URL)",
    )
    p.add_argument("--queue", help="queue name (default: the class's `queue`)")
    p.add_argument(
        "--concurrency", type=argtypes.count(1), help="jobs processed at once per process"
    )
    p.add_argument(
        "--processes",
        type=argtypes.count(1, 1024),
        default=1,
        help="worker processes to run and keep alive (default 1)",
    )
    p.add_argument(
        "--grace",
        type=argtypes.duration(maximum=86400.0, allow_zero=True),
        metavar="DURATION",
        help="how long in-flight jobs get on shutdown, e.g. 30s (0 hands them back at once)",
    )
    p.add_argument(
        "--lease",
        type=argtypes.duration(maximum=86400.0),
        metavar="DURATION",
        help="job lease, e.g. 30s (renewed while running)",
    )
    p.add_argument(
        "--autoscale",
        metavar="MIN:MAX",
        help="run between MIN and MAX processes, scaled by the queue's backlog and measured "
        "throughput (HPA formula, stabilised); replaces --processes",
    )
    p.add_argument(
        "--target-drain",
        type=argtypes.duration(maximum=86400.0),
        default=30.0,
        metavar="DURATION",
        help="--autoscale: drain the backlog within this long (30s)",
    )
    p.add_argument(
        "--scale-down-window",
        type=argtypes.duration(maximum=86400.0, allow_zero=True),
        default=300.0,
        metavar="DURATION",
        help="--autoscale: scale down only to the highest recommendation of this window (5m)",
    )
    p.add_argument(
        "--metrics-port",
        type=argtypes.port,
        metavar="PORT",
        help="serve /metrics on 127.0.0.1:PORT (process i uses PORT+i; all must be <= 65535)",
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


def check_worker_class(cls: type[BaseWorker], spec: str, settings: dict[str, Any]) -> None:
    """Refuse what would only wait for Redis and then fail every job: BaseWorker itself (or
    a class without `process`), or a class that names no queue while no --queue is given."""
    if cls is BaseWorker or cls.process is BaseWorker.process:
        raise UsageError(
            f"worker {spec!r}: {cls.__name__} does not implement process(job); run a "
            "subclass of runtime.BaseWorker that does"
        )
    named = any("queue" in vars(c) for c in cls.__mro__ if c is not BaseWorker)
    if not (named or settings.get("queue") or os.environ.get("CASTIEL_QUEUE")):
        raise UsageError(
            f'worker {spec!r}: {cls.__name__} names no queue: set `queue = "..."` on the '
            "class, or pass --queue NAME"
        )


def _check_ports(first: int | None, processes: int) -> None:
    if first is not None and first + processes - 1 > 65535:
        raise UsageError(
            f"--metrics-port {first}: {processes} processes need ports up to "
            f"{first + processes - 1}, above 65535"
        )


def run(args: argparse.Namespace) -> int:
    log_job_context()  # job and correlation ids on every log line
    settings = _settings(args)
    cls = load_worker_class(args.worker)  # a ConfigError (exit 2) before anything starts
    check_worker_class(cls, args.worker, settings)
    if args.autoscale:
        if args.processes != 1:
            raise UsageError("--autoscale replaces --processes: give one of them")
        policy = ScalingPolicy.parse(
            args.autoscale,
            target_drain_seconds=args.target_drain,
            scale_down_window=args.scale_down_window,
        )
        _check_ports(args.metrics_port, policy.max_workers + 1)  # the supervisor's first
        return _supervised(Supervisor(args.worker, settings, autoscale=policy).run(), settings)
    _check_ports(args.metrics_port, args.processes)
    if args.processes == 1:
        cls(**settings).run()  # Redis unreachable when stopped: castiel.cli's one line, exit 3
        return 0
    return _supervised(Supervisor(args.worker, settings, args.processes).run(), settings)


def _supervised(code: int, settings: dict[str, Any]) -> int:
    if code == EXIT_BROKEN:
        where = RedisSettings.from_url(settings.get("redis_url")).url.rpartition("@")[2]
        raise RunBroken(f"the workers stopped before Redis at {where} answered")
    return code

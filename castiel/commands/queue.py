"""`castiel queue stats|retry-failed|pause|resume NAME`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from castiel import argtypes
from castiel.commands import queue_action
from castiel.errors import UsageError
from castiel.text_table import text_table
from runtime.autoscale import ScalingPolicy
from runtime.connection import connect
from runtime.heartbeat import read_heartbeats
from runtime.queue import Queue
from runtime.queue_exporter import QueueExporter


def register(sub: Any) -> None:
    p = sub.add_parser(
        "queue",
        help="inspect and operate a job queue",
        description="Inspect and operate a Castiel job queue.",
    )
    qsub = p.add_subparsers(dest="queue_command", metavar="ACTION")
    qsub.required = True

    def action(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        return queue_action(qsub, name, help_text, handler)

    stats = action("stats", "jobs by state, completed/failed per minute, and live workers", _stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    retry = action(
        "retry-failed", "move failed jobs back to waiting with fresh attempts", _retry_failed
    )
    retry.add_argument(
        "--limit", type=argtypes.count(1), default=1000, help="at most this many (oldest first)"
    )
    retry.add_argument("ids", nargs="*", metavar="JOB_ID", help="only these jobs")
    limit = action(
        "rate-limit", "limit how many jobs start per period, across all workers", _rate_limit
    )
    limit.add_argument("max_jobs", type=argtypes.count(1), nargs="?", help="jobs per period")
    limit.add_argument(
        "per_seconds",
        type=argtypes.duration(maximum=86400.0),
        nargs="?",
        metavar="PERIOD",
        help="the period, e.g. 1s, 500ms, 1m (a plain number is seconds)",
    )
    limit.add_argument(
        "--group",
        action="store_true",
        help="limit each JobSpec.group (e.g. tenant) instead of the queue",
    )
    limit.add_argument("--clear", action="store_true", help="remove all rate limits")
    action("pause", "stop workers from fetching jobs of this queue", _pause)
    action("resume", "let workers fetch again", _resume)
    _metrics_args(
        action(
            "metrics",
            "serve the queue's autoscaling signal (desired workers) and depth for KEDA or "
            "an HPA on /metrics, until SIGTERM",
            _metrics,
        )
    )


def _metrics_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, required=True, help="serve /metrics on this port")
    p.add_argument("--addr", default="127.0.0.1", help="address to bind (127.0.0.1)")
    p.add_argument(
        "--autoscale", default="1:10", metavar="MIN:MAX", help="worker range (default 1:10)"
    )
    p.add_argument(
        "--target-drain",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="enough workers to drain the backlog within this long (30)",
    )
    p.add_argument(
        "--scale-down-window",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="scale down only to the highest recommendation of this window (300)",
    )
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="decide this often (2)"
    )


def _queue(args: argparse.Namespace) -> Queue:
    conn = connect(args.redis, retries=0, socket_timeout=5)
    return Queue(conn.sync, args.queue)


def _stats(args: argparse.Namespace) -> int:
    q = _queue(args)
    counts = q.counts()
    per_minute = q.per_minute()
    beats, dead = read_heartbeats(q.client)
    workers = [b for b in beats if q.name in b.queues]
    now_min = int(time.time() // 60 * 60)
    recent = {
        outcome: [per_minute[outcome].get(now_min - 60 * i, 0) for i in range(10, -1, -1)]
        for outcome in ("completed", "failed")
    }
    if args.json:
        print(
            json.dumps(
                {
                    "queue": q.name,
                    "counts": counts.as_dict(),
                    "paused": counts.paused,
                    "per_minute_last_10": recent,
                    "workers": [
                        {
                            "id": b.id,
                            "in_flight": b.in_flight,
                            "processed": b.processed,
                            "failed": b.failed,
                        }
                        for b in workers
                    ],
                    "workers_missing_heartbeat": dead,
                },
                indent=2,
            )
        )
        return 0
    by_state = counts.as_dict()
    title = f"queue {q.name}" + (" (paused)" if counts.paused else "")
    print(text_table(title, list(by_state), [list(by_state.values())]))
    print(f"completed/min (last 10, oldest first): {recent['completed']}")
    print(f"failed/min    (last 10, oldest first): {recent['failed']}")
    print()
    print(
        text_table(
            f"workers ({len(workers)} live, {len(dead)} without heartbeat)",
            ("id", "in flight", "processed", "failed", "concurrency"),
            [(b.id, b.in_flight, b.processed, b.failed, b.concurrency) for b in workers],
        )
    )
    return 0


def _retry_failed(args: argparse.Namespace) -> int:
    moved = _queue(args).retry_failed(args.ids, limit=args.limit)
    print(f"moved {len(moved)} failed job(s) of {args.queue!r} back to waiting")
    return 0


def _rate_limit(args: argparse.Namespace) -> int:
    q = _queue(args)
    if args.clear:
        q.clear_rate_limits()
        print(f"rate limits of {args.queue!r} removed")
        return 0
    if args.max_jobs is None or args.per_seconds is None:
        raise UsageError("give MAX_JOBS and PER_SECONDS, or --clear")
    setter = q.set_group_rate_limit if args.group else q.set_rate_limit
    setter(args.max_jobs, args.per_seconds)
    scope = "per group" if args.group else "in total"
    print(f"{args.queue!r}: at most {args.max_jobs} job(s) per {args.per_seconds:g}s {scope}")
    return 0


def _metrics(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be a TCP port (0-65535), got {args.port}")
    policy = ScalingPolicy.parse(
        args.autoscale,
        target_drain_seconds=args.target_drain,
        scale_down_window=args.scale_down_window,
    )
    q = _queue(args)
    q.client.ping()  # unreachable: exit 3 now, not a silent exporter
    exporter = QueueExporter(
        q.client, q.name, policy, port=args.port, addr=args.addr, interval=args.interval
    )
    port = exporter.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"serving the scaling signal of {q.name!r} on http://{args.addr}:{port}/metrics")
    sys.stdout.flush()
    exporter.run(stop)
    return 0


def _pause(args: argparse.Namespace) -> int:
    _queue(args).pause()
    print(f"queue {args.queue!r} paused")
    return 0


def _resume(args: argparse.Namespace) -> int:
    _queue(args).resume()
    print(f"queue {args.queue!r} resumed")
    return 0

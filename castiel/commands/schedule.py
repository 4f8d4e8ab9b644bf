"""`castiel schedule add|remove|list|run`: cron and interval schedules of a queue."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import Any

from castiel import argtypes
from castiel.commands import queue_action
from castiel.errors import UsageError
from castiel.text_table import text_table
from runtime.connection import connect
from runtime.metrics import RuntimeMetrics, serve_metrics
from runtime.schedule import Schedule
from runtime.scheduler import Scheduler, Schedules, ScheduleStatus
from runtime.timestamps import utc_text


def register(sub: Any) -> None:
    p = sub.add_parser(
        "schedule",
        help="cron and interval schedules",
        description="Schedules create jobs on a cron expression or every N "
        "seconds. Every tick fires exactly once however many `castiel "
        "schedule run` processes run.",
    )
    ssub = p.add_subparsers(dest="schedule_command", metavar="ACTION")
    ssub.required = True

    def action(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        return queue_action(ssub, name, help_text, handler)

    add = action("add", "create or replace a schedule", _add)
    add.add_argument("id", help="schedule id")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="cron expression, e.g. '*/5 * * * *'")
    when.add_argument(
        "--every",
        type=argtypes.duration(),
        metavar="DURATION",
        help="fixed interval, e.g. 30s, 5m, 1h (a plain number is seconds)",
    )
    add.add_argument("--tz", default="UTC", help="time zone of the cron expression (UTC)")
    add.add_argument("--job", required=True, help="job name")
    add.add_argument("--data", default="null", help="job payload as JSON")
    add.add_argument(
        "--options",
        default="{}",
        metavar="JSON",
        help='job options as a JSON object, e.g. \'{"attempts": 3, "priority": 10}\'',
    )
    add.add_argument(
        "--missed",
        default="skip",
        metavar="skip|catchup:N",
        help="ticks missed while no scheduler ran: fire the latest only (skip), or up to N of them",
    )
    rm = action("remove", "delete a schedule", _remove)
    rm.add_argument("id")
    ls = action("list", "list schedules with their last and next fire times", _list)
    ls.add_argument("--json", action="store_true")
    run = action("run", "run a scheduler for this queue until SIGTERM/SIGINT", _run)
    run.add_argument(
        "--metrics-port",
        type=argtypes.port,
        metavar="PORT",
        help="serve /metrics on 127.0.0.1:PORT (1-65535)",
    )


def _json_arg(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} is not JSON: {exc}") from None


def _add(args: argparse.Namespace) -> int:
    data = _json_arg("--data", args.data)
    options = _json_arg("--options", args.options)
    if not isinstance(options, dict):
        raise UsageError("--options must be a JSON object, e.g. '{\"attempts\": 3}'")
    missed, colon, n = args.missed.partition(":")
    if not ((missed == "skip" and not colon) or (missed == "catchup" and colon and n.isdigit())):
        raise UsageError(f"--missed must be skip or catchup:N, not {args.missed!r}")
    schedule = Schedule(
        args.id,
        args.job,
        cron=args.cron,
        every=args.every,
        tz=args.tz,
        data=data,
        options=options,
        missed=missed,
        catchup_max=int(n or 0),
    )
    Schedules(connect(args.redis).sync, args.queue).upsert(schedule)
    print(f"schedule {args.id!r} on queue {args.queue!r} saved")
    return 0


def _remove(args: argparse.Namespace) -> int:
    found = Schedules(connect(args.redis).sync, args.queue).remove(args.id)
    print(f"schedule {args.id!r} " + ("removed" if found else "did not exist"))
    return 0


def _ts(t: float | None) -> str:
    return "-" if t is None else utc_text(t, "%Y-%m-%d %H:%M:%S")


def _row(item: ScheduleStatus) -> list[str]:
    s = item.schedule
    when = s.cron or f"every {s.every:g}s"
    return [s.id, s.job, when, s.tz, _ts(item.last_fired), _ts(item.next_fire)]


def _list(args: argparse.Namespace) -> int:
    items = Schedules(connect(args.redis).sync, args.queue).list()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": i.schedule.id,
                        "job": i.schedule.job,
                        "cron": i.schedule.cron,
                        "every": i.schedule.every,
                        "tz": i.schedule.tz,
                        "missed": i.schedule.missed,
                        "catchup_max": i.schedule.catchup_max,
                        "last_fired": i.last_fired,
                        "next_fire": i.next_fire,
                        "next_fire_utc": _ts(i.next_fire),
                    }
                    for i in items
                ],
                indent=2,
            )
        )
        return 0
    headers = ("id", "job", "when", "tz", "last fired (UTC)", "next (UTC)")
    print(text_table(f"schedules of {args.queue!r}", headers, [_row(i) for i in items]))
    return 0


def _run(args: argparse.Namespace) -> int:
    metrics = RuntimeMetrics()
    server = None
    url = None
    if args.metrics_port is not None:
        server, _, port = serve_metrics(metrics.registry, args.metrics_port)
        url = f"http://127.0.0.1:{port}/metrics"

    async def main() -> None:
        conn = connect(args.redis, client_name="castiel-scheduler")
        scheduler = Scheduler(
            conn.aio, [args.queue], metrics, heartbeat_interval=5.0, metrics_url=url
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, scheduler.stop)
        try:
            await scheduler.run()
        finally:
            await conn.aclose()

    try:
        asyncio.run(main())
    finally:
        if server is not None:
            server.shutdown()
    return 0

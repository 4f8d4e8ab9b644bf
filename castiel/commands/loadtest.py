"""`castiel loadtest worker`: a Locust worker joining a `castiel run --expect-workers N` master
from another machine, with the same locustfile (docs/fleet.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, NoReturn

from castiel.errors import UsageError
from loadtest.distributed import parse_endpoint, resolvable, worker_command
from loadtest.launch import DEFAULT_LOCUSTFILE


def register(sub: Any) -> None:
    p = sub.add_parser(
        "loadtest",
        help="load generators on other machines (Locust workers)",
        description="Load generation beyond one machine.",
    )
    commands = p.add_subparsers(dest="loadtest_command", required=True, metavar="COMMAND")
    w = commands.add_parser(
        "worker",
        help="join a `castiel run --expect-workers N` master as a Locust worker",
        description="Run a Locust worker that connects to the master of a `castiel run "
        "--expect-workers N --master-bind HOST:PORT` and sends it load and statistics until "
        "the run ends. Use the same locustfile as the master. Castiel's plugins come along: "
        "the worker cuts its statistics into per-second slices and paces its users when the "
        "run has an --arrival-rate; the master writes the run's data and reports. Locust's "
        "protocol is unauthenticated: keep the master's port on a private network.",
        epilog="example: castiel loadtest worker --master 10.0.0.5:5557 -f locustfile.py",
    )
    w.add_argument("--master", required=True, metavar="HOST:PORT", help="the master to join")
    w.add_argument(
        "-f",
        "--locustfile",
        type=Path,
        default=DEFAULT_LOCUSTFILE,
        help="the run's locustfile (default: the example service's)",
    )
    w.set_defaults(handler=worker)


def worker(args: argparse.Namespace) -> NoReturn:
    try:
        master = parse_endpoint(args.master)
    except ValueError as exc:
        raise UsageError(f"--master {exc}") from None
    if not args.locustfile.exists():
        raise UsageError(f"locustfile {args.locustfile} does not exist")
    if not resolvable(master.host):
        raise UsageError(f"--master {master}: cannot resolve {master.host!r}")
    argv, env = worker_command(master, args.locustfile.resolve())
    # The worker is Locust itself from here on: signals reach it directly, so SIGTERM makes it
    # leave the master cleanly, and its exit code is the command's.
    os.execve(argv[0], argv, env)  # noqa: S606 - fixed argv, no shell

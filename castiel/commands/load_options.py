"""`castiel run`'s options for open-model load (`--arrival-rate`, `--max-users`) and for load
generators on other machines (`--expect-workers`, `--master-bind`): the flags, and their
checks into typed values before any load is sent (bad input exits 2)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from castiel import argtypes
from castiel.errors import UsageError
from loadtest.arrival import (
    ArrivalPlan,
    Pool,
    from_profile,
    is_plain_rate,
    load_plan_file,
    parse_stages,
)
from loadtest.distributed import Endpoint, exposure_warning, parse_endpoint
from loadtest.profiles import build

DEFAULT_DURATION = 60.0
_RELATIVE = 1000  # users of the profile a plain rate is scaled from (fine multipliers)


def add_arguments(p: Any) -> None:
    p.add_argument(
        "--arrival-rate",
        metavar="SPEC",
        help="open model: start iterations at this rate (per second) whether or not earlier "
        "ones finished. A number (the base rate of --scenario), ramping stages "
        "'[START,] DURATION:RATE, ...' (linear, k6's ramping-arrival-rate; 0s:RATE jumps), "
        "or a YAML file with start_rate: and stages: (docs/loadtest.md). --users is then the "
        "pool of users pre-allocated for the iterations",
    )
    p.add_argument(
        "--max-users",
        type=argtypes.count(1),
        metavar="N",
        help="arrival rate: the pool may grow to N users when iterations take longer "
        "(default: --users; iterations with no free user are dropped and counted)",
    )
    p.add_argument(
        "--expect-workers",
        type=argtypes.count(0),
        default=0,
        metavar="N",
        help="run Locust as a master only and wait for N workers "
        "(`castiel loadtest worker --master HOST:PORT` on other machines)",
    )
    p.add_argument(
        "--master-bind",
        metavar="HOST:PORT",
        help="with --expect-workers: where the master listens (default 127.0.0.1 and a free "
        "port). Locust's protocol is unauthenticated: bind a private address",
    )
    p.add_argument(
        "--workers-wait",
        type=argtypes.duration(),
        default=120.0,
        metavar="DURATION",
        help="with --expect-workers: how long to wait for them before the run breaks (2m)",
    )


@dataclass(frozen=True)
class LoadOptions:
    duration: float
    arrival: ArrivalPlan | None
    pool: Pool | None
    expect_workers: int
    master_bind: Endpoint | None
    workers_wait: float


def arrival_plan(
    spec: str, scenario: str, duration: float | None, peak_multiplier: float
) -> ArrivalPlan:
    """The plan `--arrival-rate SPEC` asks for (raises UsageError)."""
    if is_plain_rate(spec):
        profile = build(scenario, _RELATIVE, duration or DEFAULT_DURATION, peak_multiplier)
        try:
            return from_profile(profile, _RELATIVE, float(spec))
        except ValueError as exc:
            raise UsageError(f"--arrival-rate {spec}: {exc}") from None
    if scenario != "normal" or duration is not None:
        raise UsageError(
            "--arrival-rate with stages sets the whole profile: drop --scenario and --duration"
        )
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_plan_file(path)  # a SpecError: bad input, exit 2
    try:
        return parse_stages(spec)
    except ValueError as exc:
        raise UsageError(f"--arrival-rate {spec!r}: {exc}") from None


def load_options(args: argparse.Namespace) -> LoadOptions:
    """Checks the flags together; prints the exposure warning for a non-loopback master."""
    arrival = pool = None
    duration = args.duration
    if args.arrival_rate is not None:
        arrival = arrival_plan(
            args.arrival_rate, args.scenario, args.duration, args.peak_multiplier
        )
        duration = arrival.duration
        maximum = args.max_users if args.max_users is not None else args.users
        if maximum < args.users:
            raise UsageError("--max-users must be >= --users (the pre-allocated pool)")
        pool = Pool(args.users, maximum)
    elif args.max_users is not None:
        raise UsageError("--max-users sizes the pool of an --arrival-rate run")
    bind = None
    if args.expect_workers:
        if args.processes > 1:
            raise UsageError("--expect-workers and --processes exclude each other")
        if args.master_bind:
            try:
                bind = parse_endpoint(args.master_bind)
            except ValueError as exc:
                raise UsageError(f"--master-bind {exc}") from None
            warning = exposure_warning(bind)
            if warning:
                print(f"castiel: {warning}", file=sys.stderr)
    elif args.master_bind:
        raise UsageError("--master-bind needs --expect-workers N")
    return LoadOptions(
        duration if duration is not None else DEFAULT_DURATION,
        arrival,
        pool,
        args.expect_workers,
        bind,
        args.workers_wait,
    )

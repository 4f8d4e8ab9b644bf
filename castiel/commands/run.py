"""`castiel run`: a load test against a target with live budgets, then the verdict, every
report under .castiel/runs/<id>/, and an exit code for CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from budgets.spec import BudgetSpecError, load_budget_file
from castiel.commands.alerts import add_alerts_argument, alerts_config_for, finish_alerts
from castiel.commands.sources import SourcesBroken, wire_sources
from castiel.config import add_config_argument, load_project_config
from castiel.errors import EXIT_BROKEN, UsageError
from castiel.gate import ReportPaths, gate
from castiel.storearg import add_store_argument, sqlite_file
from collectors.store import Store
from loadtest.launch import DEFAULT_LOCUSTFILE
from loadtest.orchestrator import RunPlan, execute
from loadtest.preflight import RunBroken
from loadtest.profiles import SCENARIOS
from runtime.durations import parse_duration


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return seconds


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a load test with live budgets (CI gate)",
        description="Run Locust headless against TARGET in its own process, collect its stats "
        "and the runtime's metrics every second into the store, evaluate the budgets live "
        "(a budget at level `abort` stops the run), then print the verdict and write JSON, "
        "JUnit, Markdown and HTML reports into .castiel/runs/<run id>/. Exit 0 pass (warnings "
        "allowed), 1 a budget failed, 2 bad input (checked before any load is sent), 3 the run "
        "itself broke (target or Redis unreachable).",
        epilog="example: castiel run --scenario peak --duration 2m --users 50 "
        "--target http://127.0.0.1:8000 --budgets examples/budgets.yaml",
    )
    p.add_argument("--target", required=True, metavar="URL", help="base URL of the service")
    p.add_argument("--budgets", required=True, type=Path, metavar="FILE", help="budget file")
    p.add_argument("--scenario", choices=SCENARIOS, default="normal", help="load profile")
    p.add_argument("--duration", type=_duration, default=60.0, help="e.g. 90s, 2m (60s)")
    p.add_argument("--users", type=int, default=10, help="base number of users (10)")
    p.add_argument(
        "--peak-multiplier",
        type=float,
        default=3.0,
        help="peak/stress/spike load = users x this (3)",
    )
    p.add_argument(
        "-f",
        "--locustfile",
        type=Path,
        default=DEFAULT_LOCUSTFILE,
        help="your locustfile (default: the example service's)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Locust processes (>1: Locust's own master/worker mode)",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help="Redis of the service: collect queue, worker and cache metrics",
    )
    p.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="URL",
        help="a /metrics endpoint to scrape every second (repeatable)",
    )
    add_config_argument(p)  # its `sources:` section adds Prometheus, Azure Monitor, ...
    add_alerts_argument(p)  # or castiel.yaml's `alerts:` section
    add_store_argument(p)
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path(".castiel/runs"),
        help="where each run's reports go (.castiel/runs)",
    )
    p.add_argument(
        "--baseline",
        metavar="REF",
        help="'last-passing', a saved baseline name, a run id, or 'none'",
    )
    p.add_argument("--save-baseline", metavar="NAME", help="save a passing run as baseline NAME")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.users < 1 or args.processes < 1 or args.peak_multiplier < 1:
        raise UsageError("--users and --processes must be >= 1, --peak-multiplier >= 1")
    if not args.locustfile.exists():
        raise UsageError(f"locustfile {args.locustfile} does not exist")
    try:
        spec = load_budget_file(args.budgets)
    except BudgetSpecError as exc:
        raise UsageError(str(exc)) from None
    project = load_project_config(args.config)  # a ConfigError: exit 2
    alerts = alerts_config_for(args.alerts, project, [b.name for b in spec.budgets])
    if alerts is not None:
        sqlite_file(args.store, "alerting")
    try:
        # Without castiel.yaml or flags, Locust's own numbers are the only source.
        wiring = wire_sources(project, spec.budgets, args.redis, args.metrics, allow_empty=True)
    except SourcesBroken as exc:
        print(f"castiel: the run broke: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    plan = RunPlan(
        target=args.target,
        budgets=spec.budgets,
        budgets_text=args.budgets.read_text(),
        scenario=args.scenario,
        users=args.users,
        duration=args.duration,
        peak_multiplier=args.peak_multiplier,
        locustfile=args.locustfile,
        processes=args.processes,
        store_path=args.store,
        runs_dir=args.runs_dir,
        redis_url=wiring.redis_url,
        alerts=alerts,
    )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # CI logs: wide enough that tables do not fold
    try:
        result = execute(plan, wiring.collectors, console)
    except RunBroken as exc:
        print(f"castiel: the run broke: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    out = result.out_dir
    console.print(
        f"run {result.run.id}: {result.total_requests} requests, "
        f"{result.total_failures} failures"
        + (f"; stopped early: {result.aborted}" if result.aborted else "")
    )
    verdict = "error"
    try:
        with Store.open(args.store) as store:
            code = gate(
                store,
                result.run,
                list(spec.budgets),
                spec.path,
                console,
                baseline=args.baseline,
                save_baseline=args.save_baseline,
                reports=ReportPaths(
                    json=out / "report.json",
                    junit=out / "junit.xml",
                    markdown=out / "report.md",
                    html=out / "report.html",
                ),
                notes=[f"stopped early: {result.aborted}"] if result.aborted else [],
            )
            verdict = store.get_run(result.run.id).verdict or ("pass" if code == 0 else "fail")
        return code
    finally:
        if result.alerts is not None:  # resolved with the run's verdict, on every channel
            finish_alerts(result.alerts, verdict, plan.alerts_drain)

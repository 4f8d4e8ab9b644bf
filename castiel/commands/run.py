"""`castiel run`: a load test against a target with live budgets, then the verdict, every
report under .castiel/runs/<id>/, and an exit code for CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from budgets.model import BudgetFile
from budgets.spec import load_budget_file
from castiel import argtypes
from castiel.baselines import BaselineChoice, add_baseline_arguments, choice_from_args
from castiel.commands.alerts import add_alerts_argument, alerts_config_for, finish_alerts
from castiel.commands.browse import browsing
from castiel.commands.load_options import add_arguments as add_load_arguments
from castiel.commands.load_options import load_options
from castiel.commands.sources import wire_sources
from castiel.config import add_config_argument, load_project_config
from castiel.gate import ReportPaths, gate
from castiel.storearg import add_store_argument
from collectors.store import Store
from loadtest.launch import DEFAULT_LOCUSTFILE
from loadtest.orchestrator import RunPlan, RunResult, execute
from loadtest.profiles import SCENARIOS
from loadtest.stopping import ALERTS_DRAIN_ON_SIGNAL, StopRequest, stop_on_signals


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a load test with live budgets (CI gate)",
        description="Run Locust headless against TARGET in its own process, collect its stats "
        "and the runtime's metrics every second into the store, evaluate the budgets live "
        "(a budget at level `abort` stops the run), then print the verdict and write JSON, "
        "JUnit, Markdown and HTML reports into .castiel/runs/<run id>/. Exit 0 pass (warnings "
        "allowed), 1 a budget failed, 2 bad input (checked before any load is sent), 3 the run "
        "itself broke (target or Redis unreachable), 4 inconclusive (Locust saturated, too few "
        "requests, arrival rate short of target). SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop "
        "the run: Locust (master and workers) is stopped within 20s, the run is recorded "
        "`aborted`, the reports are written for the data so far, its alerts are resolved "
        "(verdict `aborted`), and the exit code is 128 + the signal number: 143 SIGTERM, "
        "130 SIGINT, 129 SIGHUP. If castiel itself is killed, Locust stops too.",
        epilog="example: castiel run --scenario peak --duration 2m --users 50 "
        "--target http://127.0.0.1:8000 --budgets examples/budgets.yaml",
    )
    p.add_argument(
        "--target",
        required=True,
        type=argtypes.http_url,
        metavar="URL",
        help="base URL of the service",
    )
    p.add_argument("--budgets", required=True, type=Path, metavar="FILE", help="budget file")
    p.add_argument("--scenario", choices=SCENARIOS, default="normal", help="load profile")
    p.add_argument(
        "--duration",
        type=argtypes.duration(),
        default=None,
        help="e.g. 90s, 2m, 1h30m (60s, or the --arrival-rate stages' sum); more than 7d needs "
        "--allow-long",
    )
    p.add_argument(
        "--allow-long", action="store_true", help="allow a --duration longer than 7 days"
    )
    p.add_argument("--users", type=argtypes.count(1), default=10, help="base number of users (10)")
    p.add_argument(
        "--peak-multiplier",
        type=argtypes.number(1.0),
        default=3.0,
        help="peak/stress/spike load = users x this (3)",
    )
    p.add_argument(
        "-f",
        "--locustfile",
        type=argtypes.existing_file,
        default=DEFAULT_LOCUSTFILE,
        help="your locustfile (default: the example service's)",
    )
    p.add_argument(
        "--processes",
        type=argtypes.count(1, 256),
        default=1,
        help="Locust processes (>1: Locust's own master/worker mode)",
    )
    add_load_arguments(p)  # --arrival-rate, --max-users, --expect-workers, ...
    p.add_argument(
        "--redis",
        type=argtypes.redis_url,
        metavar="URL",
        help="Redis of the service: collect queue, worker and cache metrics",
    )
    p.add_argument(
        "--metrics",
        action="append",
        type=argtypes.http_url,
        default=[],
        metavar="URL",
        help="a /metrics endpoint to scrape every second (repeatable)",
    )
    p.add_argument(
        "--browse",
        action="append",
        type=argtypes.http_url,
        default=[],
        metavar="URL",
        help="load this page in headless Chromium (cold, then warm) over and over during the "
        "run, so its Web Vitals and page weight sit next to the API's timings (repeatable; "
        "docs/frontend.md)",
    )
    add_config_argument(p)  # its `sources:` section adds Prometheus, Azure Monitor, ...
    add_alerts_argument(p)  # or castiel.yaml's `alerts:` section
    add_store_argument(p)
    p.add_argument(
        "--runs-dir",
        type=argtypes.directory,
        default=Path(".castiel/runs"),
        help="where each run's reports go (.castiel/runs)",
    )
    add_baseline_arguments(p)
    p.add_argument("--save-baseline", metavar="NAME", help="save a passing run as baseline NAME")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Installed first: a CI cancel during the checks below must not start any load.
    with stop_on_signals() as stop:
        return _run(args, stop)


def _run(args: argparse.Namespace, stop: StopRequest) -> int:
    load = load_options(args)  # open model and remote workers: checked before any load
    argtypes.check_run_duration(load.duration, args.allow_long)
    spec = load_budget_file(args.budgets)  # bad input (exit 2), every problem printed
    project = load_project_config(args.config)
    budgets_text = args.budgets.read_text(encoding="utf-8")
    baseline = choice_from_args(args, project.baseline, budgets_text)  # a bad bundle: exit 2
    alerts = alerts_config_for(args.alerts, project, [b.name for b in spec.budgets])
    # Without castiel.yaml or flags, Locust's own numbers are the only source.
    wiring = wire_sources(project, spec.budgets, args.redis, args.metrics, allow_empty=True)
    plan = RunPlan(
        target=args.target,
        budgets=spec.budgets,
        budgets_text=budgets_text,
        scenario=args.scenario,
        users=args.users,
        duration=load.duration,
        peak_multiplier=args.peak_multiplier,
        locustfile=args.locustfile,
        processes=args.processes,
        store_path=args.store,
        runs_dir=args.runs_dir,
        redis_url=wiring.redis_url,
        alerts=alerts,
        arrival=load.arrival,
        pool=load.pool,
        expect_workers=load.expect_workers,
        master_bind=load.master_bind,
        workers_wait=load.workers_wait,
    )
    if stop.requested:
        return stop.exit_code  # nothing started, nothing recorded
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # CI logs: wide enough that tables do not fold
    with browsing(args.browse) as pages:  # a page that cannot load: exit 3 before load
        result = execute(plan, [*wiring.collectors, *pages], console, stop=stop)
    console.print(
        f"run {result.run.id}: {result.total_requests} requests, "
        f"{result.total_failures} failures"
        + (f"; stopped early: {result.aborted}" if result.aborted else "")
    )
    code = _verdict(args, spec, plan, result, console, baseline)
    if result.stopped_by:
        print(
            f"castiel: run {result.run.id} {result.aborted}: recorded as aborted, reports in "
            f"{result.out_dir}; exit {stop.exit_code}",
            file=sys.stderr,
        )
        return stop.exit_code
    return code


def _verdict(
    args: argparse.Namespace,
    spec: BudgetFile,
    plan: RunPlan,
    result: RunResult,
    console: Console,
    baseline: BaselineChoice,
) -> int:
    """The gate over the whole run (reports, verdicts), then its alerts resolved with the
    verdict: `aborted` when a signal cut it short."""
    out = result.out_dir
    verdict = "aborted" if result.stopped_by else "error"
    drain = ALERTS_DRAIN_ON_SIGNAL if result.stopped_by else plan.alerts_drain
    try:
        with Store.open(args.store) as store:
            code = gate(
                store,
                result.run,
                list(spec.budgets),
                spec.path,
                console,
                baseline=baseline,
                # A run cut short is no one's baseline.
                save_baseline=None if result.stopped_by else args.save_baseline,
                reports=ReportPaths(
                    json=out / "report.json",
                    junit=out / "junit.xml",
                    markdown=out / "report.md",
                    html=out / "report.html",
                ),
                notes=[f"stopped early: {result.aborted}"] if result.aborted else [],
            )
            if not result.stopped_by:
                verdict = store.get_run(result.run.id).verdict or ("pass" if code == 0 else "fail")
    finally:
        if result.alerts is not None:  # resolved with the run's verdict, on every channel
            finish_alerts(result.alerts, verdict, drain)
    return code

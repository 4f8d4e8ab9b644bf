"""`castiel monitor`: the same monitor loop as `castiel run`, without a load generator:
windowed budgets over the runtime's metrics (Redis) and /metrics endpoints, or over the
sources of castiel.yaml (a Prometheus server, Azure Monitor: docs/fleet.md), continuously."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from alerts.engine import AlertEngine
from alerts.metrics import AlertMetrics
from budgets.model import Level
from budgets.spec import BudgetSpecError, load_budget_file
from budgets.verdict import Verdict
from castiel.commands.alerts import add_alerts_argument, alerts_config_for, finish_alerts
from castiel.commands.sources import SourcesBroken, wire_sources
from castiel.config import add_config_argument, load_project_config
from castiel.errors import EXIT_BROKEN, EXIT_PASS, UsageError
from castiel.storearg import add_store_argument, sqlite_file
from collectors.store import Store
from loadtest.live import live_stats, plain_line
from loadtest.monitor import Monitor
from loadtest.monitor_metrics import MonitorMetrics
from loadtest.orchestrator import fingerprint, git_info
from loadtest.preflight import RunBroken, check_redis
from runtime.metrics import serve_metrics


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
    add_config_argument(p)  # its `sources:` section: Prometheus, Azure Monitor, ...
    add_alerts_argument(p)  # or castiel.yaml's `alerts:` section
    add_store_argument(p)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (1)")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the monitor's own /metrics on 127.0.0.1:PORT (budget status and observed "
        "values, alert notifications by receiver and outcome, last tick time); 0 picks a "
        "free port",
    )
    p.add_argument(
        "--for",
        dest="duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: until stopped)",
    )
    p.set_defaults(handler=run)


def _stop_alerts(engine: AlertEngine, verdicts: list[Verdict]) -> None:
    """With a `deployment` name the alerts outlive this process (the next monitor on the store
    carries on with them); without one they belong to this monitor's run and resolve now."""
    if engine.config.deployment:
        left = engine.close(drain=10.0)
        if left:
            print(f"castiel: {left} alert notification(s) wait for the next monitor", flush=True)
        return
    worst = max((v.status for v in verdicts), default=Level.PASS)
    finish_alerts(engine, worst.label, drain=10.0)


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise UsageError("--interval must be > 0")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise UsageError("--metrics-port must be between 0 and 65535")
    try:
        spec = load_budget_file(args.budgets)
    except BudgetSpecError as exc:
        raise UsageError(str(exc)) from None
    project = load_project_config(args.config)  # a ConfigError: exit 2
    alerts = alerts_config_for(args.alerts, project, [b.name for b in spec.budgets])
    if alerts is not None:
        sqlite_file(args.store, "alerting")
    try:
        # Bad combinations and rejected promql: expressions exit 2 before anything runs.
        wiring = wire_sources(project, spec.budgets, args.redis, args.metrics)
        if wiring.redis_url:
            check_redis(wiring.redis_url)
    except (RunBroken, SourcesBroken) as exc:
        print(f"castiel: {exc}")
        return EXIT_BROKEN
    stop = {"now": False}

    def request_stop(*_: object) -> None:
        stop["now"] = True

    # Bound before the run is recorded: a taken port must not leave a run behind.
    registry = CollectorRegistry()
    own = MonitorMetrics(registry)
    server = None
    if args.metrics_port is not None:
        try:
            server, _, port = serve_metrics(registry, args.metrics_port)
        except OSError as exc:  # taken, or not ours to bind
            raise UsageError(f"--metrics-port {args.metrics_port}: {exc.strerror}") from None
        print(f"monitor metrics: http://127.0.0.1:{port}/metrics", flush=True)
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
        collectors = list(wiring.collectors)
        engine = None
        if alerts is not None:
            # Collected like any source (its series is in the store) and served on /metrics.
            metrics = AlertMetrics(registry)
            engine = AlertEngine.open(
                alerts,
                store_path=sqlite_file(args.store, "alerting"),
                run_id=info.id,
                metrics=metrics,
            )
            collectors.append(metrics)
        monitor = Monitor(store, info, spec.budgets, collectors, alerts=engine)
        print(
            f"monitoring as run {info.id} (store {args.store}, sources: {wiring.described}); "
            "Ctrl-C to stop",
            flush=True,
        )
        next_line = 0.0
        try:
            while not stop["now"]:
                result = monitor.tick(time.time())
                own.update(result.verdicts, result.now)
                elapsed = result.now - info.started_at
                if elapsed >= next_line:
                    stats = live_stats(monitor.series.snapshot(), result.now)
                    line = plain_line(elapsed, stats, result.verdicts)
                    problems = dict(result.errors)
                    if result.store_error is not None:
                        problems["store"] = f"{result.store_error} ({result.backlog} waiting)"
                    errors = "; ".join(f"{k}: {v}" for k, v in problems.items())
                    print(line + (f" (unreachable: {errors})" if errors else ""), flush=True)
                    next_line = elapsed + 10
                if args.duration is not None and elapsed >= args.duration:
                    break
                time.sleep(max(0.0, args.interval - (time.time() - result.now)))
        finally:
            monitor.finish(time.time(), "finished")  # after the backlog, if the store was away
            if engine is not None:
                _stop_alerts(engine, monitor.last_verdicts)
            if server is not None:
                server.shutdown()
        if monitor.last_verdicts:
            console.print(f"last verdicts: {len(monitor.last_verdicts)} budget(s) evaluated")
    return EXIT_PASS

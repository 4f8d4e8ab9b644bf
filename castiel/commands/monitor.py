"""`castiel monitor`: the same monitor loop as `castiel run`, without a load generator:
windowed budgets over the runtime's metrics (Redis) and /metrics endpoints, or over the
sources of castiel.yaml (a Prometheus server, Azure Monitor: docs/fleet.md), continuously."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.metrics import AlertMetrics
from budgets.model import Budget, Level
from budgets.spec import load_budget_file
from budgets.verdict import Verdict
from castiel import argtypes
from castiel.commands.alerts import add_alerts_argument, alerts_config_for, finish_alerts
from castiel.commands.sources import Wiring, wire_sources
from castiel.config import add_config_argument, load_project_config
from castiel.errors import EXIT_PASS, UsageError
from castiel.storearg import add_store_argument
from collectors.store import Store
from loadtest.live import live_stats, plain_line
from loadtest.monitor import Monitor
from loadtest.monitor_metrics import MonitorMetrics
from loadtest.orchestrator import fingerprint, git_info
from loadtest.preflight import check_redis
from loadtest.stopping import ALERTS_DRAIN_ON_SIGNAL, StopRequest, stop_on_signals
from runtime.metrics import serve_metrics


def register(sub: Any) -> None:
    p = sub.add_parser(
        "monitor",
        help="watch budgets continuously (no load test)",
        description="Collect the runtime's metrics from Redis and /metrics endpoints every "
        "INTERVAL into the store (as a run named 'monitor'), and evaluate the budgets live. "
        "Windowed budgets (scope: window or for) suit continuous use. SIGTERM, SIGINT and "
        "SIGHUP stop it cleanly: the run is closed and its alerts resolved. Exit codes: 0 "
        "stopped (by a signal, or --for elapsed); with --for, a signal before the end records "
        "the run `aborted` and exits 128 + the signal number (143 SIGTERM, 130 SIGINT, 129 "
        "SIGHUP); 2 bad input; 3 a source or Redis does not answer at the start.",
    )
    p.add_argument("--budgets", required=True, type=Path, metavar="FILE")
    p.add_argument("--redis", type=argtypes.redis_url, metavar="URL", help="Redis of the runtime")
    p.add_argument(
        "--metrics",
        action="append",
        type=argtypes.http_url,
        default=[],
        metavar="URL",
        help="a /metrics endpoint to scrape (repeatable)",
    )
    add_config_argument(p)  # its `sources:` section: Prometheus, Azure Monitor, ...
    add_alerts_argument(p)  # or castiel.yaml's `alerts:` section
    add_store_argument(p)
    p.add_argument(
        "--interval",
        type=argtypes.duration(maximum=86400.0),
        default=1.0,
        metavar="DURATION",
        help="between ticks, e.g. 1s, 500ms (1s; at most 1d)",
    )
    p.add_argument(
        "--metrics-port",
        type=argtypes.port_or_zero,
        default=None,
        metavar="PORT",
        help="serve the monitor's own /metrics on 127.0.0.1:PORT (budget status and observed "
        "values, alert notifications by receiver and outcome, last tick time); 0 picks a "
        "free port",
    )
    p.add_argument(
        "--for",
        dest="duration",
        type=argtypes.duration(),
        default=None,
        metavar="DURATION",
        help="stop after this long, e.g. 90s, 2h (default: until stopped; at most 10 years)",
    )
    p.set_defaults(handler=run)


def _stop_alerts(engine: AlertEngine, verdicts: list[Verdict], stopped_early: bool) -> None:
    """With a `deployment` name the alerts outlive this process (the next monitor on the store
    carries on with them); without one they belong to this monitor's run and resolve now."""
    if engine.config.deployment:
        left = engine.close(drain=10.0)
        if left:
            print(f"castiel: {left} alert notification(s) wait for the next monitor", flush=True)
        return
    if stopped_early:
        finish_alerts(engine, "aborted", drain=ALERTS_DRAIN_ON_SIGNAL)
        return
    worst = max((v.status for v in verdicts), default=Level.PASS)
    finish_alerts(engine, worst.label, drain=10.0)


def run(args: argparse.Namespace) -> int:
    with stop_on_signals() as stop:
        return _monitor(args, stop)


def _monitor(args: argparse.Namespace, stop: StopRequest) -> int:
    spec = load_budget_file(args.budgets)
    project = load_project_config(args.config)
    alerts = alerts_config_for(args.alerts, project, [b.name for b in spec.budgets])
    # Bad combinations and rejected promql: expressions exit 2 before anything runs, a
    # source that does not answer 3.
    wiring = wire_sources(project, spec.budgets, args.redis, args.metrics)
    if wiring.redis_url:
        check_redis(wiring.redis_url)
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
    try:
        return _loop(args, spec.budgets, wiring, alerts, registry, own, stop)
    finally:
        if server is not None:
            server.shutdown()


def _loop(
    args: argparse.Namespace,
    budgets: Sequence[Budget],
    wiring: Wiring,
    alerts: AlertsConfig | None,
    registry: CollectorRegistry,
    own: MonitorMetrics,
    stop: StopRequest,
) -> int:
    commit, branch = git_info()
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
                store_path=args.store,
                run_id=info.id,
                metrics=metrics,
            )
            collectors.append(metrics)
        monitor = Monitor(store, info, budgets, collectors, alerts=engine)
        print(
            f"monitoring as run {info.id} (store {args.store}, sources: {wiring.described}); "
            "Ctrl-C to stop",
            flush=True,
        )
        next_line = 0.0
        status = "broken"  # unless the loop ends the way it should
        try:
            while not stop.requested:
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
                stop.sleep(max(0.0, args.interval - (time.time() - result.now)))
            # Without --for a signal is how a monitor ends; with --for it cut the watch short.
            cut_short = stop.requested and args.duration is not None
            status = "aborted" if cut_short else "finished"
        finally:
            monitor.finish(time.time(), status)  # after the backlog, if the store was away
            if engine is not None:
                _stop_alerts(engine, monitor.last_verdicts, status != "finished")
        if monitor.last_verdicts:
            Console().print(f"last verdicts: {len(monitor.last_verdicts)} budget(s) evaluated")
    if stop.requested:
        print(f"castiel: monitor run {info.id} {stop.reason} ({status})", file=sys.stderr)
        return stop.exit_code if status == "aborted" else EXIT_PASS
    return EXIT_PASS

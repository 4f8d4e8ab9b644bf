"""`castiel run`'s engine: preflight, a run in the store, Locust in its own process, the
monitor ticking once a second (live view, abort budgets), and a clean finish.

Final verdicts and reports are the CLI's job (they are the same as `castiel check`'s)."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.metrics import AlertMetrics
from budgets.model import Budget
from budgets.verdict import Verdict
from collectors.base import Collector
from collectors.model import RunInfo
from collectors.store import Store, StoreLocator, store_locator
from loadtest.launch import DEFAULT_LOCUSTFILE, LocustOptions
from loadtest.live import live_stats, plain_line, render
from loadtest.locust_process import LocustProcess
from loadtest.monitor import Monitor
from loadtest.preflight import Reachability, RunBroken, preflight
from loadtest.stream import LocustStream
from runtime.errors import BadInput


@dataclass
class RunPlan:
    target: str
    budgets: Sequence[Budget]
    budgets_text: str = ""
    scenario: str = "normal"
    users: int = 10
    duration: float = 60.0
    peak_multiplier: float = 3.0
    locustfile: Path = DEFAULT_LOCUSTFILE
    processes: int = 1
    store_path: Path | StoreLocator = Path(".castiel/castiel.db")
    """A SQLite file or a PostgreSQL store (alerting needs the former, alerts/db.py)."""
    runs_dir: Path = Path(".castiel/runs")
    redis_url: str | None = None
    interval: float = 1.0
    alerts: AlertsConfig | None = None
    alerts_drain: float = 15.0
    """At the end, how long undelivered notifications get before the process exits (they
    stay in the store's outbox for the next `castiel run`/`castiel monitor` after that)."""


@dataclass
class RunResult:
    run: RunInfo
    out_dir: Path
    aborted: str | None
    locust_exit: int
    total_requests: int
    total_failures: int
    live_verdicts: list[Verdict] = field(default_factory=list)
    alerts: AlertEngine | None = None
    """Still open: the CLI resolves the run's alerts with the final verdict
    (`alerts.finish(verdict, drain)`) once the gate has decided it."""


def git_info() -> tuple[str | None, str | None]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], capture_output=True, text=True, timeout=5, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None

    return git("rev-parse", "HEAD"), git("rev-parse", "--abbrev-ref", "HEAD")


def fingerprint() -> dict[str, str]:
    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count() or 0),
    }


def config_hash(plan: RunPlan) -> str:
    h = hashlib.sha256()
    for part in (
        plan.budgets_text,
        plan.scenario,
        str(plan.users),
        str(plan.duration),
        str(plan.peak_multiplier),
        str(plan.locustfile),
        str(plan.processes),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def execute(
    plan: RunPlan,
    collectors: Sequence[Collector] = (),
    console: Console | None = None,
    on_verdicts: Callable[[list[Verdict], float], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> RunResult:
    """Raises RunBroken (exit 3) when the target or Redis does not answer, before any load."""
    console = console or Console()
    preflight(Reachability(plan.target, plan.redis_url))
    commit, branch = git_info()
    locator = store_locator(plan.store_path)
    if plan.alerts is not None and locator.path is None:
        raise BadInput(f"alerting keeps its tables in a SQLite store, not {locator}")
    with Store.open(locator) as store:
        run = store.create_run(
            started_at=clock(),
            scenario=plan.scenario,
            git_commit=commit,
            git_branch=branch,
            config_hash=config_hash(plan),
            environment=fingerprint(),
        )
        out_dir = plan.runs_dir / run.id
        options = LocustOptions(
            plan.target,
            out_dir,
            plan.scenario,
            plan.users,
            plan.duration,
            plan.peak_multiplier,
            plan.locustfile,
            plan.processes,
        )
        locust = LocustProcess(options, out_dir / "locust.log")
        stream = LocustStream(options.stats_file)
        engine = None
        if plan.alerts is not None:
            metrics = AlertMetrics()  # collected like any source: its series is in the store
            assert locator.path is not None  # checked before the run was recorded
            engine = AlertEngine.open(
                plan.alerts, store_path=locator.path, run_id=run.id, metrics=metrics
            )
            collectors = [*collectors, metrics]
        monitor = Monitor(store, run, plan.budgets, collectors, stream, on_verdicts, engine)
        aborted: str | None = None
        try:
            locust.start()
        except BaseException:
            if engine is not None:
                engine.finish("broken", plan.alerts_drain)
            raise
        title = f"castiel run {run.id} - {plan.scenario}, {plan.users} users, {plan.duration:g}s"
        live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
        next_line = 0.0
        store_down = False
        try:
            with live or nullcontext():
                while True:
                    running = locust.running
                    result = monitor.tick(clock())
                    if (result.store_error is not None) != store_down:
                        store_down = result.store_error is not None
                        console.print(_store_note(result.store_error, result.backlog))
                    elapsed = result.now - run.started_at
                    stats = live_stats(monitor.series.snapshot(), result.now)
                    if live is not None:
                        live.update(render(title, stats, result.verdicts))
                    elif elapsed >= next_line:
                        print(plain_line(elapsed, stats, result.verdicts), flush=True)
                        next_line = elapsed + 5
                    if result.abort and aborted is None:
                        aborted = result.abort
                        console.print(f"[bold red]aborting:[/] {aborted}")
                        locust.stop()
                    if not running:
                        break
                    time.sleep(max(0.0, plan.interval - (clock() - result.now)))
        except KeyboardInterrupt:
            aborted = "interrupted (Ctrl-C)"
            locust.stop()
            locust.wait()
            monitor.tick(clock())
            if engine is not None:
                engine.finish("interrupted", plan.alerts_drain)
            raise
        except BaseException:
            if engine is not None:
                engine.finish("broken", plan.alerts_drain)
            raise
        finally:
            code = locust.wait()
            ended = clock()
            status = "aborted" if aborted else "finished"
            if stream.total_requests == 0 and not aborted:
                status = "broken"
            monitor.finish(ended, status)  # after the backlog, if the store was away
        if status == "broken":
            if engine is not None:
                engine.finish("broken", plan.alerts_drain)
            raise RunBroken(
                f"Locust sent no request (exit {code}); its log "
                f"({locust.log_path}) ends with:\n{locust.log_tail(1500)}"
            )
        return RunResult(
            store.get_run(run.id),
            out_dir,
            aborted,
            code,
            stream.total_requests,
            stream.total_failures,
            monitor.last_verdicts,
            engine,
        )


def _store_note(error: str | None, backlog: int) -> str:
    if error is None:
        return "[green]the store is back[/]: everything collected meanwhile is written"
    return (
        f"[yellow]the store is unavailable[/] ({error}); collected data waits in memory "
        f"({backlog} batch(es)) and is written when it is back"
    )

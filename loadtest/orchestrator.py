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
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.metrics import AlertMetrics
from budgets.baseline_select import load_identity
from budgets.model import Budget
from budgets.verdict import Verdict
from collectors.base import Collector
from collectors.model import RunInfo
from collectors.store import Store, StoreLocator, store_locator
from loadtest.arrival import ArrivalPlan, Pool
from loadtest.distributed import Endpoint
from loadtest.launch import DEFAULT_LOCUSTFILE, LocustOptions
from loadtest.live import live_stats, plain_line, render
from loadtest.locust_process import LocustProcess
from loadtest.monitor import Monitor
from loadtest.preflight import Reachability, preflight
from loadtest.stopping import LOCUST_STOP_GRACE, StopRequest
from loadtest.stream import LocustStream
from runtime.errors import RunBroken


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
    """A SQLite file or a PostgreSQL store (alerting keeps its tables in either)."""
    runs_dir: Path = Path(".castiel/runs")
    redis_url: str | None = None
    interval: float = 1.0
    alerts: AlertsConfig | None = None
    alerts_drain: float = 15.0
    """At the end, how long undelivered notifications get before the process exits (they
    stay in the store's outbox for the next `castiel run`/`castiel monitor` after that)."""
    arrival: ArrivalPlan | None = None  # open model (docs/loadtest.md); users = the pool
    pool: Pool | None = None
    expect_workers: int = 0  # > 0: workers join from other machines (docs/fleet.md)
    master_bind: Endpoint | None = None
    workers_wait: float = 120.0

    def load_description(self) -> str:
        if self.arrival is None:
            return f"{self.users} users"
        pool = self.pool or Pool(self.users, self.users)
        return (
            f"arrivals {self.arrival.describe()}/s, pool {pool.preallocated}-{pool.maximum} users"
        )

    def load_environment(self) -> dict[str, str]:
        """What the run records about its load generation, beside the host fingerprint."""
        out = {"load_model": "open" if self.arrival else "closed"}
        if self.arrival is not None:
            pool = self.pool or Pool(self.users, self.users)
            out["arrival_plan"] = self.arrival.describe()
            out["arrival_pool"] = f"{pool.preallocated}-{pool.maximum}"
        if self.expect_workers:
            out["load_workers"] = str(self.expect_workers)
        return out


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
    stopped_by: str | None = None
    """The signal that stopped the load before its end (`SIGTERM`...), else None."""


def execute(
    plan: RunPlan,
    collectors: Sequence[Collector] = (),
    console: Console | None = None,
    on_verdicts: Callable[[list[Verdict], float], None] | None = None,
    clock: Callable[[], float] = time.time,
    stop: StopRequest | None = None,
) -> RunResult:
    """Raises RunBroken (exit 3) when the target or Redis does not answer, before any load.
    A `stop` request (a signal: loadtest.stopping) ends the load early: Locust's whole
    process group is asked to stop, then killed after LOCUST_STOP_GRACE seconds, and the
    run is recorded `aborted` with the data it has."""
    console = console or Console()
    stop = stop or StopRequest()
    preflight(Reachability(plan.target, plan.redis_url))
    locator = store_locator(plan.store_path)
    with Store.open(locator) as store:
        run = _record_run(store, plan, clock)
        out_dir = plan.runs_dir / run.id
        options = _locust_options(plan, out_dir)
        stream = LocustStream(options.stats_file)
        engine, collectors = _open_alerts(plan, locator, run, collectors)
        monitor = Monitor(store, run, plan.budgets, collectors, stream, on_verdicts, engine)
        if stop.requested:  # a signal before any load: record it, start nothing
            store.finish_run(run.id, clock(), "aborted")
            info = store.get_run(run.id)
            return RunResult(info, out_dir, stop.reason, 0, 0, 0, [], engine, stop.name)
        locust = LocustProcess(options, out_dir / "locust.log")
        aborted, code = _load(plan, run, locust, stream, monitor, console, clock, stop)
        return RunResult(
            store.get_run(run.id),
            out_dir,
            aborted,
            code,
            stream.total_requests,
            stream.total_failures,
            monitor.last_verdicts,
            engine,
            stop.name if aborted is not None and aborted == stop.reason else None,
        )


def _record_run(store: Store, plan: RunPlan, clock: Callable[[], float]) -> RunInfo:
    """The run in the store, with what like-for-like comparisons and people need to know
    about where and how it ran."""
    commit, branch = git_info()
    return store.create_run(
        started_at=clock(),
        scenario=plan.scenario,
        git_commit=commit,
        git_branch=branch,
        config_hash=config_hash(plan),
        environment={**fingerprint(), **plan.load_environment(), **load_identity_of(plan)},
    )


def _locust_options(plan: RunPlan, out_dir: Path) -> LocustOptions:
    return LocustOptions(
        plan.target,
        out_dir,
        plan.scenario,
        plan.users,
        plan.duration,
        plan.peak_multiplier,
        plan.locustfile,
        plan.processes,
        arrival=plan.arrival,
        pool=plan.pool,
        expect_workers=plan.expect_workers,
        master_bind=plan.master_bind,
        workers_wait=plan.workers_wait,
    )


def _open_alerts(
    plan: RunPlan, locator: StoreLocator, run: RunInfo, collectors: Sequence[Collector]
) -> tuple[AlertEngine | None, Sequence[Collector]]:
    """The run's alert engine (when alerting is configured), and the collectors with its
    metrics among them: they are collected like any source, so their series is stored."""
    if plan.alerts is None:
        return None, collectors
    metrics = AlertMetrics()
    engine = AlertEngine.open(plan.alerts, store_path=locator, run_id=run.id, metrics=metrics)
    return engine, [*collectors, metrics]


def _load(
    plan: RunPlan,
    run: RunInfo,
    locust: LocustProcess,
    stream: LocustStream,
    monitor: Monitor,
    console: Console,
    clock: Callable[[], float],
    stop: StopRequest,
) -> tuple[str | None, int]:
    """Run Locust under the monitor and record how the run ended. Returns why it stopped
    early (or None) and Locust's exit code. A run that sent no request is broken (RunBroken,
    with the end of Locust's log); so is one whose driving loop raised (re-raised)."""
    try:
        locust.start()
        aborted = _drive(plan, run, locust, monitor, console, clock, stop)
    except BaseException:
        locust.stop()
        locust.wait()
        monitor.store.finish_run(run.id, clock(), "broken")
        if monitor.alerts is not None:
            monitor.alerts.finish("broken", plan.alerts_drain)
        raise
    code = locust.wait()
    status = "aborted" if aborted else "finished"
    if stream.total_requests == 0 and not aborted:
        status = "broken"
    monitor.finish(clock(), status)  # after the backlog, if the store was away
    if status == "broken":
        if monitor.alerts is not None:
            monitor.alerts.finish("broken", plan.alerts_drain)
        raise RunBroken(
            f"the run broke: Locust sent no request (exit {code}); its log "
            f"({locust.log_path}) ends with:\n{locust.log_tail(1500)}"
        )
    return aborted, code


def _drive(
    plan: RunPlan,
    run: RunInfo,
    locust: LocustProcess,
    monitor: Monitor,
    console: Console,
    clock: Callable[[], float],
    stop: StopRequest,
) -> str | None:
    """Tick the monitor once a second (live view, abort budgets) until Locust has exited.
    Returns why the load stopped early (an abort budget, a signal), or None. Once asked to
    stop, Locust gets LOCUST_STOP_GRACE seconds before its process group is killed."""
    title = f"castiel run {run.id} - {plan.scenario}, {plan.load_description()}, {plan.duration:g}s"
    live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
    next_line = 0.0
    store_down = False
    aborted: str | None = None
    stopping_since: float | None = None
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
            why = result.abort or stop.reason
            if why and aborted is None:
                aborted = why
                console.print(f"[bold red]aborting:[/] {aborted}")
                locust.stop()
                stopping_since = time.monotonic()
            if not running:
                return aborted
            if stopping_since is not None and time.monotonic() - stopping_since > LOCUST_STOP_GRACE:
                locust.kill()
            pause = max(0.0, plan.interval - (clock() - result.now))
            if aborted is None:
                stop.sleep(pause)  # wakes at once on a signal
            else:
                time.sleep(pause)


def _store_note(error: str | None, backlog: int) -> str:
    if error is None:
        return "[green]the store is back[/]: everything collected meanwhile is written"
    return (
        f"[yellow]the store is unavailable[/] ({error}); collected data waits in memory "
        f"({backlog} batch(es)) and is written when it is back"
    )


# --- what a run records about where and how it ran ----------------------------------------------


def git_info() -> tuple[str | None, str | None]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], capture_output=True, text=True, timeout=5, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None

    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch in (None, "HEAD"):  # detached, as CI checkouts are: the CI knows the branch
        branch = ci_branch(os.environ)
    return git("rev-parse", "HEAD"), branch


CI_BRANCH_VARIABLES = (
    "GITHUB_HEAD_REF",  # GitHub Actions, pull requests: the source branch
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",  # GitLab CI, merge request pipelines
    "CI_COMMIT_BRANCH",  # GitLab CI, branch pipelines
    "GITHUB_REF_NAME",  # GitHub Actions, pushes
)


def ci_branch(env: Mapping[str, str]) -> str | None:
    """The branch a CI job builds, when git itself is on a detached HEAD."""
    return next((env[v] for v in CI_BRANCH_VARIABLES if env.get(v)), None)


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
        plan.load_description(),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def load_identity_of(plan: RunPlan) -> dict[str, str]:
    """What like-for-like baseline selection compares (budgets.baseline_select)."""
    return load_identity(
        users=plan.users,
        peak_multiplier=plan.peak_multiplier,
        duration=plan.duration,
        locustfile=plan.locustfile.read_bytes(),
        target=plan.target,
        budgets_text=plan.budgets_text,
        arrival=plan.arrival.describe() if plan.arrival else "none",
    )

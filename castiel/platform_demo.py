"""`castiel demo`: the whole platform on this machine, started and cleaned up by itself.

A redis-server of its own (free port, AOF under .castiel/demo/), the example service
(uvicorn), two worker processes (stock reservations and order fulfilment, the two queues of
the order flow), the dashboard, and a load test of the normal scenario with
examples/budgets.yaml. It prints the URLs, shows the live view and the verdict, and stops
every process it started on exit, Ctrl-C, SIGTERM or SIGHUP; each of them also gets SIGTERM
if the demo itself is killed (loadtest.stopping)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from castiel.errors import EXIT_BUDGET_FAILED, EXIT_INCONCLUSIVE, EXIT_PASS
from castiel.redis_server import RedisServer, free_port
from loadtest.stopping import StopRequest, die_with_parent, spawn_detached, stop_on_signals
from runtime.errors import RunBroken

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = ROOT / "examples" / "budgets.yaml"


@dataclass
class PlatformDemoOptions:
    duration: float = 75.0
    users: int = 20
    data_dir: Path = Path(".castiel/demo")
    dashboard: bool = True


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunBroken(f"a demo process exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.2)
    raise RunBroken(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every background process the demo starts; stopped (SIGTERM to each one's session,
    SIGKILL after 30 s) on the way out, whatever the way out is."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


RUN_STOP_TIMEOUT = 90.0
"""After a forwarded signal, how long `castiel run` gets to stop Locust, write its reports and
resolve its alerts (it bounds itself well below this) before it is killed."""


def run_platform_demo(o: PlatformDemoOptions) -> int:
    """SIGTERM, SIGINT (Ctrl-C) and SIGHUP stop the load test first (forwarded to its
    `castiel run`, which records the run `aborted` and writes its reports), then every other
    process the demo started; the exit code is then 128 + the signal number."""
    with stop_on_signals() as stop:
        return _platform_demo(o, stop)


def _platform_demo(o: PlatformDemoOptions, stop: StopRequest) -> int:
    data = o.data_dir.resolve()
    shutil.rmtree(data, ignore_errors=True)  # each demo starts from empty data
    data.mkdir(parents=True)
    logs = data / "logs"
    logs.mkdir()
    redis = RedisServer(data / "redis", appendonly=True, detach=True).start()
    env = {**os.environ, "CASTIEL_REDIS_URL": redis.url, "PYTHONPATH": str(ROOT)}

    def spawn(name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (logs / f"{name}.log").open("wb")
        return spawn_detached(
            [sys.executable, *argv], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    try:
        with _processes() as procs:
            urls = _start_background(o, data, redis.url, spawn, procs)
            code = stop.exit_code
            if not stop.requested:  # not stopped while starting
                _print_urls(redis.url, urls, data, logs)
                code = _load_test(urls["service"], data, redis.url, o, env, stop)
                # Run ids start with their UTC start time: the newest sorts last.
                run_dirs = sorted(p for p in (data / "runs").glob("*") if p.is_dir())
                if run_dirs:
                    print(f"\nreports: {run_dirs[-1]}/ (report.html, junit.xml, report.md, ...)")
            if stop.requested:
                print(f"{stop.reason}: stopping every process the demo started")
                return stop.exit_code
            # The demo's exit code is the run's: a failing or inconclusive demo is not a pass.
            if code == EXIT_PASS:
                print("verdict: PASS")
            elif code == EXIT_BUDGET_FAILED:
                print("verdict: FAIL - some budgets failed (see the table above)")
            elif code == EXIT_INCONCLUSIVE:
                print("verdict: INCONCLUSIVE - the run's numbers cannot be trusted (see above)")
            else:
                print(f"the run broke (exit {code}); see {logs}")
            return code
    finally:
        redis.stop()


def _start_background(
    o: PlatformDemoOptions,
    data: Path,
    redis_url: str,
    spawn: Callable[..., subprocess.Popen[bytes]],
    procs: list[subprocess.Popen[bytes]],
) -> dict[str, str]:
    """The example service, two workers and (unless disabled) the dashboard; their URLs."""
    port = free_port()
    service_url = f"http://127.0.0.1:{port}"
    procs.append(
        spawn(
            "service",
            *("-m", "examples.service", "--port", str(port), "--redis", redis_url),
            *("--db", str(data / "example.db")),
        )
    )
    for worker in ("StockWorker", "OrderWorker"):
        procs.append(
            spawn(
                worker,
                *("-m", "castiel", "worker", f"examples.jobs:{worker}", "--redis", redis_url),
                *("--metrics-port", str(free_port())),
            )
        )
    urls = {"service": service_url}
    if o.dashboard:
        dport = free_port()
        urls["dashboard"] = f"http://127.0.0.1:{dport}"
        procs.append(
            spawn(
                "dashboard",
                *("-m", "castiel", "dashboard", "--store", str(data / "castiel.db")),
                *("--port", str(dport)),
            )
        )
    _wait_http(service_url + "/health", 30, procs[0])
    return urls


def _print_urls(redis_url: str, urls: dict[str, str], data: Path, logs: Path) -> None:
    service_url = urls["service"]
    print(f"redis-server    {redis_url}  (AOF under {data / 'redis'})")
    print(f"example service {service_url}  (metrics: {service_url}/metrics)")
    print("workers         2 processes: examples.jobs:StockWorker, OrderWorker")
    if "dashboard" in urls:
        print(f"dashboard       {urls['dashboard']}  (Live run page while the test runs)")
    print(f"logs            {logs}", flush=True)


def _load_test(
    service_url: str,
    data: Path,
    redis_url: str,
    o: PlatformDemoOptions,
    env: dict[str, str],
    stop: StopRequest,
) -> int:
    """`castiel run` in the foreground (its live view on this terminal); a stop signal is
    forwarded to it, and it gets RUN_STOP_TIMEOUT seconds to wind down."""
    argv = [
        *(sys.executable, "-m", "castiel", "run", "--target", service_url),
        *("--budgets", str(BUDGETS), "--scenario", "normal", "--users", str(o.users)),
        *("--duration", f"{o.duration:g}s", "--redis", redis_url),
        *("--metrics", service_url + "/metrics", "--store", str(data / "castiel.db")),
        *("--runs-dir", str(data / "runs")),
    ]
    run = subprocess.Popen(argv, cwd=ROOT, env=env, preexec_fn=die_with_parent())  # noqa: PLW1509
    while run.poll() is None and not stop.sleep(0.5):
        pass
    if stop.requested and run.poll() is None:
        assert stop.signum is not None
        run.send_signal(stop.signum)  # Ctrl-C reached it already; a second one is ignored
        try:
            run.wait(RUN_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            run.kill()
    return run.wait()

"""`castiel demo`: the whole platform on this machine, started and cleaned up by itself.

A redis-server of its own (free port, AOF under .castiel/demo/), the example service
(uvicorn), two worker processes (stock reservations and order fulfilment, the two queues of
the order flow), the dashboard, and a load test of the normal scenario with
examples/budgets.yaml. It prints the URLs, shows the live view and the verdict, and stops
every process it started on exit or Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from castiel.errors import EXIT_BUDGET_FAILED, EXIT_INCONCLUSIVE, EXIT_PASS
from castiel.redis_server import RedisServer, free_port

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
            raise RuntimeError(f"a demo process exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_platform_demo(o: PlatformDemoOptions) -> int:
    data = o.data_dir.resolve()
    shutil.rmtree(data, ignore_errors=True)  # each demo starts from empty data
    data.mkdir(parents=True)
    logs = data / "logs"
    logs.mkdir()
    redis = RedisServer(data / "redis", appendonly=True).start()
    env = {**os.environ, "CASTIEL_REDIS_URL": redis.url, "PYTHONPATH": str(ROOT)}

    def spawn(name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (logs / f"{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    try:
        with _processes() as procs:
            port = free_port()
            service_url = f"http://127.0.0.1:{port}"
            procs.append(
                spawn(
                    "service",
                    "-m",
                    "examples.service",
                    "--port",
                    str(port),
                    "--redis",
                    redis.url,
                    "--db",
                    str(data / "example.db"),
                )
            )
            for worker in ("StockWorker", "OrderWorker"):
                procs.append(
                    spawn(
                        worker,
                        "-m",
                        "castiel",
                        "worker",
                        f"examples.jobs:{worker}",
                        "--redis",
                        redis.url,
                        "--metrics-port",
                        str(free_port()),
                    )
                )
            store = data / "castiel.db"
            dashboard_url = None
            if o.dashboard:
                dport = free_port()
                dashboard_url = f"http://127.0.0.1:{dport}"
                procs.append(
                    spawn(
                        "dashboard",
                        "-m",
                        "castiel",
                        "dashboard",
                        "--store",
                        str(store),
                        "--port",
                        str(dport),
                    )
                )
            _wait_http(service_url + "/health", 30, procs[0])
            print(f"redis-server    {redis.url}  (AOF under {data / 'redis'})")
            print(f"example service {service_url}  (metrics: {service_url}/metrics)")
            print("workers         2 processes: examples.jobs:StockWorker, OrderWorker")
            if dashboard_url:
                print(f"dashboard       {dashboard_url}  (Live run page while the test runs)")
            print(f"logs            {logs}", flush=True)
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "castiel",
                    "run",
                    "--target",
                    service_url,
                    "--budgets",
                    str(BUDGETS),
                    "--scenario",
                    "normal",
                    "--users",
                    str(o.users),
                    "--duration",
                    f"{o.duration:g}s",
                    "--redis",
                    redis.url,
                    "--metrics",
                    service_url + "/metrics",
                    "--store",
                    str(store),
                    "--runs-dir",
                    str(data / "runs"),
                ],
                cwd=ROOT,
                env=env,
                check=False,
            )
            # Run ids start with their UTC start time: the newest sorts last.
            run_dirs = sorted(p for p in (data / "runs").glob("*") if p.is_dir())
            if run_dirs:
                print(f"\nreports: {run_dirs[-1]}/ (report.html, junit.xml, report.md, ...)")
            # The demo's exit code is the run's: a failing or inconclusive demo is not a pass.
            if result.returncode == EXIT_PASS:
                print("verdict: PASS")
            elif result.returncode == EXIT_BUDGET_FAILED:
                print("verdict: FAIL - some budgets failed (see the table above)")
            elif result.returncode == EXIT_INCONCLUSIVE:
                print("verdict: INCONCLUSIVE - the run's numbers cannot be trusted (see above)")
            else:
                print(f"the run broke (exit {result.returncode}); see {logs}")
            return result.returncode
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process the demo started")
        return 130
    finally:
        redis.stop()

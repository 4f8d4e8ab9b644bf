"""Locust's request rate against the same target with and without the Castiel monitor
attached, alternating in one run (bare, monitored, bare, monitored, ...).

    .venv/bin/python bench/monitor_overhead.py [--rounds 3] [--seconds 15] [--users 20]

"Monitored" is a full `castiel run`: the reporter plugin inside Locust, the monitor process
tailing its stats every second into the SQLite store and evaluating budgets live. The target
is the example service's /health on uvicorn, with a locustfile that never waits, so Locust
is the bottleneck and any cost of the monitor shows. Target: monitored >= 97% of bare."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer, free_port  # noqa: E402

LOCUSTFILE = ROOT / "bench" / "locust_health.py"
BUDGETS = """version: 1
budgets:
  - name: health p95
    metric: locust_request_duration_seconds
    aggregation: p95
    fail: "< 1s"
  - name: failures
    metric: locust_failures_total
    aggregation: count
    fail: "< 1000000"
"""


def rps(locust_json: Path) -> float:
    entries = json.loads(locust_json.read_text())
    total = sum(e["num_requests"] for e in entries)
    start = min(e["start_time"] for e in entries)
    end = max(e["last_request_timestamp"] for e in entries)
    return total / max(1e-9, end - start)


def bare(target: str, out: Path, users: int, seconds: float) -> float:
    out.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-H",
            target,
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds:g}s",
            "--json-file",
            str(out / "locust"),
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        check=True,
        capture_output=True,
        timeout=seconds + 60,
    )
    return rps(out / "locust.json")


def monitored(target: str, out: Path, users: int, seconds: float) -> float:
    out.mkdir(parents=True)
    budgets = out / "budgets.yaml"
    budgets.write_text(BUDGETS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "castiel",
            "run",
            "--target",
            target,
            "-f",
            str(LOCUSTFILE),
            "--users",
            str(users),
            "--duration",
            f"{seconds:g}s",
            "--budgets",
            str(budgets),
            "--store",
            str(out / "store.db"),
            "--runs-dir",
            str(out / "runs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"castiel run failed ({result.returncode}):\n{result.stderr}")
    (run_dir,) = list((out / "runs").iterdir())
    return rps(run_dir / "locust.json")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="castiel-bench-"))
    redis = RedisServer(tmp / "redis").start()
    port = free_port()
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "examples.service",
            "--port",
            str(port),
            "--redis",
            redis.url,
            "--db",
            str(tmp / "db.sqlite"),
        ],
        cwd=ROOT,
    )
    target = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(target + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        results: dict[str, list[float]] = {"bare": [], "monitored": []}
        for i in range(args.rounds):
            for mode, fn in (("bare", bare), ("monitored", monitored)):
                value = fn(target, tmp / f"{mode}-{i}", args.users, args.seconds)
                results[mode].append(value)
                console.print(f"round {i + 1} {mode:9s} {value:8,.0f} req/s")
    finally:
        service.terminate()
        service.wait(10)
        redis.stop()
    table = Table(
        title=f"Locust request rate, {args.users} users, {args.seconds:g} s per run, "
        f"{args.rounds} alternating rounds"
    )
    for col in ("mode", "median req/s", "runs"):
        table.add_column(col)
    for mode, values in results.items():
        table.add_row(
            mode, f"{statistics.median(values):,.0f}", ", ".join(f"{v:,.0f}" for v in values)
        )
    console.print(table)
    ratio = statistics.median(results["monitored"]) / statistics.median(results["bare"])
    console.print(f"monitored / bare = {ratio:.1%} (target >= 97%)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()

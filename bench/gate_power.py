"""How trustworthy is the baseline gate? False alarms on unchanged code, and power against a
real regression, with the example service and the example's budgets.

    .venv/bin/python bench/gate_power.py [--pairs 10] [--seconds 20] [--users 10]
                                         [--regression 25%] [--endpoint "POST /orders"]

Each pair is two short `castiel run`s of the normal scenario, each against a freshly started
example service (its own SQLite file; one redis-server and two workers throughout), then
`castiel check --run B --baseline A`:
* **A/A pairs**: both services identical. Any baseline FAIL is a false alarm.
* **Regression pairs**: B's service runs with `--slow "POST /orders=25%"`, so that endpoint
  answers 25 % later. The gate should fail that endpoint's comparisons, and no other.
A/A and regression pairs alternate, so both see the same machine.

Budgets: examples/budgets.yaml with a baseline comparison on every budget (the file's own
settings where it has one, the defaults elsewhere, `max_increase` 10 % unless `--max-increase`
says otherwise) and the chunk length left to its default (the evaluated span / 20, at least
1 s), so short runs have enough chunks to test. Goals: at most 1 of 10 A/A pairs with a
baseline FAIL; at least 9 of 10 regression pairs failing the endpoint's budgets and no other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer, free_port  # noqa: E402

EXAMPLE = ROOT / "examples" / "budgets.yaml"


def derived_budgets(out: Path, max_increase: str | None) -> Path:
    """The example's budgets, each with a baseline comparison."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    for b in doc["budgets"]:
        spec = b.get("baseline")
        spec = {} if spec in (None, True) else dict(spec)
        spec.pop("chunk", None)
        if max_increase is not None:
            spec.pop("max_regression", None)
            spec["max_increase"] = max_increase
        b["baseline"] = spec
    path = out / "budgets-with-baselines.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def service(redis_url: str, db: Path, slow: str | None) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "examples.service", "--port", str(port), "--redis", redis_url]
    argv += ["--db", str(db)]
    if slow:
        argv += ["--slow", slow]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


@contextmanager
def workers(redis_url: str, logs: Path) -> Iterator[None]:
    procs = []
    for name in ("StockWorker", "OrderWorker"):
        log = (logs / f"{name}.log").open("wb")
        argv = [sys.executable, "-m", "castiel", "worker", f"examples.jobs:{name}"]
        argv += ["--redis", redis_url, "--metrics-port", str(free_port())]
        procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


@dataclass
class Bench:
    tmp: Path
    budgets: Path
    redis_url: str
    seconds: float
    users: int
    store: Path = field(init=False)

    def __post_init__(self) -> None:
        self.store = self.tmp / "store.db"

    def run(self, label: str, slow: str | None) -> str:
        """One `castiel run` against a fresh service; returns the run id."""
        before = set((self.tmp / "runs").glob("*")) if (self.tmp / "runs").exists() else set()
        with service(self.redis_url, self.tmp / f"{label}.sqlite", slow) as target:
            argv = [sys.executable, "-m", "castiel", "run", "--target", target]
            argv += ["--budgets", str(self.budgets), "--store", str(self.store)]
            argv += ["--runs-dir", str(self.tmp / "runs"), "--baseline", "none"]
            argv += ["--duration", f"{self.seconds:g}s", "--users", str(self.users)]
            argv += ["--redis", self.redis_url, "--metrics", target + "/metrics"]
            result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode not in (0, 1, 4):
            raise RuntimeError(f"castiel run exited {result.returncode}:\n{result.stderr}")
        (new,) = set((self.tmp / "runs").glob("*")) - before
        return new.name

    def compare(self, baseline: str, current: str) -> list[dict[str, Any]]:
        out = self.tmp / f"check-{current}.json"
        argv = [sys.executable, "-m", "castiel", "check", "--budgets", str(self.budgets)]
        argv += ["--store", str(self.store), "--run", current, "--baseline", baseline]
        argv += ["--no-record", "--json", str(out)]
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode not in (0, 1, 4):
            raise RuntimeError(f"castiel check exited {result.returncode}:\n{result.stderr}")
        report: dict[str, Any] = json.loads(out.read_text())
        return list(report["verdicts"])


def on_endpoint(verdict: dict[str, Any], route: str, method: str) -> bool:
    group: dict[str, str] = verdict["group"]
    return group.get("route") == route and group.get("method", method) == method


def includes_endpoint(verdict: dict[str, Any]) -> bool:
    """A whole-service budget over HTTP requests: the slowed endpoint is part of it."""
    metric: str = verdict["metric"]
    return "route" not in verdict["group"] and metric.startswith("castiel_http_")


@dataclass
class Pair:
    kind: str
    baseline: str
    current: str
    failed: list[str]
    endpoint_failed: bool
    other_failed: list[str]
    tested: int


def judge(kind: str, a: str, b: str, verdicts: list[dict[str, Any]], endpoint: str) -> Pair:
    method, _, route = endpoint.rpartition(" ")
    failed, other, hit = [], [], False
    tested = 0
    for v in verdicts:
        base = v.get("baseline") or {}
        if base.get("p_value") is not None:
            tested += 1
        if base.get("outcome") != "fail":
            continue
        title = v["budget"] + (f" {v['group']}" if v["group"] else "")
        failed.append(title)
        if on_endpoint(v, route, method or "POST"):
            hit = True
        elif not includes_endpoint(v):
            other.append(title)
    return Pair(kind, a, b, failed, hit, other, tested)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=10, help="pairs of each kind (10)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each run (20)")
    parser.add_argument("--users", type=int, default=10, help="Locust users (10)")
    parser.add_argument("--regression", default="25%", help="slowdown of the endpoint (25%%)")
    parser.add_argument("--endpoint", default="POST /orders", help="the slowed endpoint")
    parser.add_argument("--max-increase", help="override every budget's max_increase")
    parser.add_argument("--json", type=Path, help="also write the pairs here")
    args = parser.parse_args()
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="castiel-gate-power-"))
    (tmp / "logs").mkdir()
    budgets = derived_budgets(tmp, args.max_increase)
    redis = RedisServer(tmp / "redis").start()
    pairs: list[Pair] = []
    started = time.monotonic()
    try:
        with workers(redis.url, tmp / "logs"):
            bench = Bench(tmp, budgets, redis.url, args.seconds, args.users)
            for i in range(args.pairs):
                for kind, slow in (
                    ("A/A", None),
                    ("regression", f"{args.endpoint}={args.regression}"),
                ):
                    a = bench.run(f"{i}-{kind[0]}-a", None)
                    b = bench.run(f"{i}-{kind[0]}-b", slow)
                    pair = judge(kind, a, b, bench.compare(a, b), args.endpoint)
                    pairs.append(pair)
                    console.print(
                        f"pair {i + 1} {kind:10s} tested {pair.tested:2d}, baseline FAIL: "
                        f"{', '.join(pair.failed) or '-'}"
                    )
    finally:
        redis.stop()
    report(console, pairs, args, time.monotonic() - started)
    if args.json:
        args.json.write_text(json.dumps([p.__dict__ for p in pairs], indent=2))


def report(console: Console, pairs: list[Pair], args: argparse.Namespace, took: float) -> None:
    aa = [p for p in pairs if p.kind == "A/A"]
    reg = [p for p in pairs if p.kind == "regression"]
    false_alarms = sum(1 for p in aa if p.failed)
    caught = sum(1 for p in reg if p.endpoint_failed and not p.other_failed)
    table = Table(
        title=f"Baseline gate: {len(aa)} A/A and {len(reg)} regression pairs "
        f"({args.regression} on {args.endpoint}), {args.seconds:g} s runs, {args.users} users"
    )
    for col in ("kind", "pairs", "result", "goal"):
        table.add_column(col)
    table.add_row("A/A", str(len(aa)), f"{false_alarms} with a baseline FAIL", "<= 1")
    table.add_row(
        "regression",
        str(len(reg)),
        f"{caught} failed the endpoint and nothing else "
        f"({sum(p.endpoint_failed for p in reg)} failed the endpoint)",
        ">= 9",
    )
    console.print(table)
    tested = [p.tested for p in pairs]
    console.print(
        f"comparisons tested per pair: {min(tested)}-{max(tested)}; took {took / 60:.1f} min"
    )


if __name__ == "__main__":
    main()

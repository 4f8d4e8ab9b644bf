"""Which way of asking Locust for a rate keeps it: Locust's own `constant_throughput` (each
of U users paces itself to rate/U iterations per second: a closed loop with pacing) against
Castiel's open-model pacing (`castiel run --arrival-rate`: a dispenser starts iterations at
their due times and hands them to idle users of the pool, dropping and counting those with
none), side by side in one run, rounds alternating.

    .venv/bin/python bench/arrival_rate.py [--rounds 2] [--seconds 15] [--rate 50] [--users 10]

Two targets, both local HTTP servers: a fast one (answers at once) and a slow one (every
answer takes 300 ms, so U users can carry at most U / 0.3 iterations/s); Castiel's pool
once fixed at U users and once allowed to grow to 4 U (`--max-users`). Reported per
variant and target: the achieved request rate (Locust's own count over the run), the median
and p99 latency Locust recorded, and the iterations the generator could not start."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.loadtest.slow_server import slow_server  # noqa: E402

BUDGETS = "version: 1\nbudgets:\n  - {name: n, metric: locust_requests_total, aggregation: count, fail: '>= 0'}\n"  # noqa: E501
THROUGHPUT_FILE = """
from locust import FastHttpUser, constant_throughput, task
class Paced(FastHttpUser):
    wait_time = constant_throughput({per_user})
    @task
    def hit(self):
        self.client.get("/", name="/")
"""
PACED_FILE = ROOT / "tests" / "loadtest" / "locustfiles" / "paced.py"


def summary(locust_json: Path, seconds: float) -> tuple[float, float, float]:
    """(requests/s over the planned duration, p50 ms, p99 ms) from Locust's own JSON."""
    entries = json.loads(locust_json.read_text())
    counts: dict[int, int] = {}
    for e in entries:
        for ms, n in e["response_times"].items():
            counts[int(ms)] = counts.get(int(ms), 0) + n
    total = sum(counts.values())

    def pct(q: float) -> float:
        seen = 0
        for ms in sorted(counts):
            seen += counts[ms]
            if seen >= q * total:
                return float(ms)
        return float("nan")

    return total / seconds, pct(0.5), pct(0.99)


def locust_throughput(target: str, out: Path, rate: float, users: int, seconds: float) -> dict:  # type: ignore[type-arg]
    out.mkdir(parents=True)
    lf = out / "throughput.py"
    lf.write_text(THROUGHPUT_FILE.format(per_user=rate / users))
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(lf), "--headless", "-H", target,
         "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s",
         "--json-file", str(out / "locust"), "--only-summary", "--loglevel", "ERROR"],
        check=False, capture_output=True, timeout=seconds + 60,
    )  # fmt: skip
    achieved, p50, p99 = summary(out / "locust.json", seconds)
    return {"rate": achieved, "p50": p50, "p99": p99, "dropped": None}


def castiel_pacing(
    target: str, out: Path, rate: float, users: int, seconds: float, max_users: int = 0
) -> dict:  # type: ignore[type-arg]
    out.mkdir(parents=True)
    (out / "budgets.yaml").write_text(BUDGETS)
    subprocess.run(
        [sys.executable, "-m", "castiel", "run", "--target", target,
         "--budgets", str(out / "budgets.yaml"), "-f", str(PACED_FILE),
         "--arrival-rate", f"{rate:g}", "--duration", f"{seconds:g}s", "--users", str(users),
         "--max-users", str(max(users, max_users)),
         "--store", str(out / "store.db"), "--runs-dir", str(out / "runs")],
        check=False, capture_output=True, timeout=seconds + 90, cwd=ROOT,
    )  # fmt: skip
    (run_dir,) = list((out / "runs").iterdir())
    achieved, p50, p99 = summary(run_dir / "locust.json", seconds)
    dropped = 0
    for line in (run_dir / "locust-stats.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "slice":
            dropped += int(record.get("counters", {}).get("dropped", 0))
    return {"rate": achieved, "p50": p50, "p99": p99, "dropped": dropped}


def castiel_growing(target: str, out: Path, rate: float, users: int, seconds: float) -> dict:  # type: ignore[type-arg]
    return castiel_pacing(target, out, rate, users, seconds, max_users=4 * users)


VARIANTS = {
    "locust constant_throughput": locust_throughput,
    "castiel --arrival-rate": castiel_pacing,
    "castiel --arrival-rate, pool may grow 4x": castiel_growing,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[dict]] = {}  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        for target_name, delay in (("fast (0 ms)", 0.0), ("slow (300 ms)", 0.3)):
            with slow_server(delay) as target:
                for r in range(args.rounds):
                    for name, fn in VARIANTS.items():
                        out = Path(tmp) / f"{target_name[:4]}-{r}-{len(name)}"
                        results.setdefault((target_name, name), []).append(
                            fn(target, out, args.rate, args.users, args.seconds)
                        )
    table = Table(title=f"target {args.rate:g} iterations/s, {args.users} users, "
                  f"{args.seconds:g} s, median of {args.rounds} rounds")  # fmt: skip
    for col in ("target", "variant", "achieved req/s", "p50 ms", "p99 ms", "dropped"):
        table.add_column(col, justify="left" if col in ("target", "variant") else "right")
    for (target_name, name), rows in results.items():
        dropped = [r["dropped"] for r in rows if r["dropped"] is not None]
        table.add_row(
            target_name,
            name,
            f"{statistics.median(r['rate'] for r in rows):.1f}",
            f"{statistics.median(r['p50'] for r in rows):.0f}",
            f"{statistics.median(r['p99'] for r in rows):.0f}",
            f"{statistics.median(dropped):.0f}" if dropped else "(not counted)",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

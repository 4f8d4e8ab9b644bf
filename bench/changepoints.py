"""Change point detection: Castiel's (budgets/changepoints.py) beside Apache Otava's own code on
the same synthetic run histories: false change points in flat histories, one slow run, steps
found within one run of the truth, and milliseconds per history.

    .venv/bin/python bench/changepoints.py [--histories 300]

Otava runs in a venv of its own under .venv/peers/otava (created on first use: apache-otava
pins numpy 2.2 and scipy < 1.17, which the platform's venv must not be downgraded to), with
its defaults (window 50, max p 0.001) and with Castiel's p (1e-4).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from budgets.changepoints import detect

OTAVA_REQUIREMENT = "apache-otava==0.8.0"
VENV = Path(__file__).resolve().parents[1] / ".venv" / "peers" / "otava"
PYTHON = VENV / "bin" / "python"
OTAVA = """
import json, sys, time
from otava.analysis import compute_change_points
out = []
for job in json.load(sys.stdin):
    t = time.perf_counter()
    cps, _ = compute_change_points(job["values"], window_len=50, max_pvalue=job["max_p"])
    out.append({"found": [int(c.index) for c in cps], "s": time.perf_counter() - t})
json.dump(out, sys.stdout)
"""


def ensure_otava() -> None:
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", OTAVA_REQUIREMENT], check=True)


def corpora(n: int) -> dict[str, list[tuple[list[float], list[int]]]]:
    """name -> [(values, true change indexes)]: noise of 5 % of the level."""

    def noise(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
        if kind == "t3":
            return 100 + rng.standard_t(3, size) * 3
        if kind == "lognormal":
            return 100 * np.exp(rng.normal(0, 0.05, size))
        return rng.normal(100, 5, size)

    out: dict[str, list[tuple[list[float], list[int]]]] = {}
    for kind in ("gaussian", "lognormal", "t3"):
        out[f"flat 50 runs, {kind}"] = [
            (noise(kind, np.random.default_rng(s), 50).tolist(), []) for s in range(n)
        ]
    slow = []
    for s in range(n):
        values = noise("gaussian", np.random.default_rng(10_000 + s), 50)
        values[[0, 1, 25, 48, 49][s % 5]] *= 1.6
        slow.append((values.tolist(), []))
    out["one slow run (x1.6)"] = slow
    steps = []
    for s in range(n):
        rng = np.random.default_rng(20_000 + s)
        level = np.full(60, 100.0)
        for at, size in ((15, 0.25), (32, -0.20), (45, 0.30)):
            level[at:] *= 1 + size
        steps.append(((level * (1 + rng.normal(0, 0.05, 60))).tolist(), [15, 32, 45]))
    out["steps +25 %, -20 %, +30 % at 15, 32, 45"] = steps
    return out


def score(found: list[list[int]], truth: list[list[int]]) -> tuple[int, int, int]:
    """(histories with a false change point, true changes found within one run, true changes)."""
    false = hit = total = 0
    for f, t in zip(found, truth, strict=True):
        matched = {x for x in f if any(abs(x - y) <= 1 for y in t)}
        false += len(set(f) - matched) > 0
        hit += sum(1 for y in t if any(abs(x - y) <= 1 for x in f))
        total += len(t)
    return false, hit, total


def castiel(values: list[list[float]], max_p: float) -> tuple[list[list[int]], float]:
    t = time.perf_counter()
    found = [[c.index for c in detect(v, max_p=max_p)] for v in values]
    return found, (time.perf_counter() - t) / len(values)


def otava(values: list[list[float]], max_p: float) -> tuple[list[list[int]], float]:
    jobs = json.dumps([{"values": v, "max_p": max_p} for v in values])
    out = subprocess.run(
        [str(PYTHON), "-c", OTAVA], input=jobs, capture_output=True, text=True, check=True
    )
    rows = json.loads(out.stdout)
    return [r["found"] for r in rows], sum(r["s"] for r in rows) / len(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--histories", type=int, default=300)
    args = ap.parse_args()
    ensure_otava()
    detectors: list[tuple[str, Callable[..., tuple[list[list[int]], float]], float]] = [
        ("Castiel (p 1e-4)", castiel, 1e-4),
        ("Otava 0.8 (p 1e-3)", otava, 1e-3),
        ("Otava 0.8 (p 1e-4)", otava, 1e-4),
    ]
    print(f"{args.histories} histories per corpus\n")
    print(f"{'corpus':<42} {'detector':<20} {'false':>7} {'found':>11} {'ms/history':>11}")
    for name, items in corpora(args.histories).items():
        values = [v for v, _ in items]
        truth = [t for _, t in items]
        for label, fn, max_p in detectors:
            found, seconds = fn(values, max_p)
            false, hit, total = score(found, truth)
            hits = f"{hit}/{total}" if total else "-"
            print(f"{name:<42} {label:<20} {false:>7} {hits:>11} {seconds * 1000:>11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

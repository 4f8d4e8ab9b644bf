"""What a process pays before it does any work: importing the runtime, `castiel --help`,
`castiel worker --help`, and a worker process from exec to its first heartbeat in Redis.

    .venv/bin/python bench/cli_startup.py [--rounds 15] [--tree DIR ...] [--json out.json]

Each `--tree` is a source checkout (default: this one); every process runs in it (cwd and
PYTHONPATH), so two versions of the code can be measured side by side with the same
interpreter and packages. The trees take turns in every round (interleaved, alternating which
goes first) and the median of the rounds is reported. `import runtime` is `-X importtime`'s
cumulative figure for the `runtime` package (the interpreter's own start-up excluded); the
other figures are wall-clock from exec to exit (or to the first heartbeat), and the CPU time
(user + system) the process used, which a loaded machine disturbs less. `modules` counts what
a started worker process imported (-X importtime lines), and `platform` lists the platform
packages among them (none is the goal)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer  # noqa: E402

PLATFORM = (
    "collectors",
    "budgets",
    "alerts",
    "loadtest",
    "dashboard",
    "yaml",
    "rich",
    "pandas",
    "numpy",
    "streamlit",
    "plotly",
    "locust",
    "jsonschema",
    "httpx",
    "azure",
    "starlette",
    "uvicorn",
)


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_runtime_us(tree: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import runtime"],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "runtime":
            return int(parts[1])
    raise RuntimeError(f"no runtime line in -X importtime output:\n{out[-2000:]}")


def wall_and_cpu_ms(tree: Path, *argv: str) -> tuple[float, float]:
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "castiel", *argv],
        cwd=tree,
        env=_env(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return (time.perf_counter() - started) * 1000, (_children_cpu() - cpu) * 1000


def worker_ready_ms(tree: Path, url: str, importtime: bool = False) -> tuple[float, str]:
    client = redis.Redis.from_url(url)
    client.flushall()
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "castiel"]
    argv += ["worker", "examples.jobs:ThumbnailWorker", "--redis", url]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            argv, cwd=tree, env=_env(tree), stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            deadline = time.monotonic() + 60
            while not client.zcard("castiel:workers"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err.seek(0)
                    raise RuntimeError(f"the worker did not start:\n{err.read()[-2000:]}")
                time.sleep(0.002)
            ready = (time.perf_counter() - started) * 1000
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            client.close()
        err.seek(0)
        return ready, err.read()


def imported(importtime_log: str) -> list[str]:
    names = []
    for line in importtime_log.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and line.startswith("import time:") and parts[2] != "package":
            names.append(parts[2])
    return names


def run(trees: list[Path], rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            samples: dict[str, dict[str, list[float]]] = {str(t): {} for t in trees}
            for n in range(rounds):
                for tree in trees if n % 2 == 0 else trees[::-1]:
                    s = samples[str(tree)]
                    s.setdefault("import runtime (ms)", []).append(import_runtime_us(tree) / 1000)
                    for label, argv in (
                        ("castiel --help", ["--help"]),
                        ("castiel worker --help", ["worker", "--help"]),
                    ):
                        wall, cpu = wall_and_cpu_ms(tree, *argv)
                        s.setdefault(f"{label} (ms)", []).append(wall)
                        s.setdefault(f"{label} (CPU ms)", []).append(cpu)
                    s.setdefault("worker exec -> first heartbeat (ms)", []).append(
                        worker_ready_ms(tree, server.url)[0]
                    )
            out: dict[str, Any] = {"rounds": rounds, "python": sys.version.split()[0]}
            for tree in trees:
                _, log = worker_ready_ms(tree, server.url, importtime=True)
                names = imported(log)
                out[str(tree)] = {
                    **{k: round(statistics.median(v), 1) for k, v in samples[str(tree)].items()},
                    "worker process: modules imported": len(names),
                    "worker process: platform packages imported": sorted(
                        {n.split(".")[0] for n in names if n.split(".")[0] in PLATFORM}
                    ),
                }
            return out
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tree", type=Path, action="append", help="a source checkout (repeat)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    result = run(trees, args.rounds)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

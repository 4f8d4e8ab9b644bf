"""Queue throughput: Castiel against RQ, arq, SAQ, Dramatiq and Celery, in one run, against
one redis-server of the benchmark's own.

    .venv/bin/python bench/queue_throughput.py [--jobs 20000] [--only castiel,rq,...]

For each library, with no-op jobs: enqueue N jobs one call at a time, enqueue N jobs the
fastest documented bulk way, then process those N jobs with ONE worker process (spawned the
way its docs say). Processing is timed from when the worker has taken its first 1 % of jobs
(start-up excluded for everyone alike) until the queue is empty, polled with each library's
own counts. Redis is flushed between libraries. Peers come from the `bench` extra; arq lives
in a venv of its own (it pins redis<6) created on first use under .venv/peers/arq."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import redis
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer  # noqa: E402

PEERS = ("castiel", "rq", "arq", "saq", "dramatiq", "celery")


@dataclass
class Result:
    library: str
    settings: str
    single: float | None = None
    bulk: float | None = None
    bulk_how: str = ""
    processing: float | None = None
    error: str = ""


def _peer(name: str, url: str) -> ModuleType:
    os.environ["BENCH_REDIS_URL"] = url  # peers read it at import (broker URLs)
    return importlib.import_module(f"bench.peers.{name}_peer")


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t0


def _wait(pred, timeout: float, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(interval)


def measure(name: str, url: str, n: int, console: Console) -> Result:
    peer = _peer(name, url)
    if hasattr(peer, "ensure_venv"):
        peer.ensure_venv()
    flush = redis.Redis.from_url(url).flushall
    result = Result(name, peer.SETTINGS)
    self_timed = getattr(peer, "SELF_TIMED", False)

    flush()
    value, elapsed = _timed(peer.enqueue_single, url, n)
    result.single = n / (value if self_timed else elapsed)
    console.print(f"  {name}: enqueue single {result.single:,.0f} jobs/s")

    flush()
    value, elapsed = _timed(peer.enqueue_bulk, url, n)
    how, seconds = value if self_timed else (value, elapsed)
    result.bulk, result.bulk_how = n / seconds, how
    console.print(f"  {name}: enqueue bulk {result.bulk:,.0f} jobs/s ({how})")
    if peer.remaining(url) != n:
        raise RuntimeError(f"{name}: {peer.remaining(url)} jobs queued, expected {n}")

    env = {
        **os.environ,
        "BENCH_REDIS_URL": url,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *getattr(peer, "worker_env", lambda: {})().values()]
        ),
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    worker = subprocess.Popen(
        peer.worker_argv(url), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        first = max(1, n // 100)
        _wait(lambda: peer.remaining(url) <= n - first, timeout=120)
        t0, left0 = time.perf_counter(), peer.remaining(url)
        try:
            _wait(lambda: peer.remaining(url) == 0, timeout=max(60.0, n / 100))
        except TimeoutError:
            left = peer.remaining(url)
            result.error = f"stalled with {left} of {n} jobs left; rate until then"
            console.print(f"[red]  {name}: {result.error}[/red]")
            result.processing = (left0 - left) / (time.perf_counter() - t0)
        else:
            result.processing = left0 / (time.perf_counter() - t0)
        console.print(f"  {name}: processing {result.processing:,.0f} jobs/s")
        # A no-op that raises still empties the queue: count failures, or the rate measured
        # would be that of failing jobs.
        failed = getattr(peer, "failures", lambda _url: 0)(url)
        log.seek(0)
        tracebacks = log.read().count(b"Traceback")
        if failed or tracebacks:
            note = f"{failed} job(s) failed, {tracebacks} traceback(s) in the worker log"
            result.error = f"{result.error}; {note}" if result.error else note
            console.print(f"[red]  {name}: {note}[/red]")
    except TimeoutError:
        log.seek(0)
        result.error = log.read().decode(errors="replace")[-1500:]
        console.print(f"[red]  {name}: worker did not start[/red]\n{result.error}")
    finally:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        log.close()
    return result


def versions() -> dict[str, str]:
    """Versions of what was measured; arq's come from its own venv."""
    found = {}
    for dist in ("redis", "hiredis", "rq", "saq", "dramatiq", "celery", "kombu"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    arq_python = ROOT / ".venv" / "peers" / "arq" / "bin" / "python"
    if arq_python.exists():
        script = (
            "import importlib.metadata as m\n"
            "for d in ('arq', 'redis', 'hiredis'):\n"
            "    try: print(d, m.version(d))\n"
            "    except m.PackageNotFoundError: print(d, 'not-installed')"
        )
        out = subprocess.run(
            [str(arq_python), "-c", script], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        for line in out.splitlines():
            dist, _, version = line.partition(" ")
            found[f"arq venv: {dist}"] = version
    return found


def _ratio(castiel: float | None, peer: float | None) -> str:
    return "-" if not castiel or not peer else f"{castiel / peer:.1f}x"


def report(results: list[Result], console: Console) -> None:
    ours = next((r for r in results if r.library == "castiel"), None)
    table = Table(title="Queue throughput (jobs/s; ratio = Castiel / peer)")
    for col in (
        "library",
        "enqueue single",
        "ratio",
        "enqueue bulk",
        "ratio",
        "processing",
        "ratio",
        "settings",
    ):
        table.add_column(col, justify="left" if col in ("library", "settings") else "right")
    for r in results:
        table.add_row(
            r.library,
            f"{r.single or 0:,.0f}",
            _ratio(ours and ours.single, r.single),
            f"{r.bulk or 0:,.0f}",
            _ratio(ours and ours.bulk, r.bulk),
            f"{r.processing or 0:,.0f}" if r.processing else "failed",
            _ratio(ours and ours.processing, r.processing),
            r.settings,
        )
    console.print(table)
    peers = [r for r in results if r.library != "castiel"]
    if ours and peers:
        for field, label in (
            ("single", "enqueue single"),
            ("bulk", "enqueue bulk"),
            ("processing", "processing"),
        ):
            best = max(peers, key=lambda r: getattr(r, field) or 0)
            console.print(
                f"{label}: Castiel {getattr(ours, field) or 0:,.0f} vs best peer "
                f"{best.library} {getattr(best, field) or 0:,.0f} = "
                f"{_ratio(getattr(ours, field), getattr(best, field))}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument(
        "--only", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(PEERS)
    if unknown:
        parser.error(f"unknown libraries: {', '.join(sorted(unknown))}")
    console = Console() if sys.stdout.isatty() else Console(width=200)
    server = RedisServer(Path(tempfile.mkdtemp(prefix="castiel-bench-")) / "redis").start()
    console.print(
        f"redis-server {server.url}, {args.jobs:,} no-op jobs per library, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    try:
        results = [measure(name, server.url, args.jobs, console) for name in names]
        redis_version = redis.Redis.from_url(server.url).info("server")["redis_version"]
    finally:
        server.stop()
    report(results, console)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "jobs": args.jobs,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "versions": versions(),
    }
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    if args.json:
        args.json.write_text(
            json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2)
        )


if __name__ == "__main__":
    main()

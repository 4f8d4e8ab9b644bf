"""Queue throughput: Castiel against BullMQ, RQ, arq, SAQ, Dramatiq and Celery, in one run,
against one redis-server of the benchmark's own.

    .venv/bin/python bench/queue_throughput.py [--jobs 20000] [--rounds 3] [--only castiel,...]

Phases, with no-op jobs, for each library:
  single      N enqueue calls one at a time (the sync API where there is one, else awaited
              one by one);
  concurrent  N enqueue calls from 100 concurrent producers (asyncio tasks where the library
              has an asyncio client, else 100 threads);
  bulk        N jobs the fastest documented bulk way;
  processing  those N jobs processed by ONE worker process (spawned the way its docs say),
              timed from when it has taken its first 1 % (start-up excluded for everyone
              alike) until the queue is empty, polled with each library's own counts.

Rounds are interleaved (Castiel, then each peer, then again), so every library sees the
same background load, and the report gives medians. Beside jobs/s it reports CPU time per
job: of the client process (each enqueue phase runs in a fresh process that times itself, so
start-up and imports are excluded) or of the worker process tree, and of redis-server (`INFO
cpu` used_cpu_user + used_cpu_sys deltas over the same window). CPU per job is the steady
figure on a shared machine, where wall-clock rates move by 2-4x with other load.

Peers come from the `bench` extra; arq lives in a venv of its own (it pins redis<6), created
on first use under .venv/peers/arq; BullMQ is installed with `npm ci` from
bench/peers/bullmq/package-lock.json on first use, and skipped with a message when Node.js is
missing. Redis is flushed between phases."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import psutil
import redis
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer  # noqa: E402

PHASES = ("single", "concurrent", "bulk", "processing")
# display name -> (module in bench/peers, extra environment, phases). Variants of Castiel
# measure a switch both ways in the same run.
LIBRARIES: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "castiel": ("castiel", {}, PHASES),
    # single = AsyncQueue.add awaited one at a time (the default row uses the sync Queue)
    "castiel-async": ("castiel", {"BENCH_CASTIEL_ASYNC_SINGLE": "1"}, ("single",)),
    "castiel-no-autopipeline": (
        "castiel",
        {"BENCH_CASTIEL_ASYNC_SINGLE": "1", "BENCH_CASTIEL_AUTOPIPELINE": "0"},
        ("single", "concurrent"),
    ),
    # the worker with two settle calls in flight (overlapped; the default waits out each one)
    "castiel-depth2": ("castiel", {"CASTIEL_SETTLE_DEPTH": "2"}, ("processing",)),
    "bullmq": ("bullmq", {}, PHASES),
    "rq": ("rq", {}, PHASES),
    "arq": ("arq", {}, PHASES),
    "saq": ("saq", {}, PHASES),
    "dramatiq": ("dramatiq", {}, PHASES),
    "celery": ("celery", {}, PHASES),
}
DEFAULT = ("castiel", "castiel-async", "bullmq", "rq", "arq", "saq", "dramatiq", "celery")
BASELINE_ENV = "BENCH_SOURCE"  # a variant's processes run from this checkout
POLL = 0.05  # seconds between queue-count polls (the same for every library)


@dataclass
class Sample:
    """One phase of one library in one round."""

    rate: float  # jobs/s
    client_us: float  # CPU µs per job of the enqueueing process or the worker process tree
    redis_us: float  # redis-server CPU µs per job over the same window
    how: str = ""
    error: str = ""


@dataclass
class LibraryRuns:
    library: str
    settings: str = ""
    skipped: str = ""
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {p: [] for p in PHASES})

    def median(self, phase: str, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples[phase] if not s.error]
        return statistics.median(values) if values else None


class Bench:
    def __init__(
        self, url: str, jobs: int, producers: int, console: Console, phases: tuple[str, ...]
    ) -> None:
        self.phases = phases
        self.url = url
        self.n = jobs
        self.producers = producers
        self.console = console
        self.redis = redis.Redis.from_url(url)
        os.environ["BENCH_REDIS_URL"] = url  # peers read it at import (broker URLs)

    def redis_cpu(self) -> float:
        info = self.redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def env(self, peer: ModuleType, extra: dict[str, str]) -> dict[str, str]:
        paths = [str(_source(extra)), *getattr(peer, "worker_env", dict)().values()]
        return {
            **os.environ,
            **extra,
            "BENCH_REDIS_URL": self.url,
            "PYTHONPATH": os.pathsep.join(paths),
        }

    def enqueue(self, name: str, peer: ModuleType, extra: dict[str, str], mode: str) -> Sample:
        if hasattr(peer, "enqueue_argv"):
            argv = peer.enqueue_argv(mode, self.n, self.producers)
        else:
            module = LIBRARIES[name][0]
            argv = [sys.executable, "-m", "bench.peers.enqueue", module, mode, str(self.n)]
            argv.append(str(self.producers))
        self.redis.flushall()
        r0 = self.redis_cpu()
        out = subprocess.run(
            argv,
            cwd=_source(extra),
            env=self.env(peer, extra),
            capture_output=True,
            text=True,
            timeout=max(600, self.n / 50),
            check=False,
        )
        redis_s = self.redis_cpu() - r0
        if out.returncode != 0:
            return Sample(0, 0, 0, error=(out.stderr or out.stdout)[-1500:])
        timing = json.loads(out.stdout.strip().splitlines()[-1])
        sample = Sample(
            rate=self.n / timing["seconds"],
            client_us=timing["cpu_seconds"] / self.n * 1e6,
            redis_us=redis_s / self.n * 1e6,
            how=timing["how"],
        )
        queued = peer.remaining(self.url)
        if queued != self.n:
            sample.error = f"{queued} jobs queued, expected {self.n}"
        return sample

    def process(self, name: str, peer: ModuleType, extra: dict[str, str]) -> Sample:
        """Processes the N jobs the bulk phase left queued with one worker process."""
        n, url = self.n, self.url
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
        worker = subprocess.Popen(
            peer.worker_argv(url),
            cwd=_source(extra),
            env=self.env(peer, extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            first = max(1, n // 100)
            _wait(lambda: peer.remaining(url) <= n - first, timeout=120)
            proc = psutil.Process(worker.pid)
            t0, c0, r0 = time.perf_counter(), _tree_cpu(proc), self.redis_cpu()
            left0 = peer.remaining(url)
            error = ""
            try:
                _wait(lambda: peer.remaining(url) == 0, timeout=max(60.0, n / 100))
            except TimeoutError:
                error = f"stalled with {peer.remaining(url)} of {n} jobs left"
            seconds, cpu_s = time.perf_counter() - t0, _tree_cpu(proc) - c0
            redis_s = self.redis_cpu() - r0
            done = left0 - peer.remaining(url)
            sample = Sample(
                rate=done / seconds,
                client_us=cpu_s / max(done, 1) * 1e6,
                redis_us=redis_s / max(done, 1) * 1e6,
                how=getattr(peer, "SETTINGS", ""),
                error=error,
            )
            # A no-op that raises still empties the queue: count failures, or the rate
            # measured would be that of failing jobs.
            failed = getattr(peer, "failures", lambda _url: 0)(url)
            log.seek(0)
            tracebacks = log.read().count(b"Traceback")
            if failed or tracebacks:
                note = f"{failed} job(s) failed, {tracebacks} traceback(s) in the worker log"
                sample.error = f"{sample.error}; {note}" if sample.error else note
            return sample
        except TimeoutError:
            log.seek(0)
            return Sample(0, 0, 0, error=log.read().decode(errors="replace")[-1500:])
        finally:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(20)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
            log.close()

    def round(self, runs: LibraryRuns) -> None:
        module, extra, phases = LIBRARIES[runs.library]
        peer = importlib.import_module(f"bench.peers.{module}_peer")
        runs.settings = peer.SETTINGS
        modes = [p for p in phases if p in self.phases]
        for mode in modes:
            if mode == "processing" and "bulk" not in modes:
                # A variant measured for processing only (castiel-depth2) queues its own jobs.
                self.enqueue(runs.library, peer, extra, "bulk")
            sample = self.process(runs.library, peer, extra) if mode == "processing" else None
            if sample is None:
                sample = self.enqueue(runs.library, peer, extra, mode)
            runs.samples[mode].append(sample)
            line = (
                f"  {runs.library} {mode}: {sample.rate:,.0f} jobs/s, "
                f"{sample.client_us:,.1f} µs client CPU/job, {sample.redis_us:,.1f} µs Redis"
            )
            self.console.print(line if not sample.error else f"[red]{line}: {sample.error}[/red]")


def _source(extra: dict[str, str]) -> Path:
    """The checkout a library variant runs from: this one, or --baseline's."""
    return Path(extra.get(BASELINE_ENV, ROOT))


def _tree_cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _wait(pred: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(POLL)


def versions(names: list[str]) -> dict[str, str]:
    """Versions of what was measured; arq's come from its own venv, BullMQ's from npm."""
    found = {}
    for dist in ("redis", "hiredis", "orjson", "uvloop", "rq", "saq", "dramatiq", "celery"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    arq_python = ROOT / ".venv" / "peers" / "arq" / "bin" / "python"
    if "arq" in names and arq_python.exists():
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
    if "bullmq" in names:
        from bench.peers import bullmq_peer

        found.update(bullmq_peer.versions())
    return found


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if not ours or not theirs else f"{ours / theirs:.2f}x"


def report(runs: list[LibraryRuns], console: Console) -> None:
    ours = next((r for r in runs if r.library == "castiel"), None)
    for phase in PHASES:
        if not any(r.samples[phase] for r in runs):
            continue  # not asked for (--phases)
        table = Table(title=f"{phase} (medians; ratio = Castiel / library)")
        for col in ("library", "jobs/s", "ratio", "client µs/job", "redis µs/job", "rounds"):
            table.add_column(col, justify="left" if col == "library" else "right")
        table.add_column("how", justify="left")
        for r in runs:
            if r.skipped:
                table.add_row(r.library, "-", "-", "-", "-", "", r.skipped)
                continue
            if not r.samples[phase]:
                continue
            rate = r.median(phase, "rate")
            rounds = ", ".join(f"{s.rate:,.0f}" if not s.error else "err" for s in r.samples[phase])
            how = next((s.how for s in r.samples[phase] if s.how), r.settings)
            table.add_row(
                r.library,
                _fmt(rate),
                _ratio(ours and ours.median(phase, "rate"), rate),
                _fmt(r.median(phase, "client_us"), 1),
                _fmt(r.median(phase, "redis_us"), 1),
                rounds,
                how,
            )
        console.print(table)
        peers = [r for r in runs if not r.library.startswith("castiel") and not r.skipped]
        if ours and peers:
            best = max(peers, key=lambda r: r.median(phase, "rate") or 0)
            py = [r for r in peers if r.library != "bullmq"]
            best_py = max(py, key=lambda r: r.median(phase, "rate") or 0) if py else None
            line = (
                f"{phase}: Castiel / best peer ({best.library}) = "
                f"{_ratio(ours.median(phase, 'rate'), best.median(phase, 'rate'))}"
            )
            if best_py is not None:
                line += (
                    f"; / best Python peer ({best_py.library}) = "
                    f"{_ratio(ours.median(phase, 'rate'), best_py.median(phase, 'rate'))}"
                )
            console.print(line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--producers", type=int, default=100)
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated subset of {','.join(LIBRARIES)}",
    )
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also measure Castiel from this checkout (say, a git worktree of the commit to "
        "compare with), as castiel-baseline, interleaved with the others (A/B)",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if args.baseline is not None:
        LIBRARIES["castiel-baseline"] = (
            "castiel",
            {BASELINE_ENV: str(args.baseline.resolve())},
            PHASES,
        )
        if "castiel-baseline" not in names:
            names.insert(
                names.index("castiel") + 1 if "castiel" in names else 0, "castiel-baseline"
            )
    unknown = set(names) - set(LIBRARIES)
    if unknown:
        parser.error(f"unknown libraries: {', '.join(sorted(unknown))}")
    console = Console() if sys.stdout.isatty() else Console(width=220)
    server = RedisServer(Path(tempfile.mkdtemp(prefix="castiel-bench-")) / "redis").start()
    console.print(
        f"redis-server {server.url}, {args.jobs:,} no-op jobs per phase, {args.rounds} "
        f"interleaved rounds, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    runs = [LibraryRuns(name) for name in names]
    try:
        phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
        if set(phases) - set(PHASES):
            parser.error(f"unknown phases: {', '.join(sorted(set(phases) - set(PHASES)))}")
        bench = Bench(server.url, args.jobs, args.producers, console, phases)
        for r in runs:
            peer = importlib.import_module(f"bench.peers.{LIBRARIES[r.library][0]}_peer")
            ready = getattr(peer, "ensure_ready", None)
            r.skipped = (ready() if ready else None) or ""
            if r.skipped:
                console.print(f"[yellow]{r.library}: {r.skipped}[/yellow]")
        for i in range(args.rounds):
            console.print(f"round {i + 1} of {args.rounds}")
            for r in runs:
                if not r.skipped:
                    bench.round(r)
        redis_version = bench.redis.info("server")["redis_version"]
    finally:
        server.stop()
    report(runs, console)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join(sys.argv),
        "jobs": args.jobs,
        "rounds": args.rounds,
        "producers": args.producers,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "versions": versions(names),
    }
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    if args.json:
        args.json.write_text(json.dumps({**meta, "runs": [asdict(r) for r in runs]}, indent=2))


if __name__ == "__main__":
    main()

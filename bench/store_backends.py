"""The store on both backends, side by side in one run: write the 1-hour, 20-endpoint run of
`bench/budgets.py` as 3,600 one-second batches (what a `castiel run` does live), load it back
for evaluation, and time `castiel check` of it end to end (a new process: imports, connect,
load, evaluate 50 budgets, print, record the verdicts), on SQLite and on a PostgreSQL server
started for the purpose (durable defaults: fsync and synchronous commit on). Rounds
alternate SQLite, PostgreSQL, SQLite, ...; medians are reported, with the CPU seconds of
this process (the client) and of the PostgreSQL server processes beside the wall clock.

    .venv/bin/python bench/budgets.py --rates 10 --store [--rounds 3]

Goals (issue 16): PostgreSQL writes at least 10x as fast as one collection per second needs
(a batch in under 100 ms), loads within 2x of SQLite, `castiel check` in under 3 s."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from castiel.postgres_server import PostgresServer, pg_binary
from collectors.model import Batch, MetricKind, RunInfo, SeriesData
from collectors.store import Store

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    write_s: float
    write_cpu: float
    write_server_cpu: float
    load_s: float
    load_cpu: float
    load_server_cpu: float
    check_s: float
    check_cpu: float
    size_mib: float


def batches(series: list[SeriesData], duration: int) -> Iterator[Batch]:
    for t in range(duration):
        b = Batch()
        for sd in series:
            if sd.kind is MetricKind.HISTOGRAM:
                hp = sd.histograms[t]
                b.add_histogram(sd.key, hp.start, hp.end, hp.histogram)
            elif sd.kind is MetricKind.COUNTER:
                b.add_increment(sd.key, sd.points[t].timestamp, sd.points[t].value)
            else:
                b.add_gauge(sd.key, sd.points[t].timestamp, sd.points[t].value)
        yield b


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(server: PostgresServer | None) -> float:
    """CPU seconds of the postmaster and every process it started (backends, WAL writer,
    checkpointer), the ones that have exited included (cutime/cstime of the postmaster)."""
    if server is None:
        return 0.0
    master = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    total = _proc_cpu(master)
    fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
    total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                total += _proc_cpu(int(entry.name))
    return total


@contextmanager
def measured(server: PostgresServer | None) -> Iterator[Callable[[], tuple[float, float, float]]]:
    """Yields a function giving (wall, client CPU, server CPU) seconds since entry."""
    t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu(server)
    yield lambda: (
        time.perf_counter() - t0,
        time.process_time() - c0,
        server_cpu(server) - s0,
    )


def one_round(
    location: str,
    server: PostgresServer | None,
    series: list[SeriesData],
    run: RunInfo,
    budgets_file: Path,
    duration: int,
) -> Sample:
    with Store.open(location) as s:
        info = s.create_run(started_at=run.started_at)
        with measured(server) as w:
            for b in batches(series, duration):
                s.write(info.id, b)
            s.finish_run(info.id, run.ended_at or 0.0)
            write = w()
        size = _size(s, location)
    with Store.open(location, readonly=True) as ro, measured(server) as r:
        loaded = ro.load_series(info.id)
        load = r()
    assert len(loaded) == len(series), (len(loaded), len(series))
    env = {**os.environ, "CASTIEL_STORE": location}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    check = subprocess.run(
        [sys.executable, "-m", "castiel", "check", "--budgets", str(budgets_file),
         "--run", info.id],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    check_s = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    check_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    if check.returncode not in (0, 1):
        raise SystemExit(f"castiel check failed ({check.returncode}): {check.stderr}")
    return Sample(write[0], write[1], write[2], load[0], load[1], load[2], check_s, check_cpu, size)


def _size(store: Store, location: str) -> float:
    if store.path is not None:
        files = [store.path, *store.path.parent.glob(store.path.name + "-*")]
        return sum(f.stat().st_size for f in files if f.exists()) / 2**20
    from sqlalchemy import create_engine, text

    engine = create_engine(store.locator.url)
    with engine.connect() as c:
        size = c.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return float(size) / 2**20


def compare(
    series: list[SeriesData], run: RunInfo, budgets_text: str, duration: int, rounds: int
) -> None:
    if pg_binary("initdb") is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install -y postgresql)")
    server = PostgresServer(durable=True).start()
    results: dict[str, list[Sample]] = {"SQLite": [], "PostgreSQL": []}
    try:
        with tempfile.TemporaryDirectory() as d:
            budgets_file = Path(d) / "budgets.yaml"
            budgets_file.write_text(budgets_text)
            for i in range(rounds):
                for name in ("SQLite", "PostgreSQL"):
                    if name == "SQLite":
                        location, srv = str(Path(d) / f"round{i}" / "castiel.db"), None
                    else:
                        location, srv = server.create_database(f"round{i}"), server
                        Store.migrate(location)
                    results[name].append(
                        one_round(location, srv, series, run, budgets_file, duration)
                    )
    finally:
        server.remove()
    report(results, duration)


def report(results: dict[str, list[Sample]], duration: int) -> None:
    def med(name: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in results[name])

    rows = [
        ("write 3,600 batches, wall s", "write_s", "{:.2f}"),
        ("  per batch, ms", None, "{:.2f}"),
        ("  headroom vs 1 batch/s", None, "{:.0f}x"),
        ("  client CPU s", "write_cpu", "{:.2f}"),
        ("  server CPU s", "write_server_cpu", "{:.2f}"),
        ("load for evaluation, wall s", "load_s", "{:.2f}"),
        ("  client CPU s", "load_cpu", "{:.2f}"),
        ("  server CPU s", "load_server_cpu", "{:.2f}"),
        ("castiel check end to end, s", "check_s", "{:.2f}"),
        ("  its CPU s", "check_cpu", "{:.2f}"),
        ("size, MiB", "size_mib", "{:.1f}"),
    ]
    names = list(results)
    print(f"    store, medians of {len(results[names[0]])} interleaved rounds:")
    print(f"    {'':32}" + "".join(f"{n:>12}" for n in names))
    for label, attr, fmt in rows:
        cells = []
        for n in names:
            per_batch = med(n, "write_s") / duration
            value = (
                med(n, attr) if attr else (per_batch * 1000 if "ms" in label else 1.0 / per_batch)
            )
            cells.append(fmt.format(value))
        print(f"    {label:32}" + "".join(f"{c:>12}" for c in cells))
    ratio = med("PostgreSQL", "load_s") / med("SQLite", "load_s")
    print(f"    PostgreSQL load / SQLite load: {ratio:.2f}x")

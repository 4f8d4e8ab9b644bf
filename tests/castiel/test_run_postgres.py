"""`castiel run` on a shared PostgreSQL store, end to end (redis-server, the example service,
Locust, a real PostgreSQL): two runs writing at the same time, and the server stopped and
started again in the middle of a run, with nothing collected lost."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from castiel.postgres_server import PostgresServer
from collectors.store import Store
from tests.examples.test_service import start_service
from tests.helpers import ROOT, wait_until

BUDGETS = """
version: 1
budgets:
  - name: catalogue p95
    metric: locust_request_duration_seconds
    aggregation: p95
    fail: "< 5s"
"""


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    yield base
    proc.terminate()
    proc.wait(10)


def start_run(
    tmp_path: Path, name: str, target: str, store: str, duration: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    runs = tmp_path / f"runs-{name}"
    out = tmp_path / f"{name}.out"
    env = {**os.environ, "CASTIEL_STORE": store}  # the URL with its password, as CI would
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "castiel", "run", "--target", target,
             "--budgets", str(budgets), "--duration", duration, "--users", "3",
             "--runs-dir", str(runs)],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, runs, out


def stored_total(store: Store, run_id: str) -> tuple[float, list[float]]:
    """Requests the store holds for the run, and the end of every 1-second interval."""
    keys = [k for k, _ in store.series(run_id) if k.name == "locust_requests_total"]
    data = store.load_series(run_id, keys)
    total = sum(p.value for s in data for p in s.points)
    seconds = sorted({p.timestamp for s in data for p in s.points})
    return total, seconds


def locust_total(run_dir: Path) -> int:
    return sum(e["num_requests"] for e in json.loads((run_dir / "locust.json").read_text()))


@pytest.mark.slow
def test_two_runs_write_to_one_postgres_at_once(
    service: str, postgres_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    started = [start_run(tmp_path, n, service, postgres_url, "6s") for n in ("a", "b")]
    for proc, _, out in started:
        assert proc.wait(180) == 0, out.read_text()
        assert postgres_server.password not in out.read_text()
    with Store.open(postgres_url, readonly=True) as store:
        runs = {r.id: r for r in store.runs()}
        assert len(runs) == 2
        for _, run_dir, _ in started:
            [only] = list(run_dir.iterdir())
            assert runs[only.name].status == "finished" and runs[only.name].verdict == "pass"
            total, _ = stored_total(store, only.name)
            assert total == locust_total(only) > 10


@pytest.mark.slow
def test_postgres_restarted_during_a_run_loses_nothing(
    service: str, fresh_postgres: PostgresServer, tmp_path: Path
) -> None:
    url = fresh_postgres.url()
    Store.migrate(url)
    proc, runs, out = start_run(tmp_path, "r", service, url, "20s")
    try:

        def has_points() -> bool:
            with Store.open(url, readonly=True) as store:
                run = store.latest_run()
                return run is not None and bool(stored_total(store, run.id)[1])

        wait_until(has_points, 60, interval=0.5, message="the run to write to PostgreSQL")
        fresh_postgres.stop()
        wait_until(lambda: "the store is unavailable" in out.read_text(), 30, message="outage")
        # Down for a few ticks at least: the run prints a progress line every 5 s.
        lines = out.read_text().count("\n")
        wait_until(lambda: out.read_text().count("\n") > lines, 30, message="progress")
        fresh_postgres.start()
        code = proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert code == 0, text
    assert "the store is back" in text and fresh_postgres.password not in text
    [run_dir] = list(runs.iterdir())
    with Store.open(url, readonly=True) as store:
        run = store.get_run(run_dir.name)
        assert (run.status, run.verdict) == ("finished", "pass")
        total, seconds = stored_total(store, run.id)
        # every request Locust counted is stored, and no second of the run is missing
        assert total == locust_total(run_dir) > 20
        gaps = [b - a for a, b in itertools.pairwise(seconds) if b - a > 1.5]
        assert gaps == [], seconds
        assert seconds[-1] - seconds[0] >= 15

"""`castiel run` end to end: redis-server, the example service on uvicorn, Locust (local and
distributed), the store, live budgets and the reports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from castiel.redis_server import free_port
from collectors.store import Store
from tests.examples.test_service import start_service
from tests.helpers import ROOT

PASSING = """
version: 1
budgets:
  - name: catalogue p95
    metric: locust_request_duration_seconds{name="/shards/{shard_type}"}
    aggregation: p95
    fail: "< 2s"
  - name: errors
    metric: locust_failures_total
    aggregation: count
    fail: "< 5"
"""

TIGHT = """
version: 1
budgets:
  - name: endpoint p50
    metric: locust_request_duration_seconds
    aggregation: p50
    group_by: [name]
    fail: "< 1us"
"""

ABORT = """
version: 1
budgets:
  - name: requests ceiling
    metric: locust_requests_total
    aggregation: count
    abort: "< 40"
"""


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    yield base
    proc.terminate()
    proc.wait(10)


def castiel_run(
    tmp_path: Path, target: str, budgets: str, *extra: str, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "budgets.yaml"
    path.write_text(budgets)
    runs = tmp_path / "runs"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "castiel",
            "run",
            "--target",
            target,
            "--budgets",
            str(path),
            "--store",
            str(tmp_path / "store.db"),
            "--runs-dir",
            str(runs),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result, runs


def only_run_dir(runs: Path) -> Path:
    (run_dir,) = list(runs.iterdir())
    return run_dir


@pytest.mark.slow
def test_short_run_passes_and_writes_every_report(
    service: str, redis_url: str, tmp_path: Path
) -> None:
    result, runs = castiel_run(
        tmp_path,
        service,
        PASSING,
        "--duration",
        "6s",
        "--users",
        "4",
        "--redis",
        redis_url,
        "--metrics",
        service + "/metrics",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(runs)
    for name in ("report.json", "junit.xml", "report.md", "report.html", "locust.json"):
        assert (run_dir / name).stat().st_size > 0, name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["summary"]["pass"] == 2 and report["run"]["id"] == run_dir.name
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        run = store.get_run(run_dir.name)
        assert run.status == "finished" and run.ended_at is not None
        assert "spawning_complete" in run.phases
        names = {k.name for k, _ in store.series(run.id)}
    # Runtime and service metrics were collected alongside Locust's.
    assert {
        "castiel_queue_jobs",
        "castiel_workers",
        "castiel_http_request_duration_seconds",
        "castiel_db_query_duration_seconds",
        "locust_requests_total",
    } <= names


@pytest.mark.slow
def test_tight_budget_fails_with_exit_1_and_junit_names_the_group(
    service: str, tmp_path: Path
) -> None:
    result, runs = castiel_run(tmp_path, service, TIGHT, "--duration", "5s", "--users", "3")
    assert result.returncode == 1, result.stdout + result.stderr
    junit = ET.parse(only_run_dir(runs) / "junit.xml").getroot()
    failed = [
        case.get("name", "") for case in junit.iter("testcase") if case.find("failure") is not None
    ]
    assert any("endpoint p50" in n and "/shards/{shard_type}" in n for n in failed), failed


@pytest.mark.slow
def test_abort_budget_stops_the_run_early(service: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result, runs = castiel_run(tmp_path, service, ABORT, "--duration", "60s", "--users", "5")
    assert time.monotonic() - started < 40, "the run was not stopped early"
    assert result.returncode == 1, result.stdout + result.stderr
    assert "aborting" in result.stdout
    report = json.loads((only_run_dir(runs) / "report.json").read_text())
    assert any("stopped early" in note for note in report["notes"])


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    result, runs = castiel_run(tmp_path, f"http://127.0.0.1:{free_port()}", PASSING)
    assert result.returncode == 3, result.stderr
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr
    assert not runs.exists()


def test_bad_budgets_exit_2_before_any_load(tmp_path: Path) -> None:
    result, runs = castiel_run(tmp_path, "http://127.0.0.1:1", "budgets:\n  - name: x\n")
    assert result.returncode == 2, result.stderr
    assert "budgets.yaml" in result.stderr and "Traceback" not in result.stderr
    assert not runs.exists() and not (tmp_path / "store.db").exists()


def test_redis_down_exits_3(service: str, tmp_path: Path) -> None:
    result, _ = castiel_run(
        tmp_path, service, PASSING, "--redis", f"redis://127.0.0.1:{free_port()}/0"
    )
    assert result.returncode == 3 and "Redis" in result.stderr


@pytest.mark.slow
def test_distributed_run_records_locusts_own_total(service: str, tmp_path: Path) -> None:
    result, runs = castiel_run(
        tmp_path, service, PASSING, "--duration", "6s", "--users", "6", "--processes", "2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(runs)
    locust_total = sum(e["num_requests"] for e in json.loads((run_dir / "locust.json").read_text()))
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        keys = [k for k, _ in store.series(run_dir.name) if k.name == "locust_requests_total"]
        stored = sum(p.value for s in store.load_series(run_dir.name, keys) for p in s.points)
    assert locust_total > 30 and stored == locust_total

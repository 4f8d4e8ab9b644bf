"""Real runs (redis-server, the example service, Locust through `castiel run`): a pasted k6
thresholds block decides what k6 would have, over what Locust measured; `abort_after` holds a
live abort; Locust's CPU is recorded for the validity check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.store import Store
from tests.castiel.test_cli_run import castiel_run, only_run_dir
from tests.examples.test_service import start_service

K6 = """
version: 1
thresholds:
  http_req_duration: ["p(95)<5000", "avg<5000"]
  http_req_failed: ["rate<0.5"]
  http_reqs: ["count>20", "rate>2"]
  iterations: ["count>20"]
  vus: ["value==4"]
  vus_max: ["value<=4"]
  checks: ["rate>0.5"]
  "http_req_duration{name:/orders, expected_response:true}": ["max<60000"]
  "http_req_duration{scenario:normal}": ["p(99)<60000"]
  "http_reqs{status:201}": ["count>0"]
"""


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.mark.slow
def test_a_k6_thresholds_block_judges_locusts_numbers(service: str, tmp_path: Path) -> None:
    result, runs = castiel_run(tmp_path, service, K6, "--duration", "8s", "--users", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(runs)
    report = json.loads((run_dir / "report.json").read_text())
    by = {v["budget"]: v for v in report["verdicts"]}
    assert all(v["status"] == "pass" for v in by.values()), by
    locust_total = sum(e["num_requests"] for e in json.loads((run_dir / "locust.json").read_text()))
    # http_reqs count is Locust's own total; a bare 5000 on http_req_duration was 5 s
    assert by["http_reqs count>20"]["observed"] == locust_total
    p95 = by["http_req_duration p(95)<5000"]
    assert p95["unit"] == "s" and p95["limits"]["fail"] == {"op": "<", "value": 5.0}
    assert 0 < p95["observed"] < 5.0
    assert by["vus value==4"]["observed"] == 4.0
    assert by["iterations count>20"]["observed"] > 20
    assert 0.5 < by["checks rate>0.5"]["observed"] <= 1.0
    assert by["http_reqs{status:201} count>0"]["observed"] > 0  # orders created
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        names = {k.name for k, _ in store.series(run_dir.name)}
    assert {"locust_cpu_percent", "locust_iterations_total", "locust_responses_total"} <= names


ABORT_AFTER = """
version: 1
budgets:
  - name: requests ceiling
    metric: locust_requests_total
    aggregation: count
    abort: "< 10"
    abort_after: 8s
"""


@pytest.mark.slow
def test_abort_after_holds_the_abort_until_the_run_is_old_enough(
    service: str, tmp_path: Path
) -> None:
    """10 requests are sent within a second or two; the abort waits until 8 s."""
    result, runs = castiel_run(tmp_path, service, ABORT_AFTER, "--duration", "60s", "--users", "5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "aborting" in result.stdout
    run_id = only_run_dir(runs).name
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        run = store.get_run(run_id)
        keys = [k for k, _ in store.series(run_id) if k.name == "locust_requests_total"]
        points = [p for s in store.load_series(run_id, keys) for p in s.points]
    total, reached = 0.0, None
    for p in sorted(points, key=lambda p: p.timestamp):
        total += p.value
        if total >= 10 and reached is None:
            reached = p.timestamp
    assert reached is not None and run.ended_at is not None
    # the abort level was reached early, but held until 8 s into the run
    assert reached - run.started_at < 6.0
    assert 8.0 <= run.ended_at - run.started_at < 45.0, "stopped before abort_after, or never"


@pytest.mark.slow
def test_distributed_run_reports_every_process_cpu_and_the_workers_detail(
    service: str, tmp_path: Path
) -> None:
    """With --processes 2 the workers send their requests' detail, iterations and CPU to the
    master with each report: the per-status counts add up to Locust's own total."""
    result, runs = castiel_run(
        tmp_path, service, K6, "--duration", "8s", "--users", "4", "--processes", "2"
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    run_dir = only_run_dir(runs)
    locust_total = sum(e["num_requests"] for e in json.loads((run_dir / "locust.json").read_text()))
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        keys = [k for k, _ in store.series(run_dir.name)]
        series = store.load_series(run_dir.name, keys)
    by_name: dict[str, list] = {}  # type: ignore[type-arg]
    for s in series:
        by_name.setdefault(s.key.name, []).append(s)
    processes = {s.key.label("process") for s in by_name["locust_cpu_percent"]}
    assert "master" in processes and sum(p.startswith("worker-") for p in processes) == 2
    detail = sum(p.value for s in by_name["locust_responses_total"] for p in s.points)
    assert locust_total > 20 and detail == locust_total
    assert sum(p.value for s in by_name["locust_iterations_total"] for p in s.points) > 0

"""`castiel monitor`: the monitor loop without Locust, over Redis and a worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from collectors.store import Store
from runtime import JobSpec, Queue, connect
from tests.helpers import ROOT, start_worker_process

BUDGETS = """
version: 1
budgets:
  - name: backlog
    metric: castiel_queue_jobs{state="wait"}
    aggregation: max
    fail: "< 100000"
    min_samples: 1
"""


def test_monitor_collects_runtime_metrics_and_evaluates(redis_url: str, tmp_path: Path) -> None:
    Queue(connect(redis_url).sync, "work").add_bulk(JobSpec("j", {"ms": 2}) for _ in range(50))
    worker = start_worker_process(
        "tests.runtime.workers:RecordingWorker",
        redis_url,
        env={"CASTIEL_HEARTBEAT_INTERVAL": "0.3"},
    )
    budgets = tmp_path / "b.yaml"
    budgets.write_text(BUDGETS)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "castiel",
                "monitor",
                "--budgets",
                str(budgets),
                "--redis",
                redis_url,
                "--store",
                str(tmp_path / "s.db"),
                "--interval",
                "0.5",
                "--for",
                "3",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        worker.terminate()
        worker.wait(20)
    assert result.returncode == 0, result.stdout + result.stderr
    with Store.open(tmp_path / "s.db", readonly=True) as store:
        run = store.latest_run()
        assert run is not None and run.scenario == "monitor" and run.status == "finished"
        names = {k.name for k, _ in store.series(run.id)}
        assert {"castiel_queue_jobs", "castiel_workers", "castiel_queue_completed_total"} <= names
        live = store.verdicts(run.id, "live")
        assert [(v.budget, v.status) for v in live] == [("backlog", "pass")]


def test_monitor_with_nothing_to_watch_exits_2(tmp_path: Path) -> None:
    budgets = tmp_path / "b.yaml"
    budgets.write_text(BUDGETS)
    result = subprocess.run(
        [sys.executable, "-m", "castiel", "monitor", "--budgets", str(budgets)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "nothing to watch" in result.stderr

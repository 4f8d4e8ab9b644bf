"""The `castiel` CLI as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runtime import JobSpec, Queue, connect
from tests.helpers import ROOT


def castiel(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_explains_commands_and_exit_codes() -> None:
    result = castiel("--help")
    assert result.returncode == 0
    for word in ("worker", "queue", "demo", "Exit codes"):
        assert word in result.stdout
    assert "--processes" in castiel("worker", "--help").stdout


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("no_such_module:Worker", "cannot import 'no_such_module'"),
        ("tests.runtime.workers:Missing", "has no attribute 'Missing'"),
        ("tests.runtime.workers:NotAWorker", "is not a subclass of runtime.BaseWorker"),
        ("tests.runtime.workers", "expected MODULE:Class"),
    ],
)
def test_worker_that_cannot_be_imported_exits_2(spec: str, reason: str) -> None:
    result = castiel("worker", spec, "--redis", "redis://127.0.0.1:1/0")
    assert result.returncode == 2, result.stderr
    assert reason in result.stderr and "Traceback" not in result.stderr


def test_bad_worker_setting_exits_2() -> None:
    result = castiel("worker", "tests.runtime.workers:RecordingWorker", "--concurrency", "0")
    assert result.returncode == 2 and "concurrency" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_argument_exits_2() -> None:
    result = castiel("worker", "x:Y", "--concurrency", "many")
    assert result.returncode == 2 and "--concurrency: 'many' is not a whole number" in result.stderr


def test_queue_stats_json_and_retry_failed(redis_url: str) -> None:
    q = Queue(connect(redis_url).sync, "mail")
    q.add_bulk(JobSpec("send", {"n": i}) for i in range(4))
    result = castiel("queue", "stats", "mail", "--redis", redis_url, "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["counts"]["wait"] == 4 and stats["paused"] is False
    table = castiel("queue", "stats", "mail", "--redis", redis_url)
    assert table.returncode == 0 and "wait" in table.stdout
    assert castiel("queue", "pause", "mail", "--redis", redis_url).returncode == 0
    assert q.counts().paused
    assert castiel("queue", "resume", "mail", "--redis", redis_url).returncode == 0
    result = castiel("queue", "retry-failed", "mail", "--redis", redis_url)
    assert result.returncode == 0 and "moved 0 failed job(s)" in result.stdout
    result = castiel("queue", "rate-limit", "mail", "20", "1", "--redis", redis_url)
    assert result.returncode == 0, result.stderr
    assert q.client.hmget(q.keys.meta, "rl_max", "rl_ms") == [b"20", b"1000"]
    bad = castiel("queue", "rate-limit", "mail", "0", "1", "--redis", redis_url)
    assert bad.returncode == 2 and "argument max_jobs: 0 is less than 1" in bad.stderr
    assert castiel("queue", "rate-limit", "mail", "--clear", "--redis", redis_url).returncode == 0
    assert q.client.hget(q.keys.meta, "rl_max") is None


def test_unreachable_redis_exits_3() -> None:
    from castiel.redis_server import free_port

    result = castiel("queue", "stats", "mail", "--redis", f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "connect" in result.stderr.lower()


@pytest.mark.slow
def test_runtime_demo_runs_and_cleans_up(tmp_path: object) -> None:
    result = castiel(
        "demo", "--runtime", "--duration", "3", "--data-dir", str(tmp_path), timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done:" in result.stdout and "jobs enqueued" in result.stdout
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", "the demo left processes behind"


@pytest.mark.slow
def test_platform_demo_passes_its_budgets_and_cleans_up(tmp_path: object) -> None:
    """Long enough for the example's budgets to have their samples: a FAIL fails this test
    (exit code and the values in the report, not a word in the output)."""
    result = castiel(
        "demo", "--duration", "30", "--users", "10", "--data-dir", str(tmp_path), timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "example service http://127.0.0.1:",
        "dashboard       http://127.0.0.1:",
        "verdict: PASS",
    ):
        assert line in result.stdout, result.stdout
    from pathlib import Path

    (run_dir,) = list((Path(str(tmp_path)) / "runs").iterdir())
    assert (run_dir / "report.html").exists() and (run_dir / "junit.xml").exists()
    assert f"reports: {run_dir}/" in result.stdout  # the real directory, not a placeholder
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] in ("pass", "warn") and report["summary"]["fail"] == 0
    assert len(report["verdicts"]) >= 30
    measured = [v for v in report["verdicts"] if not v["missing"]]
    assert len(measured) >= 28 and all(v["observed"] is not None for v in measured)
    p95 = [v for v in report["verdicts"] if v["budget"] == "api-latency-p95"]
    assert p95 and all(0 < v["observed"] < 0.25 for v in p95)  # seconds, under the fail line
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", "the demo left processes behind"


@pytest.mark.slow
def test_platform_demo_exits_1_when_its_budgets_fail(tmp_path: object) -> None:
    """8 seconds are too few for the example's min_samples (on_missing: fail): FAIL, exit 1."""
    result = castiel(
        "demo",
        "--duration",
        "8",
        "--users",
        "5",
        "--no-dashboard",
        "--data-dir",
        str(tmp_path),
        timeout=240,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    from pathlib import Path

    (run_dir,) = list((Path(str(tmp_path)) / "runs").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "fail" and report["summary"]["fail"] > 0

"""Bundles and like-for-like baselines with real `castiel run`s against the example service:
the CI story of docs/ci.md (a main run exported as an artifact, a later job on a fresh
runner gating on it), export -> import -> identical verdicts, and last-passing never
choosing a run of other users or another locustfile."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from castiel.redis_server import RedisServer
from collectors.store import Store
from loadtest.launch import DEFAULT_LOCUSTFILE
from tests.examples.test_service import start_service
from tests.helpers import ROOT, need

BUDGETS = """
version: 1
budgets:
  - name: catalogue p95
    metric: locust_request_duration_seconds{name="/shards/{shard_type}"}
    aggregation: p95
    fail: "< 2s"
    baseline:
      max_regression: 1000%
      on_inconclusive: pass
  - name: errors
    metric: locust_failures_total
    aggregation: count
    fail: "< 5"
"""
USERS = "2"
DURATION = "5s"


def castiel(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class MainRun:
    """A passing run "on main" in its own store, and its exported bundle (the CI artifact)."""

    target: str
    budgets: Path
    store: Path
    run_id: str
    bundle: Path
    branch: str | None


def load_test(main: MainRun, store: str, runs_dir: Path, *extra: str) -> dict[str, Any]:
    """One short `castiel run`; its JSON report, with the exit code under "exit"."""
    result = castiel(
        "run",
        "--target",
        main.target,
        "--budgets",
        str(main.budgets),
        "--store",
        store,
        "--runs-dir",
        str(runs_dir),
        "--duration",
        DURATION,
        *extra,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    (report_path,) = runs_dir.glob("*/report.json")
    report: dict[str, Any] = json.loads(report_path.read_text())
    report["exit"] = result.returncode
    return report


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainRun]:
    need("redis-server")
    tmp = tmp_path_factory.mktemp("main-run")
    redis = RedisServer(tmp / "redis").start()
    proc, target = start_service(redis.url, tmp / "service.sqlite")
    try:
        budgets = tmp / "budgets.yaml"
        budgets.write_text(BUDGETS)
        store = tmp / "main.db"
        partial = MainRun(target, budgets, store, "", tmp / "main.castiel.jsonl.gz", None)
        report = load_test(partial, str(store), tmp / "runs", "--users", USERS)
        assert report["exit"] == 0, report
        run_id = report["run"]["id"]
        exported = castiel(
            "runs", "export", run_id, "-o", str(partial.bundle), "--store", str(store)
        )
        assert exported.returncode == 0, exported.stderr
        yield MainRun(target, budgets, store, run_id, partial.bundle, report["run"]["git_branch"])
    finally:
        proc.terminate()
        proc.wait(10)
        redis.stop()


def facts(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (v["budget"], json.dumps(v["group"], sort_keys=True), v["status"], v["observed"])
        for v in report["verdicts"]
    ]


@pytest.mark.slow
def test_export_import_gives_identical_verdicts(
    main_run: MainRun, store_locator: str, tmp_path: Path
) -> None:
    def check(store: str, out: Path) -> dict[str, Any]:
        result = castiel(
            "check", "--budgets", str(main_run.budgets), "--store", store, "--run",
            main_run.run_id, "--baseline", "none", "--no-record", "--json", str(out),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        report: dict[str, Any] = json.loads(out.read_text())
        return report

    before = check(str(main_run.store), tmp_path / "before.json")
    imported = castiel("runs", "import", str(main_run.bundle), "--store", store_locator)
    assert imported.returncode == 0, imported.stderr
    after = check(store_locator, tmp_path / "after.json")
    assert facts(after) == facts(before)
    assert all(v["sample_count"] > 0 for v in after["verdicts"])
    assert after["run"] == before["run"]


@pytest.mark.slow
def test_a_run_on_a_fresh_runner_gates_on_the_downloaded_bundle(
    main_run: MainRun, store_locator: str, tmp_path: Path
) -> None:
    report = load_test(
        main_run, store_locator, tmp_path / "runs", "--users", USERS,
        "--baseline", str(main_run.bundle),
    )  # fmt: skip
    assert report["exit"] == 0
    (label,) = report["baselines"]
    assert label.startswith(f"run {main_run.run_id} from bundle {main_run.bundle} (branch ")
    assert "warning" not in label  # the same load: users, duration, locustfile, target, budgets
    (p95,) = [v for v in report["verdicts"] if v["budget"] == "catalogue p95"]
    assert p95["baseline"]["baseline_run"] == main_run.run_id
    # Compared against the bundle's numbers: same code, so no regression (a short run on a
    # loaded machine may leave the comparison inconclusive, never failed).
    assert p95["baseline"]["outcome"] in ("pass", "inconclusive")
    assert p95["baseline"]["baseline_value"] > 0
    with Store.open(store_locator, readonly=True) as s:
        assert [r.id for r in s.runs()] == [report["run"]["id"]]  # compared, not imported


@pytest.mark.slow
def test_last_passing_skips_other_locustfiles_and_other_users(
    main_run: MainRun, store_locator: str, tmp_path: Path
) -> None:
    assert castiel("runs", "import", str(main_run.bundle), "--store", store_locator).returncode == 0
    branch = main_run.branch or "(none)"
    other_locustfile = tmp_path / "locustfile.py"
    other_locustfile.write_text(DEFAULT_LOCUSTFILE.read_text() + "\n# edited\n")
    edited = load_test(
        main_run, store_locator, tmp_path / "r1", "--users", USERS,
        "-f", str(other_locustfile), "--baseline", "last-passing",
    )  # fmt: skip
    assert edited["exit"] == 0
    assert edited["baselines"][0].startswith(
        f"no qualifying baseline: 1 passing run on branch {branch}, none with locustfile="
    )

    more_users = load_test(
        main_run, store_locator, tmp_path / "r2", "--users", "3", "--baseline", "last-passing"
    )
    assert more_users["baselines"][0].startswith(
        f"no qualifying baseline: 2 passing runs on branch {branch}, none with users=3 and "
        "locustfile="
    )
    assert "(users differs in 2, locustfile differs in 1)" in more_users["baselines"][0]

    like = load_test(
        main_run, store_locator, tmp_path / "r3", "--users", USERS, "--baseline", "last-passing"
    )
    (label,) = like["baselines"]
    assert label.startswith(f"last passing run {main_run.run_id} on branch {branch} with the same")
    assert f"users={USERS}" in label and "duration=5s" in label
    (p95,) = [v for v in like["verdicts"] if v["budget"] == "catalogue p95"]
    assert p95["baseline"]["baseline_run"] == main_run.run_id

"""Every dashboard page under Streamlit's AppTest, against a store filled by a real short
`castiel run` (redis-server, the example service, Locust) and a `castiel check`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from castiel.redis_server import RedisServer
from tests.examples.test_service import start_service
from tests.helpers import ROOT

PAGES = ROOT / "dashboard" / "pages"
BUDGETS = """
version: 1
budgets:
  - name: endpoint p95
    metric: locust_request_duration_seconds
    aggregation: p95
    group_by: [name]
    fail: "< 2"
  - name: too tight
    metric: locust_request_duration_seconds{name="/orders"}
    aggregation: p50
    fail: "< 0.000001"
"""


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("dash")
    redis = RedisServer(tmp / "redis").start()
    service, base = start_service(redis.url, tmp / "db.sqlite")
    budgets = tmp / "budgets.yaml"
    budgets.write_text(BUDGETS)
    store = tmp / "store.db"
    try:
        for _ in range(2):  # two runs, so Compare has something to compare
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "castiel",
                    "run",
                    "--target",
                    base,
                    "--budgets",
                    str(budgets),
                    "--duration",
                    "4s",
                    "--users",
                    "4",
                    "--store",
                    str(store),
                    "--runs-dir",
                    str(tmp / "runs"),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 1, result.stdout + result.stderr  # "too tight" fails
    finally:
        service.terminate()
        service.wait(10)
        redis.stop()
    yield store


def page(name: str, store: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CASTIEL_STORE", str(store))
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_overview_lists_runs_with_verdict_badges(
    real_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("overview", real_store, monkeypatch)
    runs = at.dataframe[0].value
    assert len(runs) == 2 and set(runs["verdict"]) == {"❌ fail"}
    assert at.metric[0].value == "2"
    assert at.get("plotly_chart"), "the budgets-by-run chart is drawn"


@pytest.mark.slow
def test_budget_review_grid_shows_observed_against_thresholds(
    real_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("review", real_store, monkeypatch)
    grid = at.dataframe[0].value
    tight = grid[grid["budget"] == "too tight"].iloc[0]
    assert tight["status"] == "❌ fail" and tight["observed"] > 0
    assert "fail < " in tight["thresholds"]
    per_endpoint = grid[grid["budget"] == "endpoint p95"]
    assert len(per_endpoint) >= 3 and set(per_endpoint["status"]) == {"✅ pass"}
    assert at.get("plotly_chart"), "the chosen budget's metric is charted"


@pytest.mark.slow
def test_compare_runs_shows_both_runs(real_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = page("compare", real_store, monkeypatch)
    table = at.dataframe[0].value
    assert {"observed A", "observed B", "delta"} <= set(table.columns)
    assert len(at.get("plotly_chart")) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["runtime", "live"])
def test_other_pages_render(real_store: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    at = page(name, real_store, monkeypatch)
    assert at.title[0].value


def test_empty_state_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = page("overview", tmp_path / "none.db", monkeypatch)
    assert "castiel run" in at.info[0].value


@pytest.mark.slow
def test_castiel_dashboard_serves_on_loopback(real_store: Path) -> None:
    import urllib.request

    from castiel.redis_server import free_port
    from tests.helpers import wait_until

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "castiel",
            "dashboard",
            "--store",
            str(real_store),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_stcore/health", timeout=2
                ) as resp:
                    return resp.read() == b"ok"
            except OSError:
                return False

        wait_until(healthy, 60, interval=0.5, message="the dashboard to serve")
    finally:
        proc.terminate()
        proc.wait(20)

"""`--store` and `$CASTIEL_STORE` on the command line: a path or a `postgresql://` URL, the
`castiel store migrate` command, a PostgreSQL that is down (exit 3, one line naming host and
port), and the password of a URL never printed by any command, in any outcome."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from castiel.postgres_server import PostgresServer
from castiel.redis_server import free_port
from collectors.store import Store
from tests.helpers import ROOT, wait_until
from tests.storedb import fill_run

BUDGETS = """
version: 1
budgets:
  - name: latency p95
    metric: locust_request_duration_seconds
    aggregation: p95
    fail: "< 2s"
"""

MONITOR_BUDGETS = """
version: 1
budgets:
  - name: backlog
    metric: castiel_queue_jobs{state="wait"}
    aggregation: max
    fail: "< 100000"
    min_samples: 1
"""


def castiel(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "CASTIEL_STORE"}
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        cwd=ROOT,
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def budgets(tmp_path: Path) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(BUDGETS)
    return path


@pytest.fixture
def http_target() -> Iterator[str]:
    """Any HTTP answer passes `castiel run`'s preflight: the store is what is tested."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def assert_one_line_naming(result: subprocess.CompletedProcess[str], where: str) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("castiel: ") and where in lines[0], lines[0]


def test_store_migrate_creates_and_upgrades_a_postgres_store(
    empty_postgres_url: str, postgres_server: PostgresServer
) -> None:
    first = castiel("store", "migrate", "--store", empty_postgres_url)
    assert first.returncode == 0, first.stderr
    assert "schema version 0 -> 3 (applied 0001, 0002, 0003)" in first.stdout
    again = castiel("store", "migrate", env={"CASTIEL_STORE": empty_postgres_url})
    assert again.returncode == 0 and "schema version 3, up to date" in again.stdout
    for out in (first, again):
        assert postgres_server.password not in out.stdout + out.stderr
        assert "postgresql://castiel:***@127.0.0.1:" in out.stdout


def test_a_store_that_needs_migrating_names_the_command(
    empty_postgres_url: str, budgets: Path
) -> None:
    result = castiel("check", "--budgets", str(budgets), "--store", empty_postgres_url)
    assert result.returncode == 3
    assert "run `castiel store migrate --store URL`" in result.stderr


def test_check_reads_and_records_on_postgres(
    postgres_url: str, postgres_server: PostgresServer, budgets: Path, tmp_path: Path
) -> None:
    run_id = fill_run(postgres_url)
    report = tmp_path / "report.json"
    result = castiel("-vv", "check", "--budgets", str(budgets), "--json", str(report),
                     env={"CASTIEL_STORE": postgres_url})  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with Store.open(postgres_url, readonly=True) as store:
        assert store.get_run(run_id).verdict == "pass"
        assert [(v.budget, v.status) for v in store.verdicts(run_id)] == [("latency p95", "pass")]
    seen = result.stdout + result.stderr + report.read_text()
    missing = castiel("check", "--budgets", str(budgets), "--run", "nope", "--store", postgres_url)
    assert missing.returncode == 2 and "no run with id 'nope'" in missing.stderr
    assert "postgresql://castiel:***@" in missing.stderr
    for text in (seen, missing.stderr):
        assert postgres_server.password not in text


@pytest.mark.parametrize("down", ["refused", "stopped"])
def test_postgres_down_exits_3_with_one_line(
    down: str, fresh_postgres: PostgresServer, budgets: Path, http_target: str, tmp_path: Path
) -> None:
    if down == "refused":
        url = f"postgresql://castiel:{fresh_postgres.password}@127.0.0.1:{free_port()}/castiel"
    else:
        url = fresh_postgres.url()
        Store.migrate(url)
        fresh_postgres.stop()
    where = f"127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}"
    results = [
        castiel("check", "--budgets", str(budgets), "--store", url),
        castiel("store", "migrate", "--store", url),
        castiel("run", "--target", http_target, "--budgets", str(budgets), "--duration", "5s",
                "--store", url, "--runs-dir", str(tmp_path / "runs")),
    ]  # fmt: skip
    for result in results:
        assert_one_line_naming(result, where)
        assert fresh_postgres.password not in result.stdout + result.stderr
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_monitor_writes_to_postgres(
    postgres_url: str, postgres_server: PostgresServer, redis_url: str, tmp_path: Path
) -> None:
    budgets = tmp_path / "monitor.yaml"
    budgets.write_text(MONITOR_BUDGETS)
    result = castiel("monitor", "--budgets", str(budgets), "--redis", redis_url,
                     "--store", postgres_url, "--interval", "0.5", "--for", "2")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(store postgresql://castiel:***@127.0.0.1:" in result.stdout
    assert postgres_server.password not in result.stdout + result.stderr
    with Store.open(postgres_url, readonly=True) as store:
        run = store.latest_run()
        assert run is not None and run.scenario == "monitor" and run.status == "finished"
        # evaluated live and recorded there (no worker runs: the backlog is missing data)
        assert [v.budget for v in store.verdicts(run.id, "live")] == ["backlog"]


def test_alerting_on_a_postgres_store_is_a_clear_exit_2(
    postgres_url: str, postgres_server: PostgresServer
) -> None:
    result = castiel("alerts", "silence", "list", "--store", postgres_url)
    assert result.returncode == 2
    assert "alerting keeps its tables in a SQLite store" in result.stderr
    assert postgres_server.password not in result.stderr


def test_bad_store_arguments_exit_2_without_echoing_them(budgets: Path) -> None:
    secret = "hunter2-not-shown"
    for value in (f"mysql://u:{secret}@h/db", f"postgresql://u:{secret}@h:port/db"):
        result = castiel("check", "--budgets", str(budgets), "--store", value)
        assert result.returncode == 2, result.stderr
        assert "argument --store" in result.stderr and secret not in result.stderr
    helped = castiel("check", "--help", env={"CASTIEL_STORE": f"postgresql://u:{secret}@h/db"})
    assert helped.returncode == 0 and secret not in helped.stdout


def test_dashboard_says_where_it_reads_without_the_password(
    postgres_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "dash.log"
    env = {k: v for k, v in os.environ.items() if k != "CASTIEL_STORE"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "castiel", "dashboard", "--store", postgres_url,
             "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # `castiel dashboard` becomes the Streamlit server (execve): the URL (password
        # included) reaches it through its environment only, never its argv (`ps`)
        def became_streamlit() -> bytes:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            return cmdline if b"streamlit" in cmdline else b""

        cmdline = wait_until(became_streamlit, 30, message="the dashboard to become Streamlit")
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        wait_until(lambda: "dashboard: http" in log.read_text(), 30, message="the banner")
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    assert "(store postgresql://castiel:***@127.0.0.1:" in text
    assert postgres_server.password not in text
    assert postgres_server.password.encode() not in cmdline
    assert f"CASTIEL_STORE={postgres_url}".encode() in environ


def test_store_prune_applies_retention_on_either_backend(store_location: str) -> None:
    now = time.time()
    old, new = fill_run(store_location, now - 300), fill_run(store_location, now - 200)
    with Store.open(store_location) as store:
        store.set_baseline("golden", old, now=now)  # named baselines are always kept
    extra = fill_run(store_location, now - 100)
    result = castiel("store", "prune", "--store", store_location, "--max-runs", "1")
    assert result.returncode == 0, result.stderr
    assert "1 run(s) deleted" in result.stdout
    with Store.open(store_location, readonly=True) as store:
        assert {r.id for r in store.runs()} == {old, extra}  # `new` is gone, with its data
        assert new not in {r.id for r in store.runs(100)}

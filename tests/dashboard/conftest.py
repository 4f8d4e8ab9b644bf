"""A store filled by real short runs, shared by the dashboard tests: redis-server, the example
service, two `castiel run`s (Locust, the live monitor, budgets, alerts routed to a real local
webhook receiver and to one that is down), so every page has runs, verdicts, alert
transitions and delivery attempts (delivered and failed) to show."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from castiel.redis_server import RedisServer, free_port
from tests.alerts.receivers import Receiver
from tests.examples.test_service import start_service
from tests.frontend_fixtures import levers_on  # noqa: F401 - the frontend panel's page
from tests.helpers import ROOT, wait_until

BUDGETS = """
version: 1
budgets:
  - name: endpoint p95
    metric: locust_request_duration_seconds
    aggregation: p95
    group_by: [name]
    fail: "< 2s"
  - name: too tight
    metric: locust_request_duration_seconds{name="/orders"}
    aggregation: p50
    fail: "< 1us"
"""

# The "too tight" budget fails at once, so its alert fires during each run and resolves when
# the run ends. Critical alerts also go to a receiver that is down: failed deliveries.
ALERTS = """
version: 1
defaults: {for: 0s}
route:
  receiver: team-hook
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['severity="critical"']
      receiver: broken-hook
      continue: true
    - matchers: ['severity="critical"']
      receiver: team-hook
receivers:
  - name: team-hook
    webhook: {url: "${DASH_TEST_HOOK_URL}"}
  - name: broken-hook
    webhook: {url: "http://127.0.0.1:%d/hook?token=${DASH_TEST_TOKEN}"}
delivery: {max_attempts: 2, initial_backoff: 0.1s, max_backoff: 0.2s, timeout: 2s}
"""

# Values that must never be rendered by any page.
SECRET_TOKEN = "tok-d4shb0ard-secret"


@dataclass(frozen=True)
class RealStore:
    path: Path
    hook_url: str
    run_ids: tuple[str, ...]
    """Oldest first."""
    target: str
    """The example service, still running."""
    budgets: Path


@pytest.fixture(scope="session")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStore]:
    tmp = tmp_path_factory.mktemp("dash")
    redis = RedisServer(tmp / "redis").start()
    receiver = Receiver()
    service, base = start_service(redis.url, tmp / "db.sqlite")
    (tmp / "budgets.yaml").write_text(BUDGETS)
    (tmp / "alerts.yaml").write_text(ALERTS % free_port())  # nothing listens there
    store = tmp / "store.db"
    hook_url = f"{receiver.url}/hook/{SECRET_TOKEN}"
    env = {**os.environ, "DASH_TEST_HOOK_URL": hook_url, "DASH_TEST_TOKEN": SECRET_TOKEN}
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
                    str(tmp / "budgets.yaml"),
                    "--alerts",
                    str(tmp / "alerts.yaml"),
                    "--redis",
                    redis.url,
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
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert result.returncode == 1, result.stdout + result.stderr  # "too tight" fails
        runs = tuple(sorted(p.name for p in (tmp / "runs").iterdir()))
        # The service stays up: the Live page test starts a run against it.
        yield RealStore(store, hook_url, runs, base, tmp / "budgets.yaml")
    finally:
        service.terminate()
        service.wait(10)
        receiver.stop()
        redis.stop()


@contextlib.contextmanager
def serve_dashboard(store: Path, log: Path) -> Iterator[str]:
    """A real `castiel dashboard` on a free loopback port, as a user starts it (no password
    in the environment); yields its base URL once Streamlit answers its health check. Its
    output goes to `log`, for tests that check what it printed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CASTIEL_DASHBOARD_PASSWORD"}
    argv = [sys.executable, "-m", "castiel", "dashboard", "--store", str(store)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                return bool(resp.read() == b"ok")
        except OSError:
            assert proc.poll() is None, "the dashboard exited: " + log.read_text()
            return False

    try:
        wait_until(healthy, 60, interval=0.25, message="the dashboard to serve")
        yield base
    finally:
        proc.terminate()
        proc.wait(30)

"""From one budget file to a page, end to end: a real Prometheus loads the rules `castiel
budgets export prometheus` wrote and scrapes the example service while `castiel run` loads it
hard enough to break a budget; the alert goes to a real Alertmanager configured by `castiel
budgets export alertmanager` and on to a local receiver (the Slack receiver's URL read from a
secret file), and `castiel run`'s own verdict for the same budget agrees."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from castiel.redis_server import free_port
from collectors.promql import PrometheusClient, PrometheusError
from tests.alerts.conftest import Alertmanager
from tests.alerts.receivers import Receiver
from tests.collectors.test_promql import _prometheus_config
from tests.examples.test_service import start_service
from tests.helpers import need, wait_until

# The median request of the example service takes well over 0.1 ms (a bucket boundary of the
# runtime's HTTP histogram), so this budget fails under any load; the other one passes.
BUDGETS = """
version: 1
defaults: {on_missing: pass}
budgets:
  - name: api-median
    metric: castiel_http_request_duration_seconds{route!="/metrics"}
    aggregation: p50
    fail: "< 0.1ms"
  - name: api-median-loose
    metric: castiel_http_request_duration_seconds{route!="/metrics"}
    aggregation: p50
    fail: "< 10s"
"""

ALERTS = """
version: 1
labels: {service: e2e-shop}
route:
  receiver: oncall
  group_by: [alertname, severity]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    slack: {webhook_url: "${E2E_SLACK_URL}"}
"""


def castiel(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _start_prometheus(config: Path, port: int, tsdb: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            need("prometheus"),
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tsdb}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _firing(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as r:
        alerts: list[dict[str, Any]] = json.loads(r.read())["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


@pytest.mark.slow
def test_a_budget_broken_under_load_pages_through_prometheus_and_alertmanager(
    redis_url: str, tmp_path: Path
) -> None:
    need("prometheus-alertmanager")
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    (tmp_path / "alerts.yaml").write_text(ALERTS)
    rules = castiel(
        "budgets", "export", "prometheus", "--budgets", "budgets.yaml", "--alerts",
        "alerts.yaml", "--window", "10s", "-o", "rules.yaml", cwd=tmp_path,
    )  # fmt: skip
    assert rules.returncode == 0, rules.stderr
    secrets = tmp_path / "secrets"
    am_config = castiel(
        "budgets", "export", "alertmanager", "--alerts", "alerts.yaml",
        "--alertmanager-version", "0.25", "--secrets-dir", str(secrets), cwd=tmp_path,
    )  # fmt: skip
    assert am_config.returncode == 0, am_config.stderr
    receiver = Receiver()
    secrets.mkdir()
    (secrets / "E2E_SLACK_URL").write_text(receiver.url + "/slack")
    (tmp_path / "am").mkdir()
    am = Alertmanager(tmp_path / "am", config=am_config.stdout)
    service, base = start_service(redis_url, tmp_path / "db.sqlite")
    config = json.loads(_prometheus_config([f"{base}/metrics"]))
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(tmp_path / "rules.yaml")]
    config["alerting"] = {
        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am.port}"]}]}]
    }
    prom_path = tmp_path / "prometheus.yml"
    prom_path.write_text(json.dumps(config))
    port = free_port()
    prom = _start_prometheus(prom_path, port, tmp_path / "tsdb")
    prom_url = f"http://127.0.0.1:{port}"
    try:
        client = PrometheusClient(prom_url, timeout=2)

        def rules_loaded() -> bool:
            assert prom.poll() is None, prom.communicate()[1].decode()[-2000:]
            try:
                return bool(client.query('count(up{job="shop"} == 1)'))
            except PrometheusError:
                return False

        wait_until(rules_loaded, 30, interval=0.2, message="Prometheus to scrape the service")
        run = castiel(
            "run", "--target", base, "--budgets", "budgets.yaml", "--duration", "15s",
            "--users", "4", "--metrics", f"{base}/metrics", "--store", "store.db",
            "--runs-dir", "runs", cwd=tmp_path, timeout=180,
        )  # fmt: skip
        # Castiel's own verdict: the run fails, on api-median only.
        assert run.returncode == 1, run.stdout + run.stderr
        (run_dir,) = (tmp_path / "runs").iterdir()
        verdicts = {
            v["budget"]: v["status"]
            for v in json.loads((run_dir / "report.json").read_text())["verdicts"]
        }
        assert verdicts == {"api-median": "fail", "api-median-loose": "pass"}

        # Prometheus agrees: the threshold alert fires (and, with p50 allowing half of the
        # requests above 0.1 ms and nearly all of them there, the ticket-level burn alert).
        def fired() -> set[tuple[str, str, str]]:
            found = {
                (a["labels"]["budget"], a["labels"]["alertname"], a["labels"]["severity"])
                for a in _firing(prom_url)
            }
            return found if ("api-median", "api_median", "critical") in found else set()

        firing = wait_until(fired, 60, interval=0.5, message="the exported alert to fire")
        assert {budget for budget, _, _ in firing} == {"api-median"}
        assert firing <= {
            ("api-median", "api_median", "critical"),
            ("api-median", "api_median_error_budget_burn", "warning"),
        }
        # ... Alertmanager holds it, routed by the exported config ...
        held = wait_until(am.alerts, 30, interval=0.5, message="the alert in AM")
        assert {a["labels"]["service"] for a in held} == {"e2e-shop"}
        assert {r["name"] for a in held for r in a["receivers"]} == {"oncall"}

        # ... and the on-call receiver gets the page through the secret file's URL.
        def paged() -> list[str]:
            return [r.body.decode() for r in receiver.delivered() if r.path == "/slack"]

        bodies = wait_until(paged, 60, interval=0.5, message="the Slack message")
        assert any("api_median" in b and "FIRING" in b for b in bodies), bodies
    finally:
        prom.terminate()
        service.terminate()
        am.stop()
        receiver.stop()
        for p in (prom, service):
            p.wait(20)

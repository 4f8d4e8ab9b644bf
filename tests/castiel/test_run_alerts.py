"""`castiel run --alerts FILE` end to end: redis-server, the example service on uvicorn, Locust,
a budget that fails, and a signed webhook receiver on loopback. The receiver hears the firing
alert with its evidence, then its resolve with the run's verdict; every attempt and every
state transition is in the store; the webhook's secrets never are."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from alerts.history import events, firing_now
from alerts.metrics import METRIC
from alerts.outbox import recent_attempts, waiting
from budgets.model import Level
from castiel.redis_server import RedisServer, free_port
from collectors.locator import store_locator
from collectors.store import Store
from runtime import JobSpec, Queue, connect
from tests.alerts.receivers import Receiver
from tests.examples.test_service import start_service
from tests.helpers import ROOT, wait_until
from tests.storedb import dump

FAILING = """
version: 1
budgets:
  - name: endpoint p50
    metric: locust_request_duration_seconds
    aggregation: p50
    fail: "< 1us"
"""

ALERTS = """
version: 1
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook: {url: "${HOOK_URL}", hmac_secret: "${HOOK_SECRET}"}
defaults: {for: 0s}
dashboard: {url: "http://127.0.0.1:8501"}
"""

SECRET = "e2e-hmac-s3cr3t-value"


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def castiel_run(
    tmp_path: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", "run", *args, "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.slow
def test_a_failing_run_pages_with_evidence_then_resolves_with_its_verdict(
    service: str, receiver: Receiver, tmp_path: Path, store_location: str
) -> None:
    """On a SQLite store and on a PostgreSQL one: the alert tables live in either."""
    budgets, alerts, store = tmp_path / "budgets.yaml", tmp_path / "alerts.yaml", store_location
    budgets.write_text(FAILING)
    alerts.write_text(ALERTS)
    result = castiel_run(
        tmp_path,
        *("--target", service, "--budgets", str(budgets), "--alerts", str(alerts)),
        *("--store", store, "--duration", "8s", "--users", "3"),
        env={"HOOK_URL": receiver.url + "/hook", "HOOK_SECRET": SECRET},
    )
    assert result.returncode == 1, result.stdout + result.stderr  # the budget failed
    with Store.open(store, readonly=True) as s:
        (run,) = s.runs()
    got = receiver.delivered()
    bodies = [r.json() for r in got]
    assert [b["status"] for b in bodies] == ["firing", "resolved"], bodies

    for req in got:  # signed, per the webhook channel's documented scheme
        ts = req.header(TIMESTAMP_HEADER)
        assert ts is not None
        assert req.header(SIGNATURE_HEADER) == signature(SECRET, ts, req.body)
    firing, resolved = bodies
    assert firing["version"] == "4" and firing["receiver"] == "hook"
    (alert,) = firing["alerts"]
    ev = alert["evidence"]
    assert alert["labels"]["budget"] == "endpoint p50" and alert["labels"]["run"] == run.id
    assert ev["rule"] == "endpoint p50" and ev["run"] == run.id and ev["level"] == "fail"
    assert ev["threshold"].startswith("<") and ev["observed"] > 0.000001
    assert "p50 = " in alert["annotations"]["summary"]
    assert alert["generatorURL"].startswith("http://127.0.0.1:8501/")
    (done,) = resolved["alerts"]
    assert done["status"] == "resolved" and done["fingerprint"] == alert["fingerprint"]
    assert done["evidence"]["run_verdict"] == "fail" == run.verdict
    assert done["annotations"]["run_verdict"] == "fail"

    attempts = recent_attempts(store)
    assert [(a.receiver, a.outcome) for a in attempts] == [("hook", "delivered")] * 2
    assert waiting(store) == []
    states = [e.state for e in reversed(events(store, run_id=run.id))]
    assert states == ["firing", "resolved"]
    assert firing_now(store) == []
    with Store.open(store, readonly=True) as s:
        keys = [k for k, _ in s.series(run.id) if k.name == METRIC]
    assert [k.label("outcome") for k in keys] == ["delivered"]  # the counter, as a series
    stored = dump(store)
    assert "endpoint p50" in stored  # the dump has the alert rows
    assert SECRET not in stored and receiver.url not in stored
    store_file = store_locator(store).path
    if store_file is not None:  # the SQLite file's bytes, its WAL included
        raw = b"".join(p.read_bytes() for p in store_file.parent.glob(store_file.name + "*"))
        assert SECRET.encode() not in raw and receiver.url.encode() not in raw
    assert SECRET not in result.stdout + result.stderr


def test_a_bad_alerts_config_exits_2_before_any_load(tmp_path: Path) -> None:
    budgets, alerts = tmp_path / "budgets.yaml", tmp_path / "alerts.yaml"
    budgets.write_text(FAILING)
    alerts.write_text("route: {receiver: hook, group_wait: soon}\nreceivers: []\n")
    result = castiel_run(
        tmp_path,
        # nothing listens there: had the run started, it would exit 3
        *("--target", "http://127.0.0.1:9", "--budgets", str(budgets)),
        *("--alerts", str(alerts), "--store", str(tmp_path / "s.db")),
        env={},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{alerts}:1:" in result.stderr and "route.group_wait" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_an_alert_override_of_a_budget_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    budgets, alerts = tmp_path / "budgets.yaml", tmp_path / "alerts.yaml"
    budgets.write_text(FAILING)
    alerts.write_text(
        "route: {receiver: log}\n"
        "receivers: [{name: log, console: {}}]\n"
        "budgets:\n"
        "  endpoint p95: {for: 30s}\n"
    )
    result = castiel_run(
        tmp_path,
        *("--target", "http://127.0.0.1:9", "--budgets", str(budgets)),
        *("--alerts", str(alerts), "--store", str(tmp_path / "s.db")),
        env={},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{alerts}:4:3: budgets.endpoint p95: no budget of this name" in result.stderr
    assert "did you mean 'endpoint p50'?" in result.stderr
    assert not (tmp_path / "runs").exists()


MONITOR_BUDGETS = """
version: 1
budgets:
  - name: backlog
    metric: castiel_queue_jobs{{state="wait"}}
    aggregation: max
    fail: "< {limit}"
    min_samples: 1
"""

PROJECT = """
alerts:
  deployment: prod
  route: {{receiver: file, group_wait: 0s, group_interval: 1s}}
  receivers: [{{name: file, file: {{path: "{out}"}}}}]
  defaults: {{for: 0s}}
"""


def monitor_argv(
    tmp_path: Path, redis_url: str, limit: int, *extra: str, store: str | None = None
) -> list[str]:
    """`castiel monitor` over MONITOR_BUDGETS (backlog < limit) and the store (s.db)."""
    budgets = tmp_path / "b.yaml"
    budgets.write_text(MONITOR_BUDGETS.format(limit=limit))
    where = store or str(tmp_path / "s.db")
    return [
        *(sys.executable, "-m", "castiel", "monitor"),
        *("--budgets", str(budgets), "--redis", redis_url, "--store", where),
        *extra,
    ]


def castiel_monitor(
    tmp_path: Path, redis_url: str, limit: int, store: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = monitor_argv(
        tmp_path,
        redis_url,
        limit,
        *("--config", str(tmp_path / "castiel.yaml"), "--interval", "0.5", "--for", "3"),
        store=store,
    )
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_a_deployment_monitor_keeps_its_alert_across_a_restart(
    fresh_redis: RedisServer, tmp_path: Path, store_location: str
) -> None:
    """castiel.yaml's `alerts:` section; with a deployment name, stopping the monitor does not
    resolve the alert and the next monitor neither pages again nor forgets to resolve. On a
    SQLite store and on a PostgreSQL one."""
    url = fresh_redis.url
    Queue(connect(url).sync, "work").add_bulk(JobSpec("j", {}) for _ in range(50))
    out = tmp_path / "notifications.jsonl"
    (tmp_path / "castiel.yaml").write_text(PROJECT.format(out=out))
    first = castiel_monitor(tmp_path, url, limit=10, store=store_location)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing"]
    (still,) = firing_now(store_location)
    assert still.name == "backlog" and still.value == 50.0 and still.scope == "prod"
    second = castiel_monitor(tmp_path, url, limit=100_000, store=store_location)  # relaxed
    assert second.returncode == 0, second.stdout + second.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    assert lines[0]["alerts"][0]["fingerprint"] == lines[1]["alerts"][0]["fingerprint"]
    assert firing_now(store_location) == []


def test_a_monitor_without_deployment_resolves_its_alerts_when_it_stops(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    url = fresh_redis.url
    Queue(connect(url).sync, "work").add_bulk(JobSpec("j", {}) for _ in range(50))
    out = tmp_path / "notifications.jsonl"
    (tmp_path / "castiel.yaml").write_text(
        PROJECT.format(out=out).replace("  deployment: prod\n", "")
    )
    result = castiel_monitor(tmp_path, url, limit=10)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    assert lines[1]["alerts"][0]["evidence"]["run_verdict"] == "fail"
    assert firing_now(tmp_path / "s.db") == []


def test_a_monitor_serves_its_verdicts_and_notifications_to_prometheus(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    url = fresh_redis.url
    Queue(connect(url).sync, "work").add_bulk(JobSpec("j", {}) for _ in range(50))
    out = tmp_path / "notifications.jsonl"
    (tmp_path / "castiel.yaml").write_text(PROJECT.format(out=out))
    port = free_port()
    argv = monitor_argv(
        tmp_path,
        url,
        10,
        *("--metrics-port", str(port), "--config", str(tmp_path / "castiel.yaml")),
        *("--interval", "0.5"),
    )
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    Key = tuple[str, frozenset[tuple[str, str]]]
    samples: dict[Key, float] = {}

    def key(name: str, **labels: str) -> Key:
        return name, frozenset(labels.items())

    def scraped() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return False
        samples.clear()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[key(s.name, **s.labels)] = s.value
        delivered = (
            "castiel_alert_notifications_total",
            {"receiver": "file", "outcome": "delivered"},
        )
        return samples.get((delivered[0], frozenset(delivered[1].items()))) == 1.0

    try:
        wait_until(scraped, 30, interval=0.3, message="the firing notification, on /metrics")
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    status = samples[("castiel_budget_status", frozenset({("budget", "backlog"), ("group", "")}))]
    observed = samples[
        ("castiel_budget_observed", frozenset({("budget", "backlog"), ("group", "")}))
    ]
    assert (status, observed) == (Level.FAIL.value, 50.0)
    assert samples[("castiel_monitor_ticks_total", frozenset())] >= 1
    assert f"monitor metrics: http://127.0.0.1:{port}/metrics" in output


def test_a_taken_metrics_port_exits_2_before_a_run_is_recorded(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = monitor_argv(tmp_path, fresh_redis.url, 10, "--metrics-port", str(port))
        result = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--metrics-port {port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s.db").exists()

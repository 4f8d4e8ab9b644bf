"""Stopping `castiel run`, `castiel monitor` and `castiel demo` from outside, as CI cancels,
`timeout`, `docker stop`, a closed terminal and the OOM killer do: real processes, a real
Locust loading the real example service, a real Alertmanager.

What must hold after a stop signal: no Locust process (master or worker) left, the run
`aborted` in the store, every report written, its alerts resolved (verdict `aborted`), exit
128 + the signal number. After SIGKILL of castiel itself: Locust gone within seconds."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.history import firing_now
from castiel.redis_server import RedisServer
from collectors.store import Store
from runtime import JobSpec, Queue, connect
from tests.alerts.conftest import Alertmanager
from tests.alerts.receivers import Receiver
from tests.examples.test_service import start_service
from tests.helpers import ROOT, need, wait_until

FAILING = """
version: 1
budgets:
  - name: endpoint p50
    metric: locust_request_duration_seconds
    aggregation: p50
    fail: "< 1us"
"""

TO_ALERTMANAGER = """
version: 1
route: {receiver: am, group_by: [alertname], group_wait: 0s, group_interval: 1s}
receivers:
  - name: am
    alertmanager: {url: "AM_URL"}
defaults: {for: 0s}
"""


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    yield base
    proc.terminate()
    proc.wait(10)


def processes_naming(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains `marker`. A Locust worker
    forked by `--processes` shares its master's command line, so it is found too."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if state != "Z" and marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def locusts(runs_dir: Path) -> list[int]:
    """The Locust processes of runs under `runs_dir` (their --json-file is in it)."""
    return [
        pid
        for pid in processes_naming(str(runs_dir))
        if b"locust" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def start_run(tmp_path: Path, target: str, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(FAILING)
    argv = [
        *(sys.executable, "-m", "castiel", "run", "--target", target),
        *("--budgets", str(budgets), "--store", str(tmp_path / "s.db")),
        *("--runs-dir", str(tmp_path / "runs"), "--duration", "10m", "--users", "2"),
        *extra,
    ]
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def stats_lines(tmp_path: Path) -> int:
    files = list((tmp_path / "runs").glob("*/locust-stats.jsonl"))
    return sum(len(f.read_text().splitlines()) for f in files)


@pytest.mark.slow
def test_sigterm_stops_locust_records_aborted_writes_reports_and_resolves_at_alertmanager(
    service: str, tmp_path: Path
) -> None:
    need("prometheus-alertmanager")
    receiver = Receiver()  # Alertmanager's own webhook: what on-call would be told
    (tmp_path / "am").mkdir()
    am = Alertmanager(tmp_path / "am", receiver.url + "/am-webhook")
    try:
        alerts = tmp_path / "alerts.yaml"
        alerts.write_text(TO_ALERTMANAGER.replace("AM_URL", am.url))
        started = time.monotonic()
        proc = start_run(tmp_path, service, "--alerts", str(alerts))
        wait_until(am.alerts, 90, 0.5, "the failing budget's alert at Alertmanager")
        assert locusts(tmp_path / "runs"), "Locust is loading the service"
        # The elapsed time is the condition here: the stop comes ~15 s into a 10-minute run.
        time.sleep(max(0.0, 15 - (time.monotonic() - started)))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)  # bounded: Locust 20 s, alerts 5 s
        assert proc.returncode == 128 + signal.SIGTERM, out + err
        assert "Traceback" not in err
        assert "stopped by SIGTERM" in err

        assert locusts(tmp_path / "runs") == []
        with Store.open(tmp_path / "s.db", readonly=True) as s:
            (run,) = s.runs()
        assert run.status == "aborted" and run.ended_at is not None
        out_dir = tmp_path / "runs" / run.id
        for name in ("report.json", "junit.xml", "report.md", "report.html"):
            assert (out_dir / name).stat().st_size > 0, name
        report = json.loads((out_dir / "report.json").read_text())
        assert "stopped early: stopped by SIGTERM" in json.dumps(report)
        # Resolved at the real Alertmanager: no active alert, and on-call heard "resolved".
        wait_until(lambda: am.alerts() == [], 30, 0.5, "Alertmanager to drop the alert")
        resolved = wait_until(
            lambda: [
                b for b in (r.json() for r in receiver.delivered()) if b.get("status") == "resolved"
            ],
            30,
            0.5,
            "Alertmanager's resolved webhook",
        )
        (alert,) = resolved[-1]["alerts"]
        assert alert["annotations"]["run_verdict"] == "aborted"
        assert firing_now(tmp_path / "s.db") == []
    finally:
        am.stop()
        receiver.stop()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_sigint_and_sighup_stop_a_distributed_run_the_same_way(
    service: str, tmp_path: Path, sig: signal.Signals
) -> None:
    proc = start_run(tmp_path, service, "--processes", "2")
    wait_until(lambda: stats_lines(tmp_path) >= 3, 90, 0.5, "Locust to report")
    assert len(locusts(tmp_path / "runs")) >= 3  # master and two workers
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 128 + sig, out + err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    assert locusts(tmp_path / "runs") == []
    with Store.open(tmp_path / "s.db", readonly=True) as s:
        (run,) = s.runs()
    assert run.status == "aborted"
    assert (tmp_path / "runs" / run.id / "report.json").exists()


@pytest.mark.slow
def test_locust_does_not_outlive_a_killed_castiel_run(service: str, tmp_path: Path) -> None:
    proc = start_run(tmp_path, service, "--processes", "2")
    try:
        wait_until(lambda: stats_lines(tmp_path) >= 3, 90, 0.5, "Locust to report")
        assert len(locusts(tmp_path / "runs")) >= 3  # master and two workers
        proc.kill()  # SIGKILL: castiel cannot clean up anything
        proc.communicate(timeout=10)
        wait_until(
            lambda: locusts(tmp_path / "runs") == [],
            30,
            0.2,
            "every Locust process to end after castiel was killed",
        )
    finally:
        for pid in locusts(tmp_path / "runs"):  # do not leave load behind if this failed
            os.kill(pid, signal.SIGKILL)


MONITOR_BUDGETS = """
version: 1
budgets:
  - name: backlog
    metric: castiel_queue_jobs{state="wait"}
    aggregation: max
    fail: "< 10"
    min_samples: 1
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("limit", "sig", "code", "status"),
    [
        (["--for", "10m"], signal.SIGTERM, 128 + signal.SIGTERM, "aborted"),
        ([], signal.SIGHUP, 0, "finished"),  # no planned end: a signal is how it ends
    ],
)
def test_a_monitor_stops_cleanly_on_a_signal(
    fresh_redis: RedisServer,
    tmp_path: Path,
    limit: list[str],
    sig: signal.Signals,
    code: int,
    status: str,
) -> None:
    Queue(connect(fresh_redis.url).sync, "work").add_bulk(JobSpec("j", {}) for _ in range(50))
    budgets, out = tmp_path / "b.yaml", tmp_path / "notifications.jsonl"
    budgets.write_text(MONITOR_BUDGETS)
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(
        "route: {receiver: file, group_wait: 0s, group_interval: 1s}\n"
        f'receivers: [{{name: file, file: {{path: "{out}"}}}}]\n'
        "defaults: {for: 0s}\n"
    )
    argv = [
        *(sys.executable, "-m", "castiel", "monitor", "--budgets", str(budgets)),
        *("--redis", fresh_redis.url, "--store", str(tmp_path / "s.db")),
        *("--alerts", str(alerts), "--interval", "500ms", *limit),
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_until(lambda: out.exists() and "firing" in out.read_text(), 60, 0.2, "the alert")
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stdout + stderr
    assert f"stopped by {sig.name}" in stderr and "Traceback" not in stderr
    with Store.open(tmp_path / "s.db", readonly=True) as s:
        (run,) = s.runs()
    assert run.status == status and run.ended_at is not None
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    verdict = lines[1]["alerts"][0]["evidence"]["run_verdict"]
    assert verdict == ("aborted" if status == "aborted" else "fail")
    assert firing_now(tmp_path / "s.db") == []


def start_demo(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    data, log = tmp_path / "demo", tmp_path / "demo.log"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "castiel", "demo", "--duration", "10m", "--users", "2"),
            *("--no-dashboard", "--data-dir", str(data)),
        ],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_until(
        lambda: list((data / "runs").glob("*/locust-stats.jsonl")),
        120,
        0.5,
        "the demo's load test to start",
    )
    return proc, data, log


def demo_markers(data: Path, log: Path) -> list[str]:
    """What the demo's processes have in their command lines: its data directory (the service,
    castiel run, Locust) and its Redis address (redis-server's title, the workers' --redis)."""
    found = re.search(r"redis-server\s+redis://(127\.0\.0\.1:\d+)/0", log.read_text())
    assert found is not None, log.read_text()
    return [str(data.resolve()), found.group(1)]


def demo_processes(markers: list[str]) -> set[int]:
    return {pid for m in markers for pid in processes_naming(m)}


@pytest.mark.slow
def test_sigterm_to_the_demo_ends_every_process_it_started(tmp_path: Path) -> None:
    proc, data, log = start_demo(tmp_path)
    markers = demo_markers(data, log)
    # redis-server, the service, 2 workers, castiel run and Locust
    assert len(demo_processes(markers)) >= 6, demo_processes(markers)
    proc.send_signal(signal.SIGTERM)
    proc.wait(150)
    output = log.read_text()
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "Traceback" not in output and "stopped by SIGTERM" in output
    assert demo_processes(markers) == set()
    with Store.open(data / "castiel.db", readonly=True) as s:
        (run,) = s.runs()
    assert run.status == "aborted"


@pytest.mark.slow
def test_a_killed_demo_takes_its_processes_with_it(tmp_path: Path) -> None:
    proc, data, log = start_demo(tmp_path)
    markers = demo_markers(data, log)
    try:
        assert len(demo_processes(markers)) >= 6
        proc.kill()
        proc.wait(10)
        wait_until(lambda: demo_processes(markers) == set(), 60, 0.5, "the demo's processes to end")
    finally:
        for pid in demo_processes(markers):
            os.kill(pid, signal.SIGKILL)

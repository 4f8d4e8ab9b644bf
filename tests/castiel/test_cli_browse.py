"""`castiel browse` and `castiel run --browse` end to end: real Chromium, the real example
service, the store, budgets in both formats, and bad input as one line."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from castiel.redis_server import free_port
from collectors.model import SeriesKey
from collectors.store import Store, StoreError
from examples.frontend import STATIC_DIR
from tests.budgets.test_lhci import WEB_DEV_SAMPLE
from tests.castiel.test_cli_run import castiel_run, only_run_dir
from tests.collectors.browser.test_pageload import _group_alive
from tests.helpers import ROOT, need, wait_until

FRONTEND_YAML = str(ROOT / "examples" / "frontend.yaml")
LHCI_JSON = str(ROOT / "examples" / "budget.json")


def castiel(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "castiel", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def browse(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return castiel(
        "browse",
        "--url",
        url,
        "--store",
        str(tmp_path / "store.db"),
        "--runs-dir",
        str(tmp_path / "runs"),
        *extra,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def stored_max(store: Store, run_id: str, name: str, **labels: str) -> float:
    (s,) = store.load_series(run_id, [SeriesKey.of(name, labels)])
    return max(h.histogram.max for h in s.histograms)


@pytest.mark.slow
def test_a_budget_fails_with_compression_off_and_passes_with_it_on(
    levers_on: str, compression_off: str, tmp_path: Path
) -> None:
    need("chromium")
    on = browse(tmp_path, levers_on + "/", "--runs", "2", "--budgets", FRONTEND_YAML)
    assert on.returncode == 0, on.stdout + on.stderr
    off = browse(tmp_path, compression_off + "/", "--runs", "2", "--budgets", FRONTEND_YAML)
    assert off.returncode == 1, off.stdout + off.stderr
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        off_run, on_run = store.runs()
        assert on_run.scenario == off_run.scenario == "browse"
        assert on_run.status == off_run.status == "finished"
        failed = {v.budget for v in store.verdicts(off_run.id) if v.status == "fail"}
        assert failed == {"page-weight", "script-weight"}  # gzip is the lever for both
        assert {v.status for v in store.verdicts(on_run.id)} <= {"pass", "warn"}
        app = (STATIC_DIR / "app.js").read_bytes()
        script = {"page": "/", "cache": "cold", "type": "script"}
        body = "castiel_page_body_bytes"
        assert stored_max(store, off_run.id, body, **script) == len(app)
        assert stored_max(store, on_run.id, body, **script) == len(gzip.compress(app, 6, mtime=0))
        lcp = store.load_series(
            on_run.id, [SeriesKey.of("castiel_page_lcp_seconds", {"page": "/", "cache": "warm"})]
        )
        assert sum(h.histogram.count for h in lcp[0].histograms) == 2  # --runs 2
    report = json.loads((tmp_path / "runs" / off_run.id / "report.json").read_text())
    assert report["summary"]["fail"] == 2


@pytest.mark.slow
def test_lighthouse_ci_budget_json_validates_and_gates(
    levers_on: str, compression_off: str, tmp_path: Path
) -> None:
    need("chromium")
    web_dev = tmp_path / "budget.json"
    web_dev.write_text(WEB_DEV_SAMPLE)
    valid = castiel("budgets", "validate", LHCI_JSON, str(web_dev))
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.splitlines() == [f"{LHCI_JSON}: 7 budgets OK", f"{web_dev}: 5 budgets OK"]
    on = browse(tmp_path, levers_on + "/", "--runs", "1", "--cache", "cold", "--budgets", LHCI_JSON)
    assert on.returncode == 0, on.stdout + on.stderr
    off = browse(tmp_path, compression_off + "/", "--runs", "1", "--budgets", LHCI_JSON)
    assert off.returncode == 1, off.stdout + off.stderr
    # The documented sample gates too: its unmeasurable timings are warnings, not failures.
    sample = browse(tmp_path, levers_on + "/", "--runs", "1", "--budgets", str(web_dev))
    assert sample.returncode == 0, sample.stdout + sample.stderr
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        statuses = {v.budget: v.status for v in store.verdicts(store.runs()[0].id)}
    assert statuses["budget.json[0] /* interactive <= 3000 ms"] == "warn"
    assert statuses["budget.json[0] /* script size <= 125 KiB"] == "pass"


@pytest.mark.slow
def test_bad_input_and_broken_targets_are_one_line(stuck_server: str, tmp_path: Path) -> None:
    need("chromium")
    bad = tmp_path / "budget.json"
    bad.write_text('[{"resourceSizes": [{"resourceType": "scripts", "budget": 100}]}]')
    result = castiel("budgets", "validate", str(bad))
    assert result.returncode == 2
    assert one_line(result) == (
        f"{bad}:1:38: [0].resourceSizes[0].resourceType: unknown resource type 'scripts' "
        "(hint: did you mean 'script'?)"
    )
    result = browse(tmp_path, stuck_server + "/", "--budgets", str(bad))
    assert result.returncode == 2 and "unknown resource type 'scripts'" in one_line(result)
    result = browse(tmp_path, "ftp://example.com/")
    assert result.returncode == 2 and one_line(result).endswith("is not an http(s) URL")
    port = free_port()
    result = browse(tmp_path, f"http://127.0.0.1:{port}/")
    assert result.returncode == 3
    assert one_line(result) == (
        f"castiel: http://127.0.0.1:{port}/ is unreachable: net::ERR_CONNECTION_REFUSED"
    )
    result = browse(tmp_path, stuck_server + "/", "--timeout", "3s")
    assert result.returncode == 3
    assert one_line(result) == (
        f"castiel: {stuck_server}/ did not finish loading within 3s (cold load; 1 request(s) "
        f"still pending, e.g. {stuck_server}/hang.js)"
    )
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        assert [r.status for r in store.runs()] == ["broken", "broken"]  # kept, marked


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _runs(path: Path) -> list[str]:
    try:
        with Store.open(path, readonly=True) as store:
            return [r.status for r in store.runs()]
    except StoreError:  # not created (or not migrated) yet
        return []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_chromium_and_marks_the_run(
    stuck_server: str, tmp_path: Path, sig: signal.Signals
) -> None:
    need("chromium")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "castiel",
            "browse",
            "--url",
            stuck_server + "/",
            "--timeout",
            "120s",
            "--store",
            str(tmp_path / "store.db"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        chromium = wait_until(lambda: _children(proc.pid), 30, 0.05, "Chromium to start")[0]
        wait_until(lambda: _runs(tmp_path / "store.db"), 30, 0.05, "the run to be created")
        proc.send_signal(sig)
        assert proc.wait(30) == 128 + sig  # the shell convention, as `castiel run` exits
        wait_until(lambda: not _group_alive(chromium), 20, 0.05, "Chromium to be stopped")
    finally:
        proc.kill()
        proc.communicate()
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        assert [r.status for r in store.runs()] == ["aborted"]


PAGE_AND_API = """
version: 1
budgets:
  - name: catalogue p95
    metric: locust_request_duration_seconds{name="/shards/{shard_type}"}
    aggregation: p95
    fail: "< 2s"
  - name: page lcp
    metric: castiel_page_lcp_seconds{page="/"}
    aggregation: p75
    fail: "< 10s"
  - name: script weight
    metric: castiel_page_transfer_bytes{cache="cold",type="script"}
    aggregation: max
    fail: "< 20480"
"""


@pytest.mark.slow
def test_run_browse_records_page_loads_under_load(levers_on: str, tmp_path: Path) -> None:
    need("chromium")
    result, runs = castiel_run(
        tmp_path,
        levers_on,
        PAGE_AND_API,
        "--duration",
        "12s",
        "--users",
        "3",
        "--browse",
        levers_on + "/",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(runs)
    report = json.loads((run_dir / "report.json").read_text())
    observed = {v["budget"]: v for v in report["verdicts"]}
    assert set(observed) == {"catalogue p95", "page lcp", "script weight"}
    assert observed["page lcp"]["status"] == "pass" and observed["page lcp"]["sample_count"] >= 2
    with Store.open(tmp_path / "store.db", readonly=True) as store:
        keys = {k for k, _ in store.series(run_dir.name)}
        run = store.get_run(run_dir.name)
    caches = {k.label("cache") for k in keys if k.name == "castiel_page_lcp_seconds"}
    assert caches == {"cold", "warm"}
    assert any(k.name == "locust_request_duration_seconds" for k in keys)
    assert run.status == "finished"

"""`castiel check` on runs whose numbers cannot be trusted: INCONCLUSIVE with exit code 4 and
the reason in every report; impossible data refused with exit code 3 and no verdict."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from budgets.reports.json_report import REPORT_SCHEMA
from castiel.errors import EXIT_BROKEN, EXIT_INCONCLUSIVE
from collectors.model import Batch, SeriesKey
from collectors.store import Store

from .test_cli_check import DURATION, _run_cli, check, write_run

STARTED = 1_000_000.0


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / ".castiel" / "castiel.db"


def add_locust(store: Store, run_id: str, cpu: float, requests: float) -> None:
    """What the Locust reporter adds to a run: its CPU every second and its requests."""
    for i in range(1, DURATION + 1):
        b = Batch()
        b.add_gauge(SeriesKey.of("locust_cpu_percent", {"process": "local"}), STARTED + i, cpu)
        key = SeriesKey.of("locust_requests_total", {"name": "/items", "method": "GET"})
        b.add_increment(key, STARTED + i, requests)
        store.write(run_id, b)


def test_a_saturated_load_generator_is_inconclusive_in_every_report(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_path) as s:
        run_id = write_run(s, started=STARTED)
        add_locust(s, run_id, cpu=98.0, requests=60)
    out = tmp_path / "out"
    code = check(
        "--store",
        str(store_path),
        "--baseline",
        "none",
        "--junit",
        str(out / "j.xml"),
        "--json",
        str(out / "r.json"),
        "--html",
        str(out / "r.html"),
        "--markdown",
        str(out / "r.md"),
    )
    assert code == EXIT_INCONCLUSIVE == 4
    console = capsys.readouterr().out
    reason = "load generator saturated: Locust process local used more than 90% of a core"
    assert "Result: INCONCLUSIVE" in console and reason in console
    report = json.loads((out / "r.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["status"] == "inconclusive" and report["validity"]["inconclusive"] is True
    (why,) = report["validity"]["reasons"]
    assert why["problem"] == "load generator saturated" and why["observed"] == 98.0
    assert why["limit"] == 90.0
    assert "Castiel budgets: INCONCLUSIVE" in (out / "r.md").read_text()
    assert reason in (out / "r.md").read_text()
    assert 'data-status="inconclusive"' in (out / "r.html").read_text()
    suite = ET.parse(out / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    error = suite.find("testcase[@name='run validity']/error")
    assert error is not None and reason in (error.get("message") or "")
    with Store.open(store_path, readonly=True) as s:
        assert s.get_run(run_id).verdict == "inconclusive"  # never a baseline


def test_too_few_requests_is_inconclusive(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_path) as s:
        run_id = write_run(s, started=STARTED)
        add_locust(s, run_id, cpu=30.0, requests=0.2)  # 30 requests in the whole run
    budgets = store_path.parent / "b.yaml"
    budgets.write_text(
        "budgets:\n  - name: locust-p95\n    metric: locust_request_duration_seconds\n"
        "    aggregation: p95\n    fail: '< 1s'\n    min_samples: 100\n    on_missing: pass\n"
    )
    code = main_check(budgets, store_path)
    assert code == EXIT_INCONCLUSIVE
    out = capsys.readouterr().out
    assert "too few requests: the run sent 30 requests; budget 'locust-p95' needs" in out


def main_check(budgets: Path, store_path: Path) -> int:
    from castiel.cli import main

    return main(["check", "--budgets", str(budgets), "--store", str(store_path)])


def test_a_healthy_load_generator_leaves_the_verdict_alone(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(store_path) as s:
        run_id = write_run(s, started=STARTED)
        add_locust(s, run_id, cpu=45.0, requests=60)
    assert check("--store", str(store_path), "--baseline", "none") == 0
    assert "INCONCLUSIVE" not in capsys.readouterr().out


def test_impossible_evidence_exits_3_with_one_line_and_no_verdict(store_path: Path) -> None:
    with Store.open(store_path) as s:
        run_id = write_run(s, started=STARTED)
        b = Batch()
        key = SeriesKey.of(
            "castiel_http_requests_total", {"route": "/items", "method": "GET", "status": "200"}
        )
        b.add_increment(key, STARTED + 70.5, -40.0)  # corrupt: counters only grow
        s.write(run_id, b)
    from .test_cli_check import EXAMPLE

    result = _run_cli("check", "--budgets", str(EXAMPLE), "--store", str(store_path))
    assert result.returncode == EXIT_BROKEN, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("castiel: refusing to judge budget 'api-error-rate'")
    assert "negative increment (-40" in lines[0]
    assert "Result:" not in result.stdout  # no verdict table, no verdict
    with Store.open(store_path, readonly=True) as s:
        assert s.get_run(run_id).verdict is None and s.verdicts(run_id) == []

"""`castiel calibrate`: stored runs of one configuration, and K fresh runs of the example
service; budgets noisier than their max_increase are listed as untrustworthy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from castiel.cli import main
from collectors.store import Store
from tests.castiel.test_cli_check import EXAMPLE, write_run
from tests.castiel.test_cli_run import castiel_run
from tests.examples.test_service import start_service


def test_stored_runs_with_a_noisy_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "castiel.db"
    with Store.open(store_path) as s:
        ids = [
            write_run(s, started=1_000_000.0 + 1000 * k, slow=slow, slow_route="/checkout", seed=k)
            for k, slow in enumerate((1.0, 1.35, 0.9))
        ]
    out = tmp_path / "cal.json"
    args = ["calibrate", "--budgets", str(EXAMPLE), "--store", str(store_path)]
    code = main([*args, "--runs", *ids, "--json", str(out)])
    assert code == 1  # some budgets are untrustworthy
    results = {(r["budget"], r["group"].get("route", "")): r for r in json.loads(out.read_text())}
    checkout = results[("api-latency-p95", "/checkout")]
    assert checkout["untrustworthy"] and checkout["noise"] > 0.3
    assert checkout["max_increase"] == 0.10 and checkout["comparisons"] == 6
    assert checkout["suggested_max_increase"] >= 0.35
    items = results[("api-latency-p95", "/items")]
    assert not items["untrustworthy"], items
    printed = capsys.readouterr().out
    assert "UNTRUSTWORTHY: use max_increase >=" in printed and "api-latency-p95" in printed


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "castiel.db"
    with Store.open(store_path) as s:
        run_id = write_run(s, started=1_000_000.0)
    args = ["calibrate", "--budgets", str(EXAMPLE), "--store", str(store_path)]
    assert main([*args, "--runs", run_id]) == 2
    assert main([*args, "--runs", run_id, "nope"]) == 2
    assert "no run with id 'nope'" in capsys.readouterr().err


@pytest.fixture
def service(redis_url: str, tmp_path: Path) -> Iterator[str]:
    proc, base = start_service(redis_url, tmp_path / "db.sqlite")
    yield base
    proc.terminate()
    proc.wait(10)


BUDGETS = """
version: 1
budgets:
  - name: endpoint p95
    metric: locust_request_duration_seconds
    aggregation: p95
    fail: "< 5s"
    group_by: [name]
    baseline: {max_increase: 10%}
"""


@pytest.mark.slow
def test_repeat_runs_the_same_configuration_k_times(service: str, tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(BUDGETS)
    store = tmp_path / "store.db"
    out = tmp_path / "cal.json"
    result, _ = castiel_run(
        tmp_path,
        service,
        BUDGETS,
        "--duration",
        "5s",
        "--users",
        "3",
    )  # one unrelated run first: --repeat must calibrate only its own runs
    assert result.returncode == 0, result.stdout + result.stderr
    args = ["calibrate", "--budgets", str(path), "--store", str(store), "--repeat", "2"]
    run_args = ["--", "--target", service, "--duration", "5s", "--users", "3"]
    code = main([*args, "--json", str(out), *run_args])
    assert code in (0, 1)  # the noise of two short runs on a shared machine is what it is
    results = json.loads(out.read_text())
    assert results and all(len(r["values"]) == 2 for r in results)
    assert all(r["comparisons"] == 2 for r in results if r["comparisons"])
    with Store.open(store, readonly=True) as s:
        assert len(s.runs(10)) == 3

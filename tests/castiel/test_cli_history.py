"""`castiel history`, the change point `castiel check` reports when a run confirms one, and
back-testing a budget file with `castiel check --runs last:N`, on a store (any backend: the
`store_location` fixture) holding runs written through the store API."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from budgets.baseline_select import load_identity
from castiel.cli import main
from collectors.model import Batch, HistogramBuilder, SeriesKey
from collectors.store import Store

BUDGETS = """
version: 1
budgets:
  - name: checkout p95
    metric: castiel_http_request_duration_seconds{route="/checkout"}
    aggregation: p95
    fail: "< 2s"
"""
TIGHT = """
version: 1
budgets:
  - name: checkout p95
    metric: castiel_http_request_duration_seconds{route="/checkout"}
    aggregation: p95
    warn: "< 95ms"
    fail: "< 130ms"
  - name: checkout p99.9
    metric: castiel_http_request_duration_seconds{route="/checkout"}
    aggregation: p99.9
    fail: "< 10s"
"""
STEP_AT, RUNS = 12, 17


def commit(i: int) -> str:
    return hashlib.sha1(f"commit {i}".encode()).hexdigest()


def identity(budgets_text: str) -> dict[str, str]:
    """What `castiel run` records of the load it sent: a last-passing baseline must match it
    (budgets/baseline_select.py)."""
    return load_identity(
        users=40,
        peak_multiplier=3.0,
        duration=30.0,
        locustfile=b"locustfile",
        target="http://127.0.0.1:8000",
        budgets_text=budgets_text,
    )


def write_run(
    store: Store,
    i: int,
    slow: float,
    *,
    branch: str = "main",
    environment: dict[str, str] | None = None,
) -> str:
    """30 s of /checkout at ~100 ms (times `slow`), 40 requests a second, with run-to-run
    noise of a few percent."""
    rng = np.random.default_rng(i)
    started = 1_000_000.0 + 3600 * i
    run = store.create_run(
        started_at=started,
        scenario="peak",
        git_branch=branch,
        git_commit=commit(i),
        environment=environment,
    )
    level = 0.1 * slow * (1 + rng.normal(0, 0.03))
    for s in range(1, 31):
        h = HistogramBuilder()
        for v in rng.lognormal(np.log(level * 0.8), 0.15, 40):
            h.record(float(v))
        b = Batch()
        key = {"route": "/checkout", "method": "POST", "status": "200"}
        b.add_histogram(
            SeriesKey.of("castiel_http_request_duration_seconds", key),
            started + s - 1,
            started + s,
            h.build(),
        )
        b.add_increment(SeriesKey.of("castiel_http_requests_total", key), started + s, 40)
        store.write(run.id, b)
    store.finish_run(run.id, started + 30)
    return run.id


@pytest.fixture
def stepped(store_location: str, tmp_path: Path) -> tuple[str, list[str], Path]:
    """RUNS runs, 50 % slower from run STEP_AT on, none checked yet."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    with Store.open(store_location) as store:
        ids = [write_run(store, i, 1.5 if i >= STEP_AT else 1.0) for i in range(RUNS)]
    return store_location, ids, budgets


def check(store: str, run: str, budgets: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["check", "--budgets", str(budgets), "--run", run, "--store", store])
    assert code == 0
    return capsys.readouterr().out


CHANGE = re.compile(
    r"checkout p95: a change point at commit (\w+) \(\+(\d+) % p95, 95 % CI (\d+)-(\d+) %\)"
)


def test_check_reports_the_change_point_once_when_a_run_confirms_it(
    stepped: tuple[str, list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, ids, budgets = stepped
    said = {i: CHANGE.findall(check(store, run, budgets, capsys)) for i, run in enumerate(ids)}
    reported = {i: found for i, found in said.items() if found}
    assert len(reported) == 1, said  # once, by the run that confirmed it
    [(by, [(named, shift, low, high)])] = reported.items()
    assert STEP_AT + 1 <= by <= STEP_AT + 4  # the step needs runs after it to be believed
    assert named == commit(STEP_AT)[:7]  # the first commit after the change
    assert int(low) < int(shift) < int(high) and int(low) < 50 < int(high)

    code = main(["history", "--budget", "checkout p95", "--store", store])
    out = capsys.readouterr().out
    assert code == 0
    assert f"change point at run {ids[STEP_AT]}, commit {commit(STEP_AT)[:7]}" in out
    assert f"/compare?a={ids[STEP_AT - 1]}&b={ids[STEP_AT]}" in out
    assert out.count("◀ change") == 1
    assert "branch main, scenario peak" in out and "fail < 2 s" in out
    assert re.search(r"(\d+(?:\.\d+)?) ms -> (\d+(?:\.\d+)?) ms", out)


def test_a_flat_history_has_no_change_point(
    store_location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    with Store.open(store_location) as store:
        ids = [write_run(store, i, 1.0) for i in range(15)]
    outs = [check(store_location, run, budgets, capsys) for run in ids]
    assert not any("change point" in out for out in outs)
    assert main(["history", "--store", store_location]) == 0
    out = capsys.readouterr().out
    assert "no change point" in out and "change point at run" not in out


def test_history_of_another_branch_or_budget(
    stepped: tuple[str, list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, ids, budgets = stepped
    for run in ids[:3]:
        check(store, run, budgets, capsys)
    assert main(["history", "--budget", "nope", "--store", store]) == 2
    assert "no checked run of branch main, scenario peak has a verdict of budget 'nope'" in (
        capsys.readouterr().err
    )
    assert main(["history", "--branch", "feature", "--store", store]) == 2
    capsys.readouterr()
    assert main(["history", "--last", "1", "--store", store]) == 2
    assert "a history needs at least 2 runs, got 1" in capsys.readouterr().err


def test_backtest_counts_what_a_tighter_budget_would_have_failed(
    stepped: tuple[str, list[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, ids, _ = stepped
    tight = tmp_path / "tight.yaml"
    tight.write_text(TIGHT)
    out_json = tmp_path / "backtest.json"
    args = ["--runs", "last:10", "--branch", "main", "--json", str(out_json), "--store", store]
    code = main(["check", "--budgets", str(tight), *args])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out_json.read_text())
    assert result["runs"] == ids[-10:]  # oldest first
    p95, p999 = result["budgets"]
    # The slow runs (p95 ~ 155 ms) fail < 130 ms; the others (p95 ~ 100 ms) warn at < 95 ms.
    slow = ids[STEP_AT:]
    assert p95["fail"] == len(slow) and p95["failed_runs"] == slow
    assert p95["warn"] == 10 - len(slow) and p95["warned_runs"] == ids[-10:STEP_AT]
    assert p95["pass"] == 0 and p95["unit"] == "s"
    assert 0.13 < p95["worst"] < 0.2
    assert p999 == {**p999, "fail": 0, "warn": 0, "pass": 10, "missing": 0}
    assert "Back-test of" in out and "would have failed: " + ", ".join(slow) in out
    # Nothing was recorded: the runs have no verdicts.
    with Store.open(store, readonly=True) as s:
        assert all(s.verdicts(r) == [] for r in ids)


def test_backtest_bad_input_exits_2(
    stepped: tuple[str, list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, _, budgets = stepped
    base = ["check", "--budgets", str(budgets), "--store", store]
    assert main([*base, "--runs", "first:3"]) == 2
    assert "expected last:N" in capsys.readouterr().err
    assert main([*base, "--runs", "last:5", "--branch", "nope"]) == 2
    assert "no finished run on branch nope" in capsys.readouterr().err
    assert main([*base, "--branch", "main"]) == 2
    assert main([*base, "--runs", "last:5", "--save-baseline", "x"]) == 2

"""The History page, "vs baseline" on the review page, the chart of a percentile budget and
the back-test panel, on a store (any backend: `store_location`) of runs written through the
store API and checked by `castiel check` exactly as CI would."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from castiel.cli import main
from collectors.store import Store
from tests.castiel.test_cli_history import STEP_AT, commit, identity, write_run
from tests.helpers import ROOT

VIEWS = ROOT / "dashboard" / "views"
BUDGETS = """
version: 1
budgets:
  - name: checkout p95
    metric: castiel_http_request_duration_seconds{route="/checkout"}
    aggregation: p95
    fail: "< 2s"
    baseline: {max_increase: 10%, chunk: 3s}
  - name: checkout p99.9
    metric: castiel_http_request_duration_seconds{route="/checkout"}
    aggregation: p99.9
    warn: "< 130ms"
    fail: "< 1s"
"""


@pytest.fixture
def checked(
    store_location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, list[str], Path]]:
    """16 runs, 50 % slower from run STEP_AT on, each checked in order (baselines: the last
    passing run before it)."""
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    with Store.open(store_location) as store:
        ran = identity(BUDGETS)  # as `castiel run` records it: baselines of like load
        ids = [
            write_run(store, i, 1.5 if i >= STEP_AT else 1.0, environment=ran) for i in range(16)
        ]
    for run in ids:
        code = main(["check", "--budgets", str(budgets), "--run", run, "--store", store_location])
        assert code in (0, 1)
    monkeypatch.setenv("CASTIEL_STORE", store_location)
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    yield store_location, ids, budgets


def page(name: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(VIEWS / name), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def values(array: Any) -> list[float]:
    """A Plotly array: a list, or (Plotly 6+) a typed array {"dtype", "bdata": base64}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), array["dtype"]).tolist()
    return list(array)


def figure(at: AppTest, index: int) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(at.get("plotly_chart")[index].proto.spec)
    return spec


def test_history_page_charts_the_budget_and_names_the_change(
    checked: tuple[str, list[str], Path],
) -> None:
    _, ids, _ = checked
    at = page("history_page.py", budget="checkout p95", branch="main")
    summary = at.dataframe[0].value
    p95 = summary[summary["budget"] == "checkout p95"].iloc[0]
    assert p95["runs"] == 16 and p95["change points"] == 1
    assert p95["last change"].startswith(f"a change point at commit {commit(STEP_AT)[:7]} (+")
    assert p95["latest"].endswith(" ms")
    fig = figure(at, 0)
    [points] = fig["data"]
    ys = values(points["y"])
    assert points["x"][0].startswith("1970-01-12") and len(ys) == 16  # x: run time
    assert [row[1] for row in points["customdata"]] == [commit(i)[:7] for i in range(16)]
    assert {row[2] for row in points["customdata"]} == {"main"}
    assert 90 < ys[0] < 120 and 140 < ys[-1] < 180  # p95 in ms
    shapes = fig["layout"]["shapes"]
    assert any(s["y0"] == pytest.approx(2000) for s in shapes)  # the fail threshold, in ms
    [change_line] = [s for s in shapes if s["x0"] == s["x1"] and s["x0"] != 0]
    first_slow = pd.Timestamp(1_000_000 + 3600 * STEP_AT, unit="s", tz="UTC")
    assert pd.Timestamp(change_line["x0"]) == first_slow  # at the first slow run
    annotations = [a["text"] for a in fig["layout"]["annotations"]]
    assert any(t.startswith(commit(STEP_AT)[:7] + " +") for t in annotations)
    changes = at.dataframe[1].value
    [row] = changes.to_dict("records")
    assert row["run"] == ids[STEP_AT] and row["commit"] == commit(STEP_AT)[:7]
    assert row["compare"] == f"/compare?a={ids[STEP_AT - 1]}&b={ids[STEP_AT]}"
    assert row["direction"] == "worse" and "95 % CI" in row["shift"]


def test_review_shows_the_baseline_comparison(checked: tuple[str, list[str], Path]) -> None:
    _, ids, _ = checked
    at = page("review.py", run=ids[STEP_AT])  # the first slow run, against the last fast one
    grid = at.dataframe[0].value
    p95 = grid[grid["budget"] == "checkout p95"].iloc[0]
    assert p95["baseline run"] == ids[STEP_AT - 1]
    assert p95["compare"] == f"/compare?a={ids[STEP_AT - 1]}&b={ids[STEP_AT]}"
    assert p95["vs baseline"] == "FAIL" and p95["status"] == "❌ fail"
    assert 0.3 < p95["effect"] < 0.8 and p95["ci_low"] < p95["effect"] < p95["ci_high"]
    assert p95["p_value"] < 0.05
    assert p95["effect text"].startswith("+") and "% CI" in p95["effect text"]
    assert "p=" in p95["effect text"]
    steady = page("review.py", run=ids[5]).dataframe[0].value
    first = steady[steady["budget"] == "checkout p95"].iloc[0]
    assert first["vs baseline"] == "PASS" and first["baseline run"] == ids[4]


def test_a_percentile_budget_is_charted_as_that_percentile(
    checked: tuple[str, list[str], Path],
) -> None:
    store, ids, _ = checked
    at = page("review.py", run=ids[3], budget="checkout p99.9")
    fig = figure(at, 0)
    assert fig["layout"]["yaxis"]["title"]["text"] == "p99.9 (ms)"
    [line] = fig["data"]
    with Store.open(store, readonly=True) as s:
        [record] = [r for r in s.verdicts(ids[3]) if r.budget == "checkout p99.9"]
    trace = record.payload["trace"]
    assert values(line["y"]) == pytest.approx([v * 1000 for _, v in trace])
    assert max(values(line["y"])) > 120  # p99.9, not the p95 (~100 ms)
    shapes = fig["layout"]["shapes"]
    assert {round(s["y0"]) for s in shapes if s["type"] == "line"} == {130, 1000}
    p999 = at.dataframe[0].value
    row = p999[p999["budget"] == "checkout p99.9"].iloc[0]
    assert row["thresholds"] == "warn < 130 ms, fail < 1 s"


def test_back_test_panel_shows_castiels_table(
    checked: tuple[str, list[str], Path], tmp_path: Path
) -> None:
    _, ids, _ = checked
    tight = tmp_path / "tight.yaml"
    tight.write_text(BUDGETS.replace('fail: "< 2s"', 'fail: "< 130ms"'))
    at = page("review.py")
    at.text_input(key="backtest_file").set_value(str(tight))
    at.number_input(key="backtest_runs").set_value(8)
    at.text_input(key="backtest_branch").set_value("main")
    next(b for b in at.button if b.label == "Back-test").click().run()
    assert not at.exception
    table = at.dataframe[-1].value
    p95 = table[table["budget"] == "checkout p95"].iloc[0]
    slow = 16 - STEP_AT
    assert p95["runs"] == 8 and p95["would fail"] == slow
    assert p95["failed runs"] == ", ".join(ids[STEP_AT:])
    # A budget file that does not exist: Castiel's own message, not an exit code.
    at.text_input(key="backtest_file").set_value(str(tmp_path / "missing.yaml"))
    next(b for b in at.button if b.label == "Back-test").click().run()
    assert "Back-test failed: castiel:" in at.error[0].value
    assert "missing.yaml" in at.error[0].value


def test_compare_opens_the_linked_runs(checked: tuple[str, list[str], Path]) -> None:
    _, ids, _ = checked
    at = page("compare.py", a=ids[STEP_AT - 1], b=ids[STEP_AT])
    assert at.selectbox(key="cmp_a").value == ids[STEP_AT - 1]
    assert at.selectbox(key="cmp_b").value == ids[STEP_AT]
    table = at.dataframe[0].value
    row = table[table["budget"] == "checkout p95"].iloc[0]
    assert row["value A"].endswith(" ms") and 0.3 < row["delta"] < 0.8

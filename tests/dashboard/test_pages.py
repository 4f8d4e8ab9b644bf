"""Every dashboard page under Streamlit's AppTest, against a store filled by real short
`castiel run`s (tests/dashboard/conftest.py: redis-server, the example service, Locust, the
live monitor, alerts to a real receiver and to a dead one)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store, StoreError
from dashboard import common, report
from tests.dashboard.conftest import SECRET_TOKEN, RealStore, serve_dashboard
from tests.helpers import ROOT, wait_until

DASHBOARD = ROOT / "dashboard"
PAGES = {
    "overview": "overview.py",
    "live": "live.py",
    "review": "review.py",
    "compare": "compare.py",
    "runtime": "runtime_page.py",
    "alerts": "alerts_page.py",
}


def rendered(at: AppTest) -> str:
    """Everything the page sent to the browser, as text (protobuf text of every element)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(out)


def page(name: str, store: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CASTIEL_STORE", str(store))
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(DASHBOARD / "views" / PAGES[name]), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figure(at: AppTest, index: int) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(at.get("plotly_chart")[index].proto.spec)
    return spec


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAGES))
def test_no_page_raises_or_renders_a_secret(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    at = page(name, real_store.path, monkeypatch)
    assert at.title[0].value
    text = rendered(at)
    # The receiver's URL and the token in the dead receiver's URL are secrets of the config.
    assert SECRET_TOKEN not in text
    assert real_store.hook_url.split("/hook")[0] not in text


@pytest.mark.slow
def test_overview_lists_runs_with_verdict_badges(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("overview", real_store.path, monkeypatch)
    runs = at.dataframe[0].value
    assert list(runs["run"]) == list(real_store.run_ids[::-1])  # newest first
    assert set(runs["verdict"]) == {"❌ fail"}
    # One of the budgets' groups fails ("too tight"), the per-endpoint ones pass.
    assert all(0 < p < 1 for p in runs["passing"])
    assert at.metric[0].value == "2"
    assert at.success[0].value == "Nothing is firing."  # both runs ended: all resolved
    bars = figure(at, 0)["data"]
    assert {b["name"] for b in bars} == {"pass", "fail"}


@pytest.mark.slow
def test_budget_review_grid_values_trend_and_chart(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("review", real_store.path, monkeypatch)
    grid = at.dataframe[0].value
    tight = grid[grid["budget"] == "too tight"].iloc[0]
    assert tight["status"] == "❌ fail" and tight["observed"] > 0
    assert tight["thresholds"] == "fail < 0.001 ms"  # in the budget's unit
    assert tight["value"].endswith(" ms") and tight["level"] == 2
    assert len(tight["trend"]) == 2  # sparkline over both runs, oldest first
    assert tight["trend"][-1] == pytest.approx(tight["observed"])
    per_endpoint = grid[grid["budget"] == "endpoint p95"]
    assert len(per_endpoint) >= 3 and set(per_endpoint["status"]) == {"✅ pass"}
    assert at.get("download_button"), "the run's HTML report can be exported"

    # Chart the failing budget: what it judged (its p50 of /orders), its threshold line, its
    # worst interval.
    at.selectbox(key="review_chart").set_value(int(tight.name)).run()
    assert not at.exception
    fig = figure(at, 0)
    assert {t["name"] for t in fig["data"]} == {"too tight"}
    assert fig["layout"]["yaxis"]["title"]["text"] == "p50 (ms)"
    shapes = fig["layout"]["shapes"]
    assert any(s["type"] == "line" and s["y0"] == pytest.approx(0.001) for s in shapes)
    assert any(s["type"] == "rect" for s in shapes), "the worst interval is shaded"
    assert any("Worst interval" in c.value for c in at.caption)


@pytest.mark.slow
def test_an_alert_link_opens_its_run_and_budget(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notifications link to /review?run=ID&budget=NAME (alerts.config's default path)."""
    monkeypatch.setenv("CASTIEL_STORE", str(real_store.path))
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(DASHBOARD / "views" / PAGES["review"]), default_timeout=60)
    older = real_store.run_ids[0]  # not the default choice, which is the newest
    at.query_params["run"] = older
    at.query_params["budget"] = "too tight"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="review_run").value == older
    chart = at.selectbox(key="review_chart")
    assert chart.index is not None and chart.options[chart.index].startswith("too tight [")


@pytest.mark.slow
def test_compare_runs_budgets_distributions_and_saturation(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("compare", real_store.path, monkeypatch)
    table = at.dataframe[0].value
    assert {"observed A", "observed B", "delta"} <= set(table.columns)
    assert len(table) == 5 and table["delta"].notna().all()
    cdf = figure(at, 0)
    dashes = {t["line"]["dash"] for t in cdf["data"]}
    assert dashes == {"solid", "dash"}, "both runs' distributions are overlaid"
    # Same endpoint, same colour, in both runs.
    colour = {t["name"]: t["line"]["color"] for t in cdf["data"]}
    assert colour["/orders · A"] == colour["/orders · B"]
    assert len(at.get("plotly_chart")) == 3  # distributions, p95 over time, throughput
    assert [m.label for m in at.metric] == ["run A", "run B"]  # saturation knee
    # Both runs are constant loads: neither has a knee (a 6 % p95 wobble is not one).
    assert [m.value for m in at.metric] == ["no knee", "no knee"]


@pytest.mark.slow
def test_live_page_charts_latency_against_budget_thresholds(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("live", real_store.path, monkeypatch)
    assert real_store.run_ids[-1] in at.info[0].value  # nothing running: the last run
    p95 = figure(at, 0)
    assert [a["text"] for a in p95["layout"]["annotations"]] == ["endpoint p95 fail 2000 ms"]
    assert {t["name"] for t in p95["data"]} >= {"/orders", "/orders/{order_id}"}
    labels = [m.label for m in at.metric]
    assert {"requests/s", "failures/s", "jobs waiting", "healthy workers"} <= set(labels)
    live = next(d.value for d in at.dataframe if "budget" in d.value.columns)
    assert "too tight" in set(live["budget"])
    assert any(b.label == "⬇️ per-second table (CSV)" for b in at.get("download_button"))
    assert {"Failures", "Exceptions"} <= {h.value for h in at.subheader}


def start_form(at: AppTest, target: str, budgets: str, duration: str = "60s") -> AppTest:
    at.text_input[0].set_value(target)
    at.text_input[1].set_value(budgets)
    at.text_input[2].set_value(duration)
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    return at


def texts(at: AppTest) -> list[str]:
    return [e.value for kind in (at.info, at.success, at.warning, at.error) for e in kind]


@pytest.mark.slow
def test_runs_started_from_the_dashboard_are_one_for_every_tab(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "live.db"  # a store of its own: the other tests count runs
    tab1 = start_form(page("live", store, monkeypatch), real_store.target, str(real_store.budgets))
    assert any(t.startswith("started: `-m castiel run") for t in texts(tab1))
    launcher = common._launcher(str(store))
    launched = launcher.current()
    assert launched is not None

    def running() -> bool:
        try:
            with Store.open(store, readonly=True) as s:
                latest = s.latest_run()
                return latest is not None and latest.status == "running"
        except StoreError:  # not created (or not migrated) yet
            return False

    try:
        wait_until(running, 60, interval=0.2, message="the started run to be recorded")
        tab2 = page("live", store, monkeypatch)  # another tab: a session of its own
        assert any(f"in progress (pid {launched.pid})" in t for t in texts(tab2))
        start_form(tab2, real_store.target, str(real_store.budgets))  # a second start
        assert any(
            t.startswith("Not started: a run started from this dashboard is in progress")
            for t in texts(tab2)
        )
        next(b for b in tab2.button if b.label == "Stop the run").click().run()
        assert any("Asked the run to stop" in t for t in texts(tab2))
        wait_until(lambda: launcher.current() is None, 60, interval=0.2, message="the stop")
    finally:
        if launcher.current() is not None:  # the test failed half-way: leave nothing running
            os.killpg(launched.pid, signal.SIGKILL)
    with Store.open(store, readonly=True) as s:
        latest = s.latest_run()
        assert latest is not None and latest.status == "aborted"
    tab1.run()  # the first tab learns how it ended
    assert any("The last run started here" in t and "ended" in t for t in texts(tab1))


@pytest.mark.slow
def test_a_run_that_fails_to_start_shows_castiels_message(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "live.db"
    missing = tmp_path / "no-such-budgets.yaml"
    at = start_form(page("live", store, monkeypatch), real_store.target, str(missing))
    launcher = common._launcher(str(store))
    wait_until(lambda: launcher.last() is not None, 60, interval=0.2, message="the failed run")
    at.run()
    [error] = [e.value for e in at.error]
    assert "ended: bad input: castiel:" in error and "no-such-budgets.yaml" in error


@pytest.mark.slow
def test_a_run_in_progress_elsewhere_refuses_a_start(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "live.db"
    with Store.open(store) as s:
        other = s.create_run(started_at=time.time(), environment={"host": "ci-runner-7"})
    at = page("live", store, monkeypatch)
    assert any(f"Run `{other.id}` is in progress" in t and "ci-runner-7" in t for t in texts(at))
    start_form(at, real_store.target, str(real_store.budgets))
    assert any(t.startswith(f"Not started: run {other.id} is in progress") for t in texts(at))
    assert common._launcher(str(store)).current() is None


@pytest.mark.slow
def test_runtime_page_shows_queues_and_workers(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("runtime", real_store.path, monkeypatch)
    assert [h.value for h in at.header] == ["Queues", "Workers", "Caches"]
    states = figure(at, 0)
    assert {"wait", "active", "completed"} <= {t["name"] for t in states["data"]}
    assert at.multiselect(key="runtime_queues").value, "the example service's queues"


@pytest.mark.slow
def test_alerts_page_timeline_and_delivery_failures(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page("alerts", real_store.path, monkeypatch)
    events = at.dataframe[0].value
    tight = events[events["name"] == "too tight"]
    assert set(tight["state"]) == {"🔴 firing", "🟢 resolved"}
    assert set(tight["run"]) == set(real_store.run_ids)
    timeline = figure(at, 0)
    assert {t["name"] for t in timeline["data"]} == {"🔴 firing"}
    log = at.dataframe[1].value
    assert set(log["receiver"]) == {"team-hook", "broken-hook"}
    broken = log[log["receiver"] == "broken-hook"]
    assert len(broken) and "✅ delivered" not in set(broken["outcome"])
    assert broken["reason"].str.contains("Connection refused").all()
    assert dict((m.label, m.value) for m in at.metric)["not delivered"] == str(len(broken))


@pytest.mark.slow
def test_silences_are_created_and_expired(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = tmp_path / "store.db"
    shutil.copy(real_store.path, store)
    at = page("alerts", store, monkeypatch)
    at.text_area(key="silence_matchers").set_value('budget="too tight"')
    at.text_input(key="silence_by").set_value("lead")
    next(b for b in at.button if b.label == "Create silence").click().run()
    assert not at.exception and "created" in at.success[-1].value
    silences = at.dataframe[-1].value
    assert list(silences["state"]) == ["active"]
    assert list(silences["matchers"]) == ['budget="too tight"']

    next(b for b in at.button if b.label == "Expire now").click().run()
    assert not at.exception and "expired" in at.success[-1].value
    at.toggle(key="alerts_show_expired").set_value(True).run()
    assert list(at.dataframe[-1].value["state"]) == ["expired"]

    # A silence that would match everything is refused with the reason.
    at.text_area(key="silence_matchers").set_value('budget=~".*"')
    next(b for b in at.button if b.label == "Create silence").click().run()
    assert "Not created" in at.error[0].value


@pytest.mark.slow
def test_html_report_rebuilt_from_the_store(real_store: RealStore) -> None:
    with Store.open(real_store.path, readonly=True) as s:
        run = s.get_run(real_store.run_ids[-1])
        html = report.render(run, s.verdicts(run.id, "check"), run.started_at)
    assert run.id in html and "too tight" in html and "endpoint p95" in html


@pytest.mark.slow
def test_password_gate(real_store: RealStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTIEL_STORE", str(real_store.path))
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60)
    at.secrets["castiel"] = {"password": "correct horse"}
    at.run()
    assert not at.exception and not at.dataframe
    at.text_input[0].set_value("wrong horse")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password."
    text = rendered(at)
    assert not at.dataframe and not any(r in text for r in real_store.run_ids)
    at.text_input[0].set_value("correct horse")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Castiel · overview"
    assert len(at.dataframe[0].value) == 2


def test_no_password_no_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTIEL_STORE", str(tmp_path / "none.db"))
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.text_input
    assert "castiel run" in at.info[0].value


@pytest.mark.parametrize("name", list(PAGES))
def test_empty_state_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    at = page(name, tmp_path / "none.db", monkeypatch)
    assert "castiel run" in at.info[0].value


@pytest.mark.slow
def test_castiel_dashboard_serves_on_loopback(real_store: RealStore, tmp_path: Path) -> None:
    log = tmp_path / "dashboard.log"
    with serve_dashboard(real_store.path, log) as base:
        pass
    out = log.read_text()
    assert f"dashboard: {base}" in out and "WARNING" not in out


FAILING_USERS = """
from locust import FastHttpUser, constant, task


class Failing(FastHttpUser):
    wait_time = constant(0.1)

    @task(3)
    def missing(self):
        self.client.get("/no-such-page", name="/no-such-page")

    @task(1)
    def broken(self):
        raise KeyError("cart")
"""


@pytest.mark.slow
def test_live_page_shows_locusts_failures_and_exceptions(
    real_store: RealStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A real run whose requests fail (404) and whose user code raises: Locust's own failures
    table and exceptions table reach the store and the Live page, and the per-second CSV adds
    up to Locust's totals."""
    locustfile = tmp_path / "failing.py"
    locustfile.write_text(FAILING_USERS)
    store = tmp_path / "failing.db"
    load = ["--locustfile", str(locustfile), "--duration", "4s", "--users", "2"]
    where = ["--store", str(store), "--runs-dir", str(tmp_path / "runs")]
    argv = [sys.executable, "-m", "castiel", "run", "--target", real_store.target]
    result = subprocess.run(
        [*argv, "--budgets", str(real_store.budgets), *load, *where],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode in (1, 4), result.stdout + result.stderr
    at = page("live", store, monkeypatch)
    tables = [d.value for d in at.dataframe]
    errors = next(t for t in tables if "error" in t.columns)
    [row] = errors.to_dict("records")
    assert (row["method"], row["name"]) == ("GET", "/no-such-page")
    assert "404" in row["error"] and row["occurrences"] > 5
    exceptions = next(t for t in tables if "message" in t.columns and "count" in t.columns)
    [raised] = exceptions.to_dict("records")
    assert raised["message"] == "'cart'" and raised["count"] > 1  # str(exception), as Locust
    assert raised["where"].endswith('in broken · raise KeyError("cart")')
    with Store.open(store, readonly=True) as s:
        run = s.latest_run()
        assert run is not None
        failures = sum(
            p.value
            for d in s.load_series(run.id)
            if d.key.name == "locust_failures_total"
            for p in d.points
        )
    assert row["occurrences"] == failures  # the same count as Locust's failures

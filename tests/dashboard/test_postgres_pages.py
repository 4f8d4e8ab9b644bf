"""The dashboard on a shared PostgreSQL store ($CASTIEL_STORE is a URL with a password):
every page renders, none shows the password, and a server that goes away is one clear line,
not a traceback."""

from __future__ import annotations

import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from alerts.silences import list_silences
from castiel.cli import main
from castiel.postgres_server import PostgresServer
from collectors.store import Store
from tests.dashboard.test_pages import DASHBOARD, PAGES, rendered
from tests.storedb import fill_run

BUDGETS = """
version: 1
budgets:
  - name: latency p95
    metric: locust_request_duration_seconds
    aggregation: p95
    group_by: [name]
    fail: "< 2s"
"""


def _app(path: str, url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CASTIEL_STORE", url)
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(path, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def filled(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    budgets = tmp_path_factory.mktemp("pgdash") / "budgets.yaml"
    budgets.write_text(BUDGETS)
    runs = [fill_run(postgres_url, started_at=t) for t in (1000.0, 2000.0)]
    for run_id in runs:
        code = main(["check", "--budgets", str(budgets), "--run", run_id, "--store", postgres_url])
        assert code == 0
    return runs


VIEWS = {**PAGES, "history": "history_page.py"}


@pytest.mark.parametrize("name", list(VIEWS))
def test_every_page_reads_postgres_without_showing_the_password(
    name: str,
    filled: list[str],
    postgres_url: str,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = _app(str(DASHBOARD / "views" / VIEWS[name]), postgres_url, monkeypatch)
    text = rendered(at)
    assert postgres_server.password not in text
    if name == "overview":
        assert at.metric[0].value == "2"
        assert list(at.dataframe[0].value["run"]) == filled[::-1]
    if name == "alerts":  # the alert tables are in the PostgreSQL store too: no refusal
        assert "No alert changed state in this period" in at.info[0].value
        assert "SQLite" not in text


def test_the_alerts_page_creates_and_expires_a_silence_in_postgres(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_run(postgres_url)
    at = _app(str(DASHBOARD / "views" / PAGES["alerts"]), postgres_url, monkeypatch)
    at.text_area(key="silence_matchers").set_value('budget="too tight"')
    at.text_input(key="silence_by").set_value("lead")
    next(b for b in at.button if b.label == "Create silence").click().run()
    assert not at.exception and "created" in at.success[-1].value
    (stored,) = list_silences(postgres_url)
    assert stored.created_by == "lead" and stored.active(time.time())
    next(b for b in at.button if b.label == "Expire now").click().run()
    assert not at.exception and "expired" in at.success[-1].value
    (expired,) = list_silences(postgres_url, include_expired=True)
    assert expired.id == stored.id and not expired.active(time.time())


def test_a_server_that_goes_away_is_one_line_not_a_traceback(
    fresh_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_postgres.url()
    Store.migrate(url)
    fill_run(url)
    at = _app(str(DASHBOARD / "app.py"), url, monkeypatch)
    assert at.metric[0].value == "1"
    fresh_postgres.stop()
    st.cache_data.clear()  # as when the queries' 2-second TTL has passed
    at.run()  # the cached Store's pool finds the server gone
    assert not at.exception, [e.value for e in at.exception]
    message = at.error[0].value
    assert message.startswith("The store cannot be read right now: cannot reach")
    assert f"127.0.0.1:{fresh_postgres.port}" in message
    assert fresh_postgres.password not in rendered(at)
    fresh_postgres.start()
    st.cache_data.clear()
    at.run()  # and finds it again
    assert not at.exception and at.metric[0].value == "1"

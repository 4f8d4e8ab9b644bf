"""Shared by every page: the store (read-only, one connection per thread), cached queries,
the password gate, the HTML report export and empty states."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from alerts import history, outbox, silences
from alerts.db import AlertsDB, AlertsDBError
from budgets import history as history_mod
from collectors.locator import STORE_ENV, StoreLocator, store_locator
from collectors.model import RunInfo, SeriesData
from collectors.store import Store, StoreError, UnknownRun
from dashboard import alerting, data, report, verdict_frames
from dashboard import launcher as launcher_mod

PASSWORD_ENV = "CASTIEL_DASHBOARD_PASSWORD"  # noqa: S105 - the variable's name, not a secret
FIRST_RUN = (
    "castiel run --target http://127.0.0.1:8000 --budgets examples/budgets.yaml "
    "--duration 1m   (or: make demo)"
)
TTL = 2.0
"""Seconds a query result is reused: every tab and every fragment tick within it share one
read of the store."""


def locator() -> StoreLocator:
    """The store this dashboard reads: $CASTIEL_STORE (a SQLite file or a postgresql:// URL,
    set by `castiel dashboard --store`), else .castiel/castiel.db."""
    return store_locator(os.environ.get(STORE_ENV) or None)


def store_key() -> str:
    """The store as cached queries name it, and as pages show it: never with a password."""
    return locator().display()


def runs_dir() -> Path:
    """Where `castiel run` writes reports: beside a SQLite store, else ./.castiel/runs."""
    path = locator().path
    return (path.parent if path is not None else Path(".castiel")) / "runs"


# --- password gate ---------------------------------------------------------------------------


def configured_password(secrets: Mapping[str, Any] | None = None) -> str | None:
    """`[castiel] password = "..."` in Streamlit's secrets, else $CASTIEL_DASHBOARD_PASSWORD."""
    try:
        section = (secrets if secrets is not None else st.secrets).get("castiel") or {}
        value = section.get("password")
    except (FileNotFoundError, KeyError, AttributeError):
        # No secrets file at all is the normal case on a developer's machine.
        value = None
    if not value:
        value = os.environ.get(PASSWORD_ENV) or None
    return None if value is None else str(value)


def password_ok(entered: str, expected: str) -> bool:
    # Constant-time comparison: the time taken says nothing about how much of it was right.
    return hmac.compare_digest(entered.encode(), expected.encode())


def authorized() -> bool:
    """True when no password is configured or this session has entered it; otherwise draws
    the sign-in form (and nothing else) and returns False."""
    expected = configured_password()
    if expected is None or st.session_state.get("castiel_signed_in"):
        return True
    st.title("Castiel")
    with st.form("sign_in"):
        entered = st.text_input("password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_ok(entered, expected):
            st.session_state["castiel_signed_in"] = True
            st.rerun()
        st.error("Wrong password.")
    return False


# --- the store -------------------------------------------------------------------------------


@st.cache_resource
def _open(key: str) -> Store:
    # One read-only Store per store for every session: it holds a small pool of connections
    # and each query takes one, so Streamlit's session threads can share it. `key` has no
    # password; the locator (which has) is read here rather than passed, so it is never
    # part of a cache key.
    return Store.open(locator(), readonly=True)


def store() -> Store | None:
    """The store, or None after telling the reader how to make one."""
    where = locator()
    if not where.exists():
        st.info(f"No metrics store at `{where}` yet. Make your first run:\n\n`{FIRST_RUN}`")
        return None
    try:
        opened = _open(where.display())
        # One small query a page run: a shared PostgreSQL store that is restarting is then
        # one line here (the next rerun reconnects), not a traceback in the page.
        opened.latest_run()
    except StoreError as exc:
        st.error(f"The store cannot be read right now: {exc}")
        return None
    return opened


# Cached queries. `path` is part of the cache key (the Store argument is not hashed), so two
# stores never share results; the TTL keeps a live run's numbers fresh.


@st.cache_data(ttl=TTL)
def runs(_store: Store, path: str, limit: int = 50) -> pd.DataFrame:
    return data.runs_frame(_store, limit)


@st.cache_data(ttl=TTL)
def verdicts(_store: Store, path: str, run_id: str, source: str | None = "check") -> pd.DataFrame:
    return verdict_frames.verdicts_frame(_store, run_id, source)


# Series are shared, not copied (cache_resource): they are immutable, and copying tens of
# thousands of histograms on every hit would cost more than reading them. A finished run's
# data never changes, so it is kept longer than a running one's.
@st.cache_resource(ttl=TTL, max_entries=32)
def _series_running(
    _store: Store, path: str, run_id: str, names: tuple[str, ...]
) -> list[SeriesData]:
    return data.run_series(_store, run_id, names)


@st.cache_resource(ttl=600, max_entries=32)
def _series_finished(
    _store: Store, path: str, run_id: str, names: tuple[str, ...]
) -> list[SeriesData]:
    return data.run_series(_store, run_id, names)


def series(st_store: Store, path: str, run: RunInfo, names: tuple[str, ...]) -> list[SeriesData]:
    """The run's series of these metric names. Ask once per page for every name it needs:
    each call reads the run's rows from the store."""
    load = _series_finished if run.ended_at is not None else _series_running
    return load(st_store, path, run.id, tuple(sorted(set(names))))


@st.cache_data(ttl=TTL)
def series_names(_store: Store, path: str, run_id: str) -> set[str]:
    return data.runtime_names(_store, run_id)


@st.cache_data(ttl=TTL)
def history_frame(_store: Store, path: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    return verdict_frames.budget_history(_store, run_ids)


def run_info(st_store: Store, run_id: str) -> RunInfo | None:
    try:
        return st_store.get_run(run_id)
    except UnknownRun:
        return None  # pruned between the listing and now


def compare_link(a: str, b: str) -> str:
    """The Compare page with run A and run B chosen."""
    return f"/compare?a={a}&b={b}"


def pick_run(
    st_store: Store, key: str, label: str = "run", index: int = 0, param: str = "run"
) -> RunInfo | None:
    frame = runs(st_store, store_key())
    if frame.empty:
        st.info(f"No runs yet. Make one:\n\n`{FIRST_RUN}`")
        return None
    ids = list(frame["run"])
    # Alert notifications link here with ?run=ID (Compare: ?a=ID&b=ID): the first render
    # opens that run.
    linked = st.query_params.get(param)
    if linked in ids and key not in st.session_state:
        index = ids.index(linked)
    labels = {
        r["run"]: f"{r['run']} · {r['verdict']} · {r['scenario']}" for _, r in frame.iterrows()
    }
    chosen = st.selectbox(
        label, ids, index=min(index, len(ids) - 1), key=key, format_func=lambda i: labels[i]
    )
    return run_info(st_store, chosen)


def run_window(run: RunInfo) -> tuple[float, float]:
    return run.started_at, run.ended_at if run.ended_at is not None else time.time()


# --- alerts (read through alerts.history / outbox / silences) ---------------------------------
# On the store's own connections (AlertsDB.of), cached like the other queries: `path` is the
# cache key, the Store argument is not hashed.


@st.cache_data(ttl=TTL)
def alert_events(
    _store: Store, path: str, since: float | None = None, limit: int = 500
) -> pd.DataFrame:
    try:
        return alerting.events_frame(history.events(AlertsDB.of(_store), since=since, limit=limit))
    except AlertsDBError:
        return alerting.events_frame([])


@st.cache_data(ttl=TTL)
def firing(_store: Store, path: str) -> pd.DataFrame:
    try:
        return alerting.events_frame(history.firing_now(AlertsDB.of(_store)))
    except AlertsDBError:
        return alerting.events_frame([])


@st.cache_data(ttl=TTL)
def attempts(
    _store: Store, path: str, failures_only: bool = False, limit: int = 200
) -> pd.DataFrame:
    try:
        rows = outbox.recent_attempts(AlertsDB.of(_store), failures_only=failures_only, limit=limit)
    except AlertsDBError:
        rows = []
    return alerting.attempts_frame(rows)


def silence_list(st_store: Store, include_expired: bool) -> pd.DataFrame:
    # Not cached: after creating or expiring one the reader must see it at once.
    try:
        rows = silences.list_silences(AlertsDB.of(st_store), include_expired=include_expired)
    except AlertsDBError:
        rows = []
    return alerting.silences_frame(rows, time.time())


def show_firing(st_store: Store, path: str) -> int:
    """The alerts firing now, as a table; returns how many."""
    now = firing(st_store, path)
    if now.empty:
        st.success("Nothing is firing.")
        return 0
    st.error(f"{len(now)} alert(s) firing now")
    st.dataframe(
        now[["since", "severity", "name", "group", "state", "summary", "scope"]],
        hide_index=True,
        width="stretch",
        column_config={"since": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
    return len(now)


# --- HTML report export ----------------------------------------------------------------------


def report_button(st_store: Store, run: RunInfo, key: str) -> None:
    """Offer the run's HTML report: the one `castiel run`/`castiel check` wrote next to the
    store, else one rendered from the verdicts in the store. Either is produced only when the
    button is clicked (rendering a report costs more than the rest of a page)."""
    written = runs_dir() / run.id / "report.html"
    where = locator()

    def body() -> bytes:
        # Called outside this script run, maybe on another thread: a connection of its own.
        if written.exists():
            return written.read_bytes()
        with Store.open(where, readonly=True) as own:
            records = own.verdicts(run.id, "check") or own.verdicts(run.id, "live")
            return report.render(own.get_run(run.id), records, time.time()).encode()

    if not written.exists() and not st_store.verdicts(run.id):
        return  # nothing to report yet
    st.download_button(
        "⬇️ HTML report",
        body,
        file_name=f"castiel-{run.id}.html",
        mime="text/html",
        key=f"report_{key}_{run.id}",
        on_click="ignore",
    )


# --- runs started from the dashboard --------------------------------------------------------


@st.cache_resource
def _launcher(key: str) -> launcher_mod.Launcher:
    # One per dashboard process and store: every tab and session shares it.
    return launcher_mod.Launcher(runs_dir())


def launcher() -> launcher_mod.Launcher:
    return _launcher(store_key())


def running_run(st_store: Store) -> RunInfo | None:
    """The newest run the store shows as running, started anywhere."""
    return next((r for r in st_store.runs(10) if r.status == "running"), None)


@st.cache_data(ttl=TTL)
def histories(
    _store: Store, path: str, branch: str | None, scenario: str | None, last: int
) -> list[history_mod.BudgetHistory]:
    """Every budget's history over the last runs of one branch and scenario, with its change
    points (recomputed: budgets/changepoints.py takes milliseconds)."""
    entries = history_mod.read_entries(_store, branch=branch, scenario=scenario, last=last)
    return history_mod.histories(entries)

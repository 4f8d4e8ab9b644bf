"""Shared by every page: the store (read-only, cached), cached queries, empty states."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from collectors.model import RunInfo, SeriesData
from collectors.store import DEFAULT_PATH, Store, StoreError
from dashboard import data

STORE_ENV = "CASTIEL_STORE"
FIRST_RUN = (
    "castiel run --target http://127.0.0.1:8000 --budgets examples/budgets.yaml "
    "--duration 1m   (or: make demo)"
)


def store_path() -> Path:
    return Path(os.environ.get(STORE_ENV, str(DEFAULT_PATH)))


@st.cache_resource
def _open(path: str, thread: int) -> Store:
    # A SQLite connection belongs to the thread that opened it, and Streamlit runs each
    # session's script in a thread of its own: one read-only connection per thread.
    return Store.open(path, readonly=True)


def store() -> Store | None:
    """The store, or None after telling the reader how to make one."""
    path = store_path()
    if not path.exists():
        st.info(f"No metrics store at `{path}` yet. Make your first run:\n\n`{FIRST_RUN}`")
        return None
    try:
        return _open(str(path), threading.get_ident())
    except StoreError as exc:
        st.error(f"The store at `{path}` cannot be read: {exc}")
        return None


@st.cache_data(ttl=2)
def runs(_store: Store, path: str, limit: int = 50) -> pd.DataFrame:
    return data.runs_frame(_store, limit)


@st.cache_data(ttl=2)
def verdicts(_store: Store, path: str, run_id: str) -> pd.DataFrame:
    return data.verdicts_frame(_store, run_id)


@st.cache_data(ttl=2)
def series(_store: Store, path: str, run_id: str, names: tuple[str, ...]) -> list[SeriesData]:
    return data.run_series(_store, run_id, names)


def run_info(st_store: Store, run_id: str) -> RunInfo:
    return st_store.get_run(run_id)


def pick_run(st_store: Store, key: str, label: str = "run", index: int = 0) -> RunInfo | None:
    frame = runs(st_store, str(store_path()))
    if frame.empty:
        st.info(f"No runs yet. Make one:\n\n`{FIRST_RUN}`")
        return None
    ids = list(frame["run"])
    labels = {
        r["run"]: f"{r['run']} · {r['verdict']} · {r['scenario']}" for _, r in frame.iterrows()
    }
    chosen = st.selectbox(
        label, ids, index=min(index, len(ids) - 1), key=key, format_func=lambda i: labels[i]
    )
    return run_info(st_store, chosen)


def run_window(run: RunInfo) -> tuple[float, float]:
    return run.started_at, run.ended_at if run.ended_at is not None else time.time()

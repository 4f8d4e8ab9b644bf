"""The alerts database: a small SQLite file (WAL) of its own beside the metrics store, holding
silences, the delivery outbox and every delivery attempt. The collectors store has no API for
these tables; keeping them apart means neither schema constrains the other. The dashboard reads
this file through `alerts.silences` and `alerts.delivery`."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FILENAME = "alerts.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    primary_receiver TEXT NOT NULL,
    fallback_of INTEGER,
    chain TEXT NOT NULL,
    notification TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    last_reason TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS alert_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER,
    at REAL NOT NULL,
    receiver TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    reason TEXT NOT NULL,
    duration REAL NOT NULL,
    group_key TEXT NOT NULL,
    test INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alert_attempts_at ON alert_attempts (at);
"""


class AlertsDBError(Exception):
    """The alerts database cannot be opened or written."""


def db_path_for(store_path: str | os.PathLike[str]) -> Path:
    """`.castiel/castiel.db` -> `.castiel/alerts.db`."""
    return Path(store_path).parent / FILENAME


class AlertsDB:
    """One connection, usable from several threads of one process (a lock serialises them);
    other processes open their own. Every write is one short IMMEDIATE transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str], busy_timeout: float = 30.0) -> AlertsDB:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                p, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise AlertsDBError(f"{p}: {exc}") from exc
        return cls(conn, p)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise AlertsDBError(f"{self.path}: {exc}") from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise AlertsDBError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AlertsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

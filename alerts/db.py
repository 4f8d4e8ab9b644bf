"""The alert tables in the metrics store's own SQLite file (DESIGN.md: "the store holds ...
alerts and notification attempts"), default `.castiel/castiel.db`.

The collectors store owns its schema through `PRAGMA user_version` migrations and never looks
at tables it did not create, so alerting keeps its own `alert_*` tables in the same file,
created idempotently (`CREATE ... IF NOT EXISTS`) whenever a writer opens it. Before creating
them, a writer opens the file once as a `collectors.store.Store`, so the file is always a
migrated store (a read-only dashboard can open it) and a store written by a newer Castiel is
refused here too.

Tables: `alert_silences`, `alert_outbox` (the durable delivery queue), `alert_attempts` (every
delivery attempt), `alert_events` (alert state transitions, `alerts.history`) and
`alert_engine_state` (the engine's state per scope, so a restarted `castiel monitor` carries
on where it stopped). Nothing in them is ever a secret: notifications hold evidence and labels,
and attempt reasons are redacted before they are written (alerts.secrets).

Old rows are pruned (`prune`, run when an engine opens): 30 days, like the store's runs.

Read API (every function takes an `AlertsDB` or a store path; with a path it opens the file
read-only, and returns empty results when no alert table exists yet):

* `alerts.history.events(db, since=None, run_id=None, limit=500)` -> `list[AlertEvent]`
  (newest first) and `alerts.history.firing_now(db)` -> `list[AlertEvent]`;
* `alerts.delivery.recent_attempts(db, since=None, receiver=None, failures_only=False,
  limit=200)` -> `list[Attempt]` (newest first) and `alerts.delivery.waiting(db)` ->
  `list[OutboxItem]` (notifications not delivered yet);
* `alerts.silences.list_silences(db, now=None, include_expired=False)`,
  `alerts.silences.create_silence(store_path, matchers, ...)` and
  `alerts.silences.expire_silence(store_path, silence_id)` (these two open it for writing).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collectors.store import DEFAULT_PATH, Store, StoreError, check_store_path, connect_sqlite

__all__ = ["DEFAULT_PATH", "AlertsDB", "AlertsDBError", "using"]

TABLES = (
    "alert_silences",
    "alert_outbox",
    "alert_attempts",
    "alert_events",
    "alert_engine_state",
)

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
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    dedup_key TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    group_labels TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    threshold TEXT NOT NULL,
    run_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    summary TEXT NOT NULL,
    run_verdict TEXT,
    suppressed TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_events_at ON alert_events (at);
CREATE INDEX IF NOT EXISTS alert_events_key ON alert_events (dedup_key, id);
CREATE INDEX IF NOT EXISTS alert_events_run ON alert_events (run_id, at);
CREATE TABLE IF NOT EXISTS alert_engine_state (
    scope TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL,
    run_scoped INTEGER NOT NULL DEFAULT 1
);
"""


AlertsDBError = StoreError
"""The store file cannot be opened, read or written for alerting. The alert tables live in
the store's own file, so their errors are the store's: a `RunBroken` (exit 3), or its
`NotAStore` (exit 2) for a directory or a foreign file."""


class AlertsDB:
    """One connection, usable from several threads of one process (a lock serialises them);
    other processes open their own. Every write is one short IMMEDIATE transaction."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, readonly: bool = False, ready: bool = True
    ) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.readonly = readonly
        self.ready = ready
        """False for a read-only handle on a store without alert tables: reads return []."""

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        readonly: bool = False,
        busy_timeout: float = 30.0,
    ) -> AlertsDB:
        """`path` is the metrics store (e.g. .castiel/castiel.db)."""
        p = Path(path)
        if readonly:
            return cls._open_readonly(p, busy_timeout)
        try:
            Store.open(p, busy_timeout=busy_timeout).close()  # creates/migrates the store
            conn = connect_sqlite(p, busy_timeout=busy_timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise AlertsDBError(f"{p}: {exc}") from exc
        return cls(conn, p)

    @classmethod
    def _open_readonly(cls, p: Path, busy_timeout: float) -> AlertsDB:
        check_store_path(p)
        if not p.exists():
            raise AlertsDBError(f"{p}: no such store")
        try:
            conn = connect_sqlite(p, readonly=True, busy_timeout=busy_timeout)
            have = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'alert_%'"
                )
            }
        except sqlite3.Error as exc:
            raise AlertsDBError(f"{p}: {exc}") from exc
        return cls(conn, p, readonly=True, ready=set(TABLES) <= have)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise AlertsDBError(f"{self.path}: opened read-only")
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
        if not self.ready:
            return []
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


RETENTION = 30 * 86400.0
"""Alert history, attempts and finished outbox items are kept this long (like runs)."""


def prune(db: AlertsDB, now: float, max_age: float = RETENTION) -> int:
    """Delete old history, attempts, finished notifications and expired silences; the
    latest event of every alert stays (an alert firing for months is still firing now).
    Returns how many rows went."""
    before = now - max_age
    with db.write() as c:
        n = c.execute(
            "DELETE FROM alert_events WHERE at < ? AND id NOT IN "
            "(SELECT MAX(id) FROM alert_events GROUP BY dedup_key)",
            (before,),
        ).rowcount
        n += c.execute("DELETE FROM alert_attempts WHERE at < ?", (before,)).rowcount
        n += c.execute(
            "DELETE FROM alert_outbox WHERE state != 'pending' AND updated_at < ?", (before,)
        ).rowcount
        n += c.execute("DELETE FROM alert_silences WHERE ends_at < ?", (before,)).rowcount
    return n


@contextmanager
def using(db: AlertsDB | str | os.PathLike[str], *, readonly: bool = True) -> Iterator[AlertsDB]:
    """An open AlertsDB as is, or a store path opened (read-only by default) and closed after."""
    if isinstance(db, AlertsDB):
        yield db
        return
    opened = AlertsDB.open(db, readonly=readonly)
    try:
        yield opened
    finally:
        opened.close()

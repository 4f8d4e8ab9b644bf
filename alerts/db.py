"""The alert tables in the metrics store (DESIGN.md: "the store holds ... alerts and
notification attempts"), on either backend: the SQLite file (default `.castiel/castiel.db`)
or the team's PostgreSQL database, through the store's one SQL layer (`collectors.database`).
The tables are defined in `collectors.schema` and created by the store's migration 0004, like
every other table of the store; stores whose alert tables alerting created itself before
that revision keep their rows.

Tables: `alert_silences`, `alert_outbox` (the durable delivery queue), `alert_attempts` (every
delivery attempt), `alert_events` (alert state transitions, `alerts.history`) and
`alert_engine_state` (the engine's state per scope, so a restarted `castiel monitor` carries
on where it stopped). Nothing in them is ever a secret: notifications hold evidence and labels,
and attempt reasons are redacted before they are written (alerts.secrets).

Old rows are pruned (`prune`, run when an engine opens): 30 days, like the store's runs.

Read API. Every function takes an `AlertsDB` or where the store is (a path, a
`postgresql://` URL or a `StoreLocator`; then it is opened read-only and closed after). A
store whose alert tables do not exist yet (older than revision 0004, opened read-only) reads
as a store without alerts: empty results.

* `alerts.history.events(db, since=None, run_id=None, limit=500)` -> `list[AlertEvent]`
  (newest first) and `alerts.history.firing_now(db)` -> `list[AlertEvent]`;
* `alerts.outbox.recent_attempts(db, since=None, receiver=None, failures_only=False,
  limit=200)` -> `list[Attempt]` (newest first) and `alerts.outbox.waiting(db)` ->
  `list[OutboxItem]` (notifications not delivered yet);
* `alerts.silences.list_silences(db, now=None, include_expired=False)`,
  `alerts.silences.create_silence(where, matchers, ...)` and
  `alerts.silences.expire_silence(where, silence_id)` (these two open it for writing).

A reader that has a `collectors.store.Store` open already shares its connections:
`AlertsDB.of(store)`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Executable, delete, func, inspect, select

from collectors.database import Database
from collectors.locator import DEFAULT_PATH, StoreLocator, check_store_path, store_locator
from collectors.schema import (
    ALERT_TABLES,
    alert_attempts,
    alert_events,
    alert_outbox,
    alert_silences,
)
from collectors.store import Store, StoreError

__all__ = ["DEFAULT_PATH", "AlertsDB", "AlertsDBError", "StoreLike", "prune", "using"]

StoreLike = str | os.PathLike[str] | StoreLocator
"""Where a store is: a SQLite path, a `postgresql://` URL or a locator."""

AlertsDBError = StoreError
"""The store cannot be opened, read or written for alerting. The alert tables live in the
store, so their errors are the store's: a `RunBroken` (exit 3), its `StoreUnavailable` when a
PostgreSQL server cannot be reached, or `NotAStore` (exit 2) for a directory or a foreign
file."""


class AlertsDB:
    """The alert tables of one store, usable from several threads (each transaction takes a
    connection of the store's pool); other processes open their own. Every write is one
    short transaction (on SQLite, under the file's single write lock)."""

    def __init__(self, database: Database, *, owned: bool = True) -> None:
        self._db = database
        self._owned = owned
        self._ready = False

    @classmethod
    def open(
        cls, where: StoreLike = DEFAULT_PATH, *, readonly: bool = False, busy_timeout: float = 30.0
    ) -> AlertsDB:
        """Open the store at `where` (a SQLite writer migrates its file on the way; a
        PostgreSQL store must be at this Castiel's schema: `castiel store migrate`)."""
        locator = store_locator(where)
        if locator.path is not None:
            check_store_path(locator.path)
        return cls(Database.open(locator, readonly=readonly, busy_timeout=busy_timeout))

    @classmethod
    def of(cls, store: Store) -> AlertsDB:
        """The alert tables of an open store, on its connections (closing this handle leaves
        the store open)."""
        return cls(store.database, owned=False)

    @property
    def locator(self) -> StoreLocator:
        return self._db.locator

    @property
    def path(self) -> Path | None:
        """The SQLite file, None for a PostgreSQL store."""
        return self._db.locator.path

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def readonly(self) -> bool:
        return self._db.readonly

    @property
    def ready(self) -> bool:
        """Whether the alert tables exist. Only a store older than revision 0004, opened
        read-only, lacks them; asked again until they appear (a writer migrates the store)."""
        if not self._ready:
            with self._db.read() as c:
                self._ready = set(ALERT_TABLES) <= set(inspect(c).get_table_names())
        return self._ready

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: all of it is stored, or none of it."""
        with self._db.write() as c:
            yield c

    def rows(self, query: Executable) -> list[Any]:
        """The rows of one query in a read transaction of its own; [] without alert tables."""
        if not self.ready:
            return []
        with self._db.read() as c:
            return list(c.execute(query).all())

    def close(self) -> None:
        if self._owned:
            self._db.close()

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
    e = alert_events
    latest = select(func.max(e.c.id)).group_by(e.c.dedup_key)
    statements = (
        delete(e).where(e.c.at < before, e.c.id.not_in(latest)),
        delete(alert_attempts).where(alert_attempts.c.at < before),
        delete(alert_outbox).where(
            alert_outbox.c.state != "pending", alert_outbox.c.updated_at < before
        ),
        delete(alert_silences).where(alert_silences.c.ends_at < before),
    )
    with db.write() as c:
        return sum(c.execute(s).rowcount for s in statements)


@contextmanager
def using(db: AlertsDB | StoreLike, *, readonly: bool = True) -> Iterator[AlertsDB]:
    """An open AlertsDB as is, or the store at `db` opened (read-only by default) and closed
    after."""
    if isinstance(db, AlertsDB):
        yield db
        return
    opened = AlertsDB.open(db, readonly=readonly)
    try:
        yield opened
    finally:
        opened.close()

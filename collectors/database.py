"""The store's connection to its database, for both backends: engines, transactions, schema
checks on open, and turning driver errors into `StoreError`s that name the store without its
password.

* SQLite (embedded): WAL, `synchronous = NORMAL`, foreign keys on. Every write is one
  `BEGIN IMMEDIATE` transaction, so a second writer waits (`busy_timeout`) instead of failing
  half way; every read is one transaction, so it sees whole batches. A writer migrates the
  file on open, under the write lock, so two processes opening a new file do not race.
* PostgreSQL (shared): psycopg 3 under SQLAlchemy's connection pool, which checks a
  connection before handing it out (`pool_pre_ping`), so a server that restarted costs one
  reconnect, not an error. (psycopg_pool is not used: the engine pools already, and a pool
  under a pool would only hold twice the connections.) Writes run at READ COMMITTED (each a
  transaction of its own), snapshot reads at REPEATABLE READ. Migrations never run on open:
  `castiel store migrate` applies them under an advisory lock, and opening an older schema
  names that command.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from collectors import migrations
from collectors.locator import StoreLocator
from collectors.store_errors import NotAStore, StoreError, StoreUnavailable


def driver_errors() -> tuple[type[BaseException], ...]:
    """What a store operation may raise: SQLAlchemy's errors, and the drivers' own (bulk
    inserts and loads talk to the driver directly). psycopg is looked up, not imported: a
    SQLite user never loads it, and without it loaded it cannot have raised."""
    psycopg = sys.modules.get("psycopg")
    return (SQLAlchemyError, sqlite3.Error, *([psycopg.Error] if psycopg else []))


CONNECT_TIMEOUT = 5
"""Seconds to wait for a PostgreSQL server to accept a connection."""
_MIGRATE_LOCK = 0x43A57E1
"""pg_advisory_xact_lock key: one `castiel store migrate` at a time per database."""
# Tables 0.1.0's alerting kept in the same SQLite file (alerts/db.py) and SQLite's own.
_FOREIGN_OK = re.compile(r"^(alert_.*|sqlite_.*)$")


@dataclass(frozen=True)
class Migration:
    """What `migrate` did: the schema version before and after, and the revisions applied."""

    before: int
    after: int
    applied: tuple[str, ...]


class Database:
    """One store's engine (a small pool of connections), usable from several threads."""

    def __init__(self, locator: StoreLocator, engine: Engine, readonly: bool) -> None:
        self.locator = locator
        self.engine = engine
        self.readonly = readonly

    @property
    def dialect(self) -> str:
        return self.locator.dialect

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def connect(
        cls, locator: StoreLocator, *, readonly: bool = False, busy_timeout: float = 30.0
    ) -> Database:
        """The engine only: nothing is checked (connections are made when first used)."""
        if locator.path is not None and readonly and not locator.path.exists():
            raise StoreError(f"{locator}: no such store")
        if locator.path is not None and not readonly:
            try:
                locator.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{locator}: {exc.strerror or exc}") from exc
        return cls(locator, _engine(locator, readonly, busy_timeout), readonly)

    @classmethod
    def open(
        cls, locator: StoreLocator, *, readonly: bool = False, busy_timeout: float = 30.0
    ) -> Database:
        """Connect and check the schema (migrating a SQLite writer's file on the way)."""
        db = cls.connect(locator, readonly=readonly, busy_timeout=busy_timeout)
        try:
            if locator.is_sqlite and not readonly:
                db._migrate()
            else:
                db._check_schema()
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.engine.dispose()

    def _check_schema(self) -> None:
        with self.read() as conn:
            state = migrations.schema_state(conn)
        self._refuse_foreign_or_newer(state)
        if state.version < migrations.LATEST_VERSION:
            if self.locator.is_sqlite:
                raise StoreError(
                    f"{self.locator}: schema version {state.version} needs migrating; open it "
                    "once for writing (any castiel command that records) first"
                )
            what = (
                "has no Castiel schema yet"
                if state.empty
                else (
                    f"is at schema version {state.version}, this Castiel needs "
                    f"{migrations.LATEST_VERSION}"
                )
            )
            raise StoreError(
                f"{self.locator} {what}: run `castiel store migrate --store URL` "
                "(once, from any machine)"
            )

    def _refuse_foreign_or_newer(self, state: migrations.SchemaState) -> None:
        if state.revision is not None and not migrations.is_known(state.revision):
            newer = f"revision {state.revision}"
        elif state.version > migrations.LATEST_VERSION:
            newer = f"version {state.version}"
        else:
            newer = ""
        if newer:
            raise StoreError(
                f"{self.locator}: schema {newer} is newer than this Castiel understands "
                f"({migrations.LATEST_VERSION}); upgrade Castiel"
            )
        foreign = sorted(t for t in state.tables if not _FOREIGN_OK.match(t))
        if self.locator.is_sqlite and state.version == 0 and foreign:
            raise NotAStore(
                f"{self.locator}: a SQLite database, but not a Castiel store (it has tables "
                f"{', '.join(foreign[:5])}); pass --store with another file"
            )

    def migrate(self) -> Migration:
        """Bring the schema to this Castiel's version (what `castiel store migrate` does)."""
        if self.readonly:
            raise StoreError(f"{self.locator}: opened read-only")
        return self._migrate()

    def _migrate(self) -> Migration:
        try:
            with self.engine.connect() as conn:
                if self.locator.is_sqlite:
                    # Batch ALTERs copy tables: with foreign keys on, dropping the old `runs`
                    # would cascade into every run's points. The pragma is a no-op inside a
                    # transaction, so it is set before BEGIN, on this connection only.
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
                try:
                    with conn.execution_options(castiel_write=True).begin():
                        if not self.locator.is_sqlite:
                            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATE_LOCK})")
                        state = migrations.schema_state(conn)
                        self._refuse_foreign_or_newer(state)
                        applied: list[str] = []
                        if state.version < migrations.LATEST_VERSION or state.revision is None:
                            # Alembic is imported only here: most opens find nothing to do.
                            from collectors.migrations import apply  # noqa: PLC0415

                            applied = apply.upgrade(conn, state)
                finally:
                    if self.locator.is_sqlite:
                        conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
        except driver_errors() as exc:
            raise self.error(exc) from exc
        return Migration(state.version, migrations.LATEST_VERSION, tuple(applied))

    # --- transactions --------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: all of it is stored, or none of it."""
        if self.readonly:
            raise StoreError(f"{self.locator}: opened read-only")
        try:
            with self.engine.connect() as conn, conn.execution_options(castiel_write=True).begin():
                yield conn
        except driver_errors() as exc:
            raise self.error(exc) from exc

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Connection]:
        """One read transaction; with `snapshot`, every statement in it sees the same
        committed state (SQLite always does; PostgreSQL needs REPEATABLE READ)."""
        try:
            with self.engine.connect() as conn:
                if snapshot and not self.locator.is_sqlite:
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except driver_errors() as exc:
            raise self.error(exc) from exc

    # --- errors --------------------------------------------------------------------------

    def error(self, exc: BaseException) -> StoreError | NotAStore:
        """The one-line error for a driver failure, naming the store (never its password)."""
        return store_error(self.locator, exc)


def store_error(locator: StoreLocator, exc: BaseException) -> StoreError | NotAStore:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = locator.redact(_first_line(orig))
    if isinstance(orig, sqlite3.DatabaseError) and "not a database" in reason:
        # Foreign files are refused before opening (check_store_path), so a file that gets
        # here starts like SQLite: a store that broke, not bad input.
        return StoreError(f"{locator}: {reason} (the store is corrupt)")
    if not locator.is_sqlite and _is_disconnect(exc, orig):
        return StoreUnavailable(
            f"cannot reach the PostgreSQL store at {locator.where} ({locator}): {reason}"
        )
    return StoreError(f"{locator}: {reason}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0].strip()
    # psycopg: 'connection failed: connection to server at "h", port p failed: <reason>'
    match = re.search(
        r'connection to server at "[^"]*"(?:\s*\([^)]*\))?, port \d+ failed: (.*)', line
    )
    return match.group(1).strip() if match else line


def _is_disconnect(exc: BaseException, orig: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return isinstance(orig, OSError)
    if isinstance(orig, psycopg.OperationalError):
        # No SQLSTATE: the connection itself failed. 57P: the server is shutting down or
        # restarting (admin_shutdown, crash_shutdown, cannot_connect_now); 08: connection.
        state = getattr(orig, "sqlstate", None)
        return state is None or state.startswith(("57P", "08"))
    return isinstance(orig, psycopg.InterfaceError | OSError)


def dialect_insert(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (both backends speak it)."""
    return sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)


# --- engines -------------------------------------------------------------------------------


def _engine(locator: StoreLocator, readonly: bool, busy_timeout: float) -> Engine:
    if locator.path is not None:
        return _sqlite_engine(locator, readonly, busy_timeout)
    options = "-c default_transaction_read_only=on" if readonly else ""
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "castiel",
    }
    if options:
        connect_args["options"] = options
    return create_engine(
        locator.url,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=8,
        connect_args=connect_args,
    )


def _sqlite_engine(locator: StoreLocator, readonly: bool, busy_timeout: float) -> Engine:
    assert locator.path is not None
    path = locator.path

    def connect() -> sqlite3.Connection:
        if readonly:
            return sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        return sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )

    engine = create_engine("sqlite+pysqlite://", creator=connect, poolclass=QueuePool)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            mode = dbapi_conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError("could not switch to WAL mode")
            dbapi_conn.execute("PRAGMA synchronous = NORMAL")

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # sqlite3 is told not to begin by itself (isolation_level=None): a write takes the
        # write lock up front, so it never fails half way on a lock another writer holds.
        write = conn.get_execution_options().get("castiel_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine

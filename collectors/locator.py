"""Where the store lives: a SQLite file (the embedded default) or a PostgreSQL server (the
team's shared store), from `--store` or `$CASTIEL_STORE`.

`store_locator(text)` is the one place that tells the two apart: `postgresql://` (or
`postgres://`) is a server, `sqlite:///PATH` or anything else a file path. A locator prints
without its password (`str()`, `repr()`, f-strings), so a locator can go into any message,
log line, report or page; only `secret_text()` gives it back whole, for a child process's
environment. Without a password in the URL, libpq's own `$PGPASSWORD` and `~/.pgpass` apply."""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from sqlalchemy.engine import URL

from collectors.store_errors import NotAStore, StoreError
from runtime.errors import BadInput

STORE_ENV = "CASTIEL_STORE"
DEFAULT_PATH = Path(".castiel") / "castiel.db"
DEFAULT_PG_PORT = 5432

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SERVER_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}


class BadStoreLocator(BadInput, ValueError):
    """`--store`/`$CASTIEL_STORE` is neither a path nor a URL Castiel can use."""


@dataclass(frozen=True)
class StoreLocator:
    """A SQLite file (`path`) or a PostgreSQL server (`url`, with `path` None)."""

    url: URL = field(repr=False)
    path: Path | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @property
    def host(self) -> str:
        return self.url.host or os.environ.get("PGHOST") or "localhost"

    @property
    def port(self) -> int:
        return self.url.port or int(os.environ.get("PGPORT") or DEFAULT_PG_PORT)

    @property
    def where(self) -> str:
        """`host:port` of a server (what an "unreachable" message names), the file's path."""
        if self.path is not None:
            return str(self.path)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def password(self) -> str | None:
        return self.url.password if isinstance(self.url.password, str) else None

    def exists(self) -> bool:
        """Whether there is something to open read-only: the file, or (always) a server."""
        return self.path is None or self.path.exists()

    def display(self) -> str:
        """Safe to print: the path, or the URL with its password replaced by ***."""
        if self.path is not None:
            return str(self.path)
        return _render(self.url, hide_password=True)

    def secret_text(self) -> str:
        """The whole locator, password included: for a child process's environment only."""
        if self.path is not None:
            return str(self.path)
        return _render(self.url, hide_password=False)

    def redact(self, text: str) -> str:
        """`text` with this locator's password (raw or URL-quoted) replaced by ***."""
        secret = self.password
        if not secret:
            return text
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, "***")
        return text

    def __str__(self) -> str:
        return self.display()

    def __repr__(self) -> str:
        return f"StoreLocator({self.display()!r})"


def _render(url: URL, *, hide_password: bool) -> str:
    netloc = ""
    if url.username is not None:
        netloc = quote(url.username, safe="")
        if url.password is not None:
            secret = "***" if hide_password else quote(str(url.password), safe="")
            netloc += f":{secret}"
        netloc += "@"
    if url.host:
        netloc += f"[{url.host}]" if ":" in url.host else url.host
    if url.port:
        netloc += f":{url.port}"
    path = f"/{quote(url.database)}" if url.database else ""
    query = urlencode(sorted((k, str(v)) for k, v in url.query.items()))
    return f"postgresql://{netloc}{path}" + (f"?{query}" if query else "")


def _server_url(text: str) -> URL:
    # urlsplit takes the userinfo up to the *last* '@', so an unescaped '@' in a password
    # stays in the password (and out of every message) rather than becoming the host.
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadStoreLocator(f"store URL: {exc}") from None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    password = unquote(parts.password) if parts.password is not None else None
    password = query.pop("password", password)
    database = unquote(parts.path.lstrip("/")) or None
    return URL.create(
        "postgresql+psycopg",
        username=unquote(parts.username) if parts.username else None,
        password=password,
        host=parts.hostname or None,
        port=port,
        database=database,
        query=query,
    )


def store_locator(value: str | os.PathLike[str] | StoreLocator | None = None) -> StoreLocator:
    """The store named by `value`, by `$CASTIEL_STORE` when `value` is None, else the default
    `.castiel/castiel.db`."""
    if isinstance(value, StoreLocator):
        return value
    if value is None:
        value = os.environ.get(STORE_ENV) or DEFAULT_PATH
    text = os.fspath(value).strip()
    if not text:
        raise BadStoreLocator("empty store location: give a file path or a postgresql:// URL")
    match = _SCHEME.match(text)
    if match is None:
        path = Path(text)
        return StoreLocator(URL.create("sqlite+pysqlite", database=str(path)), path)
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        rest = text[len("sqlite:///") :] if text.startswith("sqlite:///") else ""
        if not rest:
            raise BadStoreLocator("a sqlite store URL is sqlite:///PATH (or just give the path)")
        return StoreLocator(URL.create("sqlite+pysqlite", database=rest), Path(rest))
    if scheme in _SERVER_SCHEMES:
        return StoreLocator(_server_url(text))
    raise BadStoreLocator(
        f"store URL scheme {scheme}:// is not supported: give a file path (SQLite) or a "
        "postgresql:// URL"
    )


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_store_path(path: Path) -> None:
    """Raise NotAStore for a directory, a non-empty file that is not SQLite, or someone
    else's SQLite database (tables, but no Castiel schema version), so nothing is created
    inside a directory or written into another program's file."""
    if path.is_dir():
        raise NotAStore(f"{path} is a directory, not a Castiel store (give the store's file)")
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror or exc}") from None
    if not head:
        return  # empty: a store not created yet
    if head != _SQLITE_MAGIC:
        raise NotAStore(f"{path} is not a Castiel store (not a database)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 6"
                )
            ]
        finally:
            conn.close()
    except sqlite3.Error:
        return  # corrupt or locked: opening it says why (StoreError, exit 3)
    if version == 0 and tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise NotAStore(f"{path} is an SQLite database, but not a Castiel store (tables: {shown})")

"""`--store`, the same on every command that reads or writes the store: a SQLite file path or
a `postgresql://` URL, defaulting to `$CASTIEL_STORE`, else `.castiel/castiel.db`. The parsed
value is a `StoreLocator`, which prints without its password."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from castiel.errors import UsageError
from collectors.locator import (
    DEFAULT_PATH,
    STORE_ENV,
    BadStoreLocator,
    StoreLocator,
    check_store_path,
    store_locator,
)
from collectors.store_errors import NotAStore, StoreError

HELP = (
    "metrics store: a SQLite file or a postgresql://USER@HOST:PORT/DB URL (password from "
    f"$PGPASSWORD or ~/.pgpass, or in the URL); default ${STORE_ENV}, else {DEFAULT_PATH}"
)


def add_store_argument(parser: argparse.ArgumentParser, help: str = HELP) -> None:
    # The default is a string so that argparse parses it like a given value; it is read
    # when the parser is built, i.e. once per `castiel` invocation.
    parser.add_argument(
        "--store",
        type=store_path,
        default=os.environ.get(STORE_ENV) or str(DEFAULT_PATH),
        metavar="PATH|URL",
        help=help,
    )


def store_path(text: str) -> StoreLocator:
    """The store: a SQLite file (new, or a Castiel store: a directory or a foreign file is
    refused) or a postgresql:// URL. Never echoes the value (it may hold a password)."""
    try:
        locator = store_locator(text)
        if locator.path is not None:
            check_store_path(locator.path)
    except (BadStoreLocator, NotAStore) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    except StoreError:
        pass  # unreadable: opening it says why (exit 3), as for a store that breaks later
    return locator


def sqlite_file(locator: StoreLocator, what: str) -> Path:
    """The SQLite file of a store for features that still talk to SQLite directly (alerting's
    tables, alerts/db.py); a clear exit 2 on a PostgreSQL store."""
    if locator.path is None:
        raise UsageError(
            f"{what} keeps its tables in a SQLite store for now, and --store is {locator}: "
            "give --store a SQLite file for it (the run's metrics can stay in PostgreSQL "
            "only without alerting)"
        )
    return locator.path

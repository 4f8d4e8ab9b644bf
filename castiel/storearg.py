"""`--store`, the same on every command that reads or writes the store: a SQLite file path or
a `postgresql://` URL, defaulting to `$CASTIEL_STORE`, else `.castiel/castiel.db`. The parsed
value is a `StoreLocator`, which prints without its password."""

from __future__ import annotations

import argparse
import os

from castiel import argtypes
from collectors.locator import DEFAULT_PATH, STORE_ENV

HELP = (
    "metrics store: a SQLite file or a postgresql://USER@HOST:PORT/DB URL (password from "
    f"$PGPASSWORD or ~/.pgpass, or in the URL); default ${STORE_ENV}, else {DEFAULT_PATH}"
)


def add_store_argument(parser: argparse.ArgumentParser, help: str = HELP) -> None:
    # The default is a string so that argparse parses it like a given value; it is read
    # when the parser is built, i.e. once per `castiel` invocation.
    parser.add_argument(
        "--store",
        type=argtypes.store_path,
        default=os.environ.get(STORE_ENV) or str(DEFAULT_PATH),
        metavar="PATH|URL",
        help=help,
    )

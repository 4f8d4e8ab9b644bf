"""`castiel store migrate`: bring a store's schema to this Castiel's version.

A SQLite store migrates itself whenever a command opens it for writing; a PostgreSQL store,
shared by many machines that may run different Castiel versions, changes only when someone
runs this command (once, from any machine; concurrent runs wait for each other)."""

from __future__ import annotations

import argparse
from typing import Any

from castiel.errors import EXIT_PASS
from castiel.storearg import add_store_argument
from collectors.store import Store


def register(sub: Any) -> None:
    p = sub.add_parser("store", help="manage the metrics store (schema migrations)")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION")
    ssub.required = True
    m = ssub.add_parser(
        "migrate",
        help="create or upgrade the store's schema",
        description="Create the store's tables in a new database, or upgrade an older schema "
        "to this Castiel's version. Needed for PostgreSQL (commands refuse a store whose "
        "schema is older or missing); a SQLite store migrates itself when opened for writing. "
        "A store written by a newer Castiel is left alone (exit 3). Exit 0 done, 2 bad "
        "--store, 3 the store is unreachable or newer.",
        epilog="example: PGPASSWORD=... castiel store migrate --store "
        "postgresql://castiel@db.internal:5432/castiel",
    )
    add_store_argument(m)
    m.set_defaults(handler=migrate)


def migrate(args: argparse.Namespace) -> int:
    done = Store.migrate(args.store)  # StoreError: exit 3, one line
    if done.applied:
        print(
            f"store {args.store}: schema version {done.before} -> {done.after} "
            f"(applied {', '.join(done.applied)})"
        )
    else:
        print(f"store {args.store}: schema version {done.after}, up to date")
    return EXIT_PASS

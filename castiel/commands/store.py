"""`castiel store migrate`: bring a store's schema to this Castiel's version; `castiel store
prune`: delete runs outside the retention policy.

A SQLite store migrates itself whenever a command opens it for writing; a PostgreSQL store,
shared by many machines that may run different Castiel versions, changes only when someone
runs this command (once, from any machine; concurrent runs wait for each other)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from castiel.errors import EXIT_PASS, UsageError
from castiel.storearg import add_store_argument
from collectors.store import RetentionPolicy, Store
from runtime.durations import parse_duration


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
    p2 = ssub.add_parser(
        "prune",
        help="delete old runs (retention)",
        description="Delete runs older than --max-age and beyond the newest --max-runs, with "
        "all their data (default: the store's retention setting, else 30 days and 500 runs). "
        "Runs still running and runs saved as named baselines are always kept.",
    )
    add_store_argument(p2)
    p2.add_argument("--max-age", metavar="DURATION", help="e.g. 30d, 12h")
    p2.add_argument("--max-runs", type=int, metavar="N")
    p2.set_defaults(handler=prune)


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


def prune(args: argparse.Namespace) -> int:
    if args.max_runs is not None and args.max_runs < 0:
        raise UsageError("--max-runs must be >= 0")
    try:
        max_age = None if args.max_age is None else parse_duration(args.max_age)
    except ValueError as exc:
        raise UsageError(f"--max-age: {exc}") from None
    with Store.open(args.store) as store:
        stored = store.retention()
        policy = RetentionPolicy(
            stored.max_age_seconds if max_age is None else max_age,
            stored.max_runs if args.max_runs is None else args.max_runs,
        )
        deleted = store.prune(time.time(), policy)
    print(f"store {args.store}: {len(deleted)} run(s) deleted")
    return EXIT_PASS

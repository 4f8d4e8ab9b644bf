"""For developers: write the next migration.

    .venv/bin/python -m collectors.migrations revision -m "what it changes" [--autogenerate]

Creates `collectors/migrations/versions/r<NNNN>_<slug>.py` with the next number. With
`--autogenerate`, Alembic fills `upgrade()` with the difference between a store migrated to
the current head and `collectors/schema.py` (edit the Table objects first); read what it wrote,
it is a draft. docs/development.md, "Adding a migration"."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from alembic import command

from collectors.database import Database
from collectors.locator import store_locator
from collectors.migrations import HERE, LATEST_VERSION
from collectors.migrations.apply import config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collectors.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="write the next migration")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)
    rev_id = f"{LATEST_VERSION + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        db = Database.open(store_locator(Path(scratch) / "head.db"))  # migrated to the head
        try:
            with db.engine.connect() as conn:
                cfg = config(conn)
                cfg.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
                cfg.set_main_option("version_locations", str(HERE / "versions"))
                command.revision(
                    cfg, message=args.message, autogenerate=args.autogenerate, rev_id=rev_id
                )
        finally:
            db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

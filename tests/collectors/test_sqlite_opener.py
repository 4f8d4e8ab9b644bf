"""One way to open a SQLite store file (collectors.locator.connect_sqlite): the store's
engine, the alert tables and the foreign-file check all go through it."""

from __future__ import annotations

import ast
import sqlite3
import threading
from pathlib import Path

import pytest

from collectors.locator import connect_sqlite

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ("runtime", "collectors", "budgets", "alerts", "loadtest", "dashboard", "castiel")


def test_read_only_never_creates_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(sqlite3.OperationalError):
        connect_sqlite(missing, readonly=True)
    assert not missing.exists()


def test_a_writer_is_autocommit_and_shared_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = connect_sqlite(path)
    conn.execute("CREATE TABLE t (x)")
    failed: list[BaseException] = []

    def insert() -> None:
        try:
            conn.execute("INSERT INTO t VALUES (1)")
        except BaseException as exc:  # reported by the assertion below
            failed.append(exc)

    t = threading.Thread(target=insert)
    t.start()
    t.join()
    assert failed == []
    # Autocommit: another connection sees the row without a commit.
    reader = connect_sqlite(path, readonly=True)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO t VALUES (2)")
    conn.close()
    reader.close()


def test_no_platform_module_opens_sqlite_another_way() -> None:
    callers = []
    for package in PLATFORM:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == "connect"
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "sqlite3"
                ):
                    callers.append(str(path.relative_to(ROOT)))
    assert sorted(set(callers)) == ["collectors/locator.py"]

"""castiel/argtypes.py on its own: each kind of value, its bounds and its one-line refusal
(the table in test_cli_arguments.py runs them through every command)."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from castiel import argtypes, storearg
from collectors.store import Store


def refused(parse: object, text: str) -> str:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)  # type: ignore[operator]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_durations_share_the_grammar_and_have_bounds() -> None:
    any_duration = argtypes.duration()
    assert any_duration("90") == 90.0 and any_duration("1h30m") == 5400.0
    assert any_duration("250ms") == 0.25 and any_duration("3650d") == 10 * argtypes.YEAR
    assert "10 years" in refused(any_duration, "3651d")
    assert "longer than 0s" in refused(any_duration, "0")
    assert "not a duration" in refused(any_duration, "-5s")
    assert "not a duration" in refused(any_duration, "nan")
    assert argtypes.duration(allow_zero=True)("0s") == 0.0
    assert "1d" in refused(argtypes.duration(maximum=86400.0), "25h")


def test_run_duration_over_a_week_needs_allow_long() -> None:
    argtypes.check_run_duration(7 * 86400.0, allow_long=False)
    argtypes.check_run_duration(30 * 86400.0, allow_long=True)
    with pytest.raises(Exception, match="--allow-long"):
        argtypes.check_run_duration(7 * 86400.0 + 1, allow_long=False)


def test_ports_hosts_counts_numbers() -> None:
    assert argtypes.port("65535") == 65535 and argtypes.port_or_zero("0") == 0
    for bad in ("0", "65536", "-1", "http", "8080.5"):
        refused(argtypes.port, bad)
    assert argtypes.host("127.0.0.1") == "127.0.0.1" and argtypes.host("::1") == "::1"
    assert argtypes.host("dashboard.internal") == "dashboard.internal"
    assert argtypes.host("localhost") == "localhost"
    for bad in ("999.999.1.1", "1.2.3", "-host", "a..b", "", "x" * 64):
        refused(argtypes.host, bad)
    assert argtypes.count(0)("0") == 0
    assert "less than 0" in refused(argtypes.count(0), "-5")
    assert "more than 256" in refused(argtypes.count(1, 256), "257")
    assert argtypes.number(1.0)("1") == 1.0
    refused(argtypes.number(1.0), "0.5")
    refused(argtypes.number(1.0), "inf")


def test_urls_are_checked_up_front() -> None:
    assert argtypes.http_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    for bad in ("notaurl", "ftp://x", "http://", "http://h:99999"):
        refused(argtypes.http_url, bad)
    assert "***" in refused(argtypes.http_url, "ftp://u:hunter2pass@h")
    assert argtypes.redis_url("redis://127.0.0.1:6380/0")
    assert argtypes.redis_url("redis+cluster://a:1,b:2")
    for bad in ("redis://", "http://x", "redis://h:99999/0", "unix://"):
        refused(argtypes.redis_url, bad)


def test_store_paths(tmp_path: Path) -> None:
    """`--store` (castiel/storearg.py: apart from argtypes, which the runtime install's
    commands import and which must not import the store)."""
    new = tmp_path / "new.db"
    assert storearg.store_path(str(new)).path == new and not new.exists()
    Store.open(tmp_path / "ours.db").close()
    assert storearg.store_path(str(tmp_path / "ours.db")).path == tmp_path / "ours.db"
    url = "postgresql://castiel:hunter2@127.0.0.1:5432/castiel"
    assert storearg.store_path(url).path is None
    assert "directory" in refused(storearg.store_path, str(tmp_path))
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a Castiel store" in refused(storearg.store_path, str(tmp_path / "notes.txt"))
    with sqlite3.connect(tmp_path / "theirs.db") as c:
        c.execute("CREATE TABLE t (x)")
    assert "not a Castiel store" in refused(storearg.store_path, str(tmp_path / "theirs.db"))

"""Stores written before the SQLAlchemy layer open unchanged: release 0.1.0 versioned its
SQLite schema with `PRAGMA user_version` (1 to 3) and had no Alembic table. The file
`data/store-0.1.0.db` was written by that code (`data/make_legacy_store.py`)."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from collectors.migrations import LATEST_VERSION, READABLE_FROM, VERSION_TABLE
from collectors.model import Batch, SeriesKey
from collectors.store import RetentionPolicy, Store, StoreError

DATA = Path(__file__).parent / "data"
RUN = "20240101T000000Z-aaaaaa"
REQS = SeriesKey.of("castiel_http_requests_total", {"route": "/a"})
LAT = SeriesKey.of("castiel_http_request_duration_seconds", {"route": "/a"})


def _legacy_copy(tmp_path: Path) -> Path:
    path = tmp_path / "castiel.db"
    shutil.copyfile(DATA / "store-0.1.0.db", path)
    return path


def _assert_legacy_data(s: Store) -> None:
    run = s.get_run(RUN)
    assert (run.scenario, run.git_branch, run.verdict, run.status) == (
        "peak",
        "main",
        "pass",
        "finished",
    )
    assert run.phases == {"spawning_complete": 1003.0}
    data = {d.key: d for d in s.load_series(RUN)}
    assert [p.value for p in data[REQS].points] == [3.0] * 10
    assert [h.end for h in data[LAT].histograms] == [float(t) for t in range(1001, 1011)]
    assert data[LAT].histograms[0].histogram.count == 3
    [verdict] = s.verdicts(RUN)
    assert (verdict.budget, verdict.group, verdict.payload) == (
        "lat",
        {"route": "/a"},
        {"observed": 0.25},
    )
    baseline = s.get_baseline("golden")
    assert baseline is not None and baseline.id == RUN
    assert s.retention() == RetentionPolicy(7 * 86400.0, 50)


def test_a_store_of_release_0_1_0_is_read_as_it_is(tmp_path: Path) -> None:
    path = _legacy_copy(tmp_path)
    with Store.open(path, readonly=True) as s:
        assert s.schema_version == READABLE_FROM == 3  # later revisions: alerting's tables
        _assert_legacy_data(s)


def test_a_store_of_release_0_1_0_is_stamped_on_open_and_keeps_everything(
    tmp_path: Path,
) -> None:
    path = _legacy_copy(tmp_path)
    with Store.open(path) as s:
        _assert_legacy_data(s)
        new = s.create_run(started_at=5000.0)
        b = Batch()
        b.add_increment(REQS, 5001.0, 1.0)
        s.write(new.id, b)
        assert s.load_series(new.id)[0].points[0].value == 1.0
    conn = sqlite3.connect(path)
    assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [
        (f"{LATEST_VERSION:04d}",)
    ]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alert_outbox", "alert_events", "alert_silences"} <= tables  # alerting's, kept
    columns = {r[1] for r in conn.execute("PRAGMA table_info(alert_outbox)")}
    assert {"group_dedup_key", "superseded_by"} <= columns  # revision 0004


def test_an_older_0_1_0_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript((DATA / "store-0.1.0-user-version-1.sql").read_text())
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (id, started_at) VALUES ('keep', 1.0)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 1 needs migrating"):
        Store.open(path, readonly=True)
    with Store.open(path) as s:
        assert s.schema_version == LATEST_VERSION
        assert s.get_run("keep").started_at == 1.0
        assert s.get_run("keep").phases == {}  # added by revision 0003
        s.set_retention(RetentionPolicy(max_age_seconds=60, max_runs=3))  # 0002's table
        assert s.retention() == RetentionPolicy(60, 3)


def _open_new(path: str, start: Any, out: Any) -> None:
    try:
        start.wait(timeout=60)
        with Store.open(path) as s:
            out.put(s.create_run(started_at=1.0).id)
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def test_processes_creating_one_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = str(tmp_path / "new" / "castiel.db")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    out = ctx.Queue()
    procs = [ctx.Process(target=_open_new, args=(path, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(r.startswith("19700101T000001Z-") for r in results), results
    with Store.open(path, readonly=True) as s:
        assert len(s.runs()) == 4

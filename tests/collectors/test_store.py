"""The store on both backends (`store_location`: SQLite and PostgreSQL): round trips,
runs/baselines/verdicts, retention, one writer with concurrent readers and many writers at once
in separate processes; and each backend's own schema checks (WAL, migrations, newer and older
schemas, files that are not stores)."""

from __future__ import annotations

import json
import math
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event

from budgets.history import read_entries
from budgets.model import Condition, Level, Op
from budgets.verdict import Verdict, Window
from collectors.migrations import LATEST_VERSION, VERSION_TABLE
from collectors.model import Batch, Histogram, MetricKind, SeriesKey
from collectors.store import (
    NotAStore,
    RetentionPolicy,
    Store,
    StoreError,
    UnknownRun,
    VerdictRecord,
    decode_counts,
    encode_counts,
)
from tests.storedb import scalar, sql

LAT = SeriesKey.of("castiel_http_request_duration_seconds", {"route": "/a"})
REQS = SeriesKey.of("castiel_http_requests_total", {"route": "/a"})
DEPTH = SeriesKey.of("castiel_queue_jobs", {"queue": "q", "state": "wait"})


def batch_at(t: float, values: list[float]) -> Batch:
    b = Batch()
    b.add_histogram(LAT, t - 1, t, Histogram.of(values))
    b.add_increment(REQS, t, len(values))
    b.add_gauge(DEPTH, t, 7)
    return b


def test_new_store_is_wal_at_latest_schema(tmp_path: Path) -> None:
    with Store.open(tmp_path / "c.db") as s:
        assert s.schema_version == LATEST_VERSION
        assert s.dialect == "sqlite" and s.path == tmp_path / "c.db"
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # what release 0.1.0 reads to refuse a store newer than it understands
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "series", "points", "histograms", "verdicts", "baselines", "settings"} <= tables


def test_newer_sqlite_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '{LATEST_VERSION + 1:04d}'")
    conn.commit()
    conn.close()
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer than this Castiel understands"):
            Store.open(path, readonly=readonly)


def test_newer_postgres_schema_is_refused(postgres_url: str) -> None:
    sql(postgres_url, f"UPDATE {VERSION_TABLE} SET version_num = '{LATEST_VERSION + 1:04d}'")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer than this Castiel understands"):
            Store.open(postgres_url, readonly=readonly)
    with pytest.raises(StoreError, match="newer than this Castiel understands"):
        Store.migrate(postgres_url)


def test_postgres_is_migrated_by_command_not_on_open(empty_postgres_url: str) -> None:
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"no Castiel schema yet: run `castiel store migrate"):
            Store.open(empty_postgres_url, readonly=readonly)
    done = Store.migrate(empty_postgres_url)
    assert (done.before, done.after) == (0, LATEST_VERSION)
    assert done.applied == tuple(f"{v:04d}" for v in range(1, LATEST_VERSION + 1))
    assert Store.migrate(empty_postgres_url).applied == ()  # idempotent
    # an older schema names the command too
    sql(empty_postgres_url, f"UPDATE {VERSION_TABLE} SET version_num = '0002'")
    with pytest.raises(StoreError, match=r"schema version 2, this Castiel needs .*store migrate"):
        Store.open(empty_postgres_url)
    sql(empty_postgres_url, f"UPDATE {VERSION_TABLE} SET version_num = '{LATEST_VERSION:04d}'")
    with Store.open(empty_postgres_url, readonly=True) as s:
        assert s.schema_version == LATEST_VERSION and s.dialect == "postgresql"
        assert s.path is None


def test_files_that_are_not_stores(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(NotAStore, match="not a database"):
        Store.open(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(NotAStore, match=r"not a Castiel store .*invoices"):
        Store.open(other)
    assert {r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")} == {
        "invoices"
    }  # left as it was
    with pytest.raises(StoreError, match="no such store"):
        Store.open(tmp_path / "absent.db", readonly=True)


def test_counts_encoding_picks_the_narrowest_width() -> None:
    for top, width in ((5, 2), (70_000, 4), (5_000_000_000, 8)):
        counts = np.array([0, top, 1], np.int64)
        blob = encode_counts(counts)
        assert blob[0] == width
        assert np.array_equal(decode_counts(blob), counts)


def test_round_trip_of_a_run(store_location: str) -> None:
    with Store.open(store_location) as s:
        run = s.create_run(
            started_at=1000.0,
            scenario="peak",
            git_commit="abc",
            git_branch="main",
            config_hash="h1",
            environment={"python": "3.11"},
        )
        for t in range(1001, 1011):
            s.write(run.id, batch_at(float(t), [0.01 * t % 1, 0.2, 0.3]))
        s.finish_run(run.id, 1010.0)
        got = s.get_run(run.id)
        assert (got.scenario, got.git_branch, got.git_commit, got.config_hash) == (
            "peak",
            "main",
            "abc",
            "h1",
        )
        assert got.environment == {"python": "3.11"} and got.status == "finished"
        assert {k for k, _ in s.series(run.id)} == {LAT, REQS, DEPTH}
    with Store.open(store_location, readonly=True) as ro:
        data = {d.key: d for d in ro.load_series(run.id)}
        assert data[LAT].kind is MetricKind.HISTOGRAM
        assert [p.end for p in data[LAT].histograms] == [float(t) for t in range(1001, 1011)]
        h = data[LAT].histograms[0].histogram
        assert h == Histogram.of([0.01 * 1001 % 1, 0.2, 0.3])
        assert [p.value for p in data[REQS].points] == [3.0] * 10
        assert data[DEPTH].kind is MetricKind.GAUGE
        only = ro.load_series(run.id, [REQS], start=1005, end=1007)
        assert [p.timestamp for p in only[0].points] == [1005.0, 1006.0, 1007.0]
        with pytest.raises(StoreError, match="read-only"):
            ro.write(run.id, batch_at(2000.0, [1.0]))


def test_a_series_keeps_its_kind(store_location: str) -> None:
    with Store.open(store_location) as s:
        run = s.create_run(started_at=0.0)
        b = Batch()
        b.add_gauge(REQS, 1.0, 1.0)
        s.write(run.id, batch_at(1.0, [0.1]))
        with pytest.raises(ValueError, match="is a counter"):
            s.write(run.id, b)
        # the failed batch left nothing behind
        assert len(s.load_series(run.id, [REQS])[0].points) == 1


def test_runs_latest_last_passing_and_baselines(store_location: str) -> None:
    with Store.open(store_location) as s:
        a = s.create_run(started_at=100.0, scenario="peak", git_branch="main")
        b = s.create_run(started_at=200.0, scenario="peak", git_branch="main")
        c = s.create_run(started_at=300.0, scenario="peak", git_branch="main")
        other = s.create_run(started_at=250.0, scenario="peak", git_branch="feature")
        s.set_run_verdict(a.id, "pass")
        s.set_run_verdict(b.id, "fail")
        s.set_run_verdict(other.id, "pass")
        latest = s.latest_run()
        assert latest is not None and latest.id == c.id
        found = s.last_passing_run(branch="main", scenario="peak", before=300.0, exclude=c.id)
        assert found is not None and found.id == a.id
        assert s.last_passing_run(branch="main", scenario="soak", before=999.0) is None
        s.set_baseline("release-1", b.id, now=1.0)
        named = s.get_baseline("release-1")
        assert named is not None and named.id == b.id
        assert s.get_baseline("nope") is None
        with pytest.raises(UnknownRun):
            s.get_run("missing")
        assert [r.id for r in s.runs(limit=2)] == [c.id, other.id]


def test_verdicts_replace_per_source(store_location: str) -> None:
    with Store.open(store_location) as s:
        run = s.create_run(started_at=0.0)
        rec = VerdictRecord("lat", {"route": "/a"}, "fail", {"observed": 0.4}, 5.0)
        s.record_verdicts(run.id, [rec, rec])
        s.record_verdicts(run.id, [rec])
        s.record_verdicts(run.id, [VerdictRecord("live", {}, "warn")], source="monitor")
        checks = s.verdicts(run.id, source="check")
        assert len(checks) == 1
        assert checks[0].group == {"route": "/a"} and checks[0].payload == {"observed": 0.4}
        assert len(s.verdicts(run.id)) == 2


def test_retention_keeps_running_runs_and_baselines(store_location: str) -> None:
    day = 86400.0
    with Store.open(store_location) as s:
        old = s.create_run(started_at=0.0)
        s.write(old.id, batch_at(1.0, [0.1]))
        s.finish_run(old.id, 10.0)
        kept_base = s.create_run(started_at=1.0)
        s.finish_run(kept_base.id, 10.0)
        s.set_baseline("golden", kept_base.id, now=0.0)
        still_running = s.create_run(started_at=2.0)
        recent = [s.create_run(started_at=10 * day + i) for i in range(3)]
        for r in recent:
            s.finish_run(r.id, 10 * day + 100)
        deleted = s.prune(now=11 * day, policy=RetentionPolicy(max_age_seconds=5 * day, max_runs=2))
        assert set(deleted) == {old.id, recent[0].id}
        left = {r.id for r in s.runs(100)}
        assert left == {kept_base.id, still_running.id, recent[1].id, recent[2].id}
        # the deleted run's samples and its now-unused series are gone
        assert scalar(store_location, "SELECT COUNT(*) FROM points") == 0
        assert scalar(store_location, "SELECT COUNT(*) FROM histograms") == 0
        assert scalar(store_location, "SELECT COUNT(*) FROM series") == 0


# --- one writer, many readers, separate processes ------------------------------------------

BATCHES = 300
PER_BATCH = 20


def _writer(path: str, run_id: str, start: Any, done: Any) -> None:
    with Store.open(path) as s:
        start.wait(timeout=60)  # every reader is reading before the first write
        for i in range(BATCHES):
            b = Batch()
            t = 1000.0 + i
            for j in range(PER_BATCH):
                b.add_increment(SeriesKey.of("reqs_total", {"n": str(j)}), t, 1.0)
            b.add_histogram(LAT, t - 1, t, Histogram.of([0.1] * 5))
            s.write(run_id, b)
        s.finish_run(run_id, 1000.0 + BATCHES)
    done.set()


def _reader(path: str, run_id: str, start: Any, done: Any, out: Any) -> None:
    seen: list[int] = []
    problems: list[str] = []
    try:
        with Store.open(path, readonly=True) as s:
            s.load_series(run_id)
            start.wait(timeout=60)
            while True:
                finished = done.is_set()
                data = s.load_series(run_id)
                points = [p for d in data for p in d.points]
                hists = [h for d in data for h in d.histograms]
                per_ts: dict[float, int] = {}
                for p in points:
                    per_ts[p.timestamp] = per_ts.get(p.timestamp, 0) + 1
                if any(n != PER_BATCH for n in per_ts.values()):
                    problems.append(f"torn batch: {sorted(set(per_ts.values()))}")
                if len(hists) != len(per_ts):
                    problems.append(f"{len(hists)} histograms for {len(per_ts)} batches")
                if seen and len(per_ts) < seen[-1]:
                    problems.append("went backwards")
                seen.append(len(per_ts))
                if finished:
                    break
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    out.put(
        {
            "last": seen[-1] if seen else -1,
            "partial": sorted(set(seen))[:50],
            "problems": problems[:5],
        }
    )


def test_one_writer_and_concurrent_readers_in_separate_processes(store_location: str) -> None:
    path = store_location
    with Store.open(path) as s:
        run_id = s.create_run(started_at=1000.0).id
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Event()
    start = ctx.Barrier(4)
    out = ctx.Queue()
    readers = [ctx.Process(target=_reader, args=(path, run_id, start, done, out)) for _ in range(3)]
    for r in readers:
        r.start()
    writer = ctx.Process(target=_writer, args=(path, run_id, start, done))
    writer.start()
    results = [out.get(timeout=60) for _ in readers]
    writer.join(timeout=60)
    for r in readers:
        r.join(timeout=10)
    assert writer.exitcode == 0
    for res in results:
        assert res["problems"] == []
        assert res["last"] == BATCHES  # the final read saw everything
    # the readers really ran while the writer wrote: someone saw a run half written
    assert any(0 < n < BATCHES for res in results for n in res["partial"])
    with Store.open(path, readonly=True) as s:
        assert s.get_run(run_id).status == "finished"
        assert sum(len(d.points) for d in s.load_series(run_id)) == BATCHES * PER_BATCH


def test_store_json_columns_are_plain_json(store_location: str) -> None:
    with Store.open(store_location) as s:
        run = s.create_run(started_at=0.0, environment={"host": "ci"})
        s.write(run.id, batch_at(1.0, [0.1]))
    env = scalar(store_location, "SELECT environment FROM runs")
    assert json.loads(env) == {"host": "ci"}
    mins = sql(store_location, "SELECT min, max FROM histograms")[0]
    assert mins == (0.1, 0.1) and not math.isnan(mins[0])
    # bucket counts are one binary value per interval (BLOB / bytea), not a row per bucket
    blob = bytes(scalar(store_location, "SELECT counts FROM histograms"))
    assert blob[0] == 2 and np.array_equal(decode_counts(blob), Histogram.of([0.1]).counts)


# --- many writers at once, separate processes -------------------------------------------------

WRITERS = 4
WRITER_BATCHES = 60


def _many_writer(path: str, start: Any, out: Any) -> None:
    try:
        with Store.open(path) as s:
            start.wait(timeout=60)
            # the same start time for everyone: run ids differ only by their random part
            run = s.create_run(started_at=1000.0, scenario="race")
            for i in range(WRITER_BATCHES):
                b = Batch()
                t = 1000.0 + i
                for j in range(PER_BATCH):  # every writer creates the same series at once
                    b.add_increment(SeriesKey.of("shared_total", {"n": str(j)}), t, 1.0)
                b.add_histogram(LAT, t - 1, t, Histogram.of([0.1, 0.2]))
                s.write(run.id, b)
            s.finish_run(run.id, 2000.0)
        out.put(run.id)
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


def test_many_writers_in_separate_processes_share_one_store(store_location: str) -> None:
    path = store_location
    Store.open(path).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WRITERS)
    out = ctx.Queue()
    procs = [ctx.Process(target=_many_writer, args=(path, start, out)) for _ in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(r.startswith("19700101T001640Z-") for r in results), results
    assert len(set(results)) == WRITERS  # run ids never collide
    with Store.open(path, readonly=True) as s:
        for run_id in results:
            data = s.load_series(run_id)
            assert sum(len(d.points) for d in data) == WRITER_BATCHES * PER_BATCH
            assert sum(len(d.histograms) for d in data) == WRITER_BATCHES
            assert s.get_run(run_id).status == "finished"
    # one row per series, however many writers created it at the same moment
    assert scalar(path, "SELECT COUNT(*) FROM series") == PER_BATCH + 1


def test_a_colliding_run_id_is_drawn_again(
    store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter(["same-id", "same-id", "other-id"])
    monkeypatch.setattr("collectors.store.new_run_id", lambda now: next(drawn))
    with Store.open(store_location) as s:
        first = s.create_run(started_at=1.0)
        second = s.create_run(started_at=1.0)
        assert (first.id, second.id) == ("same-id", "other-id")
        with pytest.raises(StoreError, match="'other-id' already exists"):
            s.create_run(started_at=2.0, run_id="other-id")
        assert [r.id for r in s.runs()] == ["other-id", "same-id"]


def test_verdicts_of_many_runs_in_one_query(
    store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """History reads 50 runs' verdicts: one query (per 500 runs), not one per run, with the
    same records `verdicts` returns for each run, in their order."""

    def record(i: int, k: int) -> VerdictRecord:
        v = Verdict(
            budget="p95",
            status=Level.PASS,
            aggregation="p95",
            observed=i + k / 10,
            thresholds=((Level.FAIL, Condition(Op.LT, 9.0)),),
            sample_count=10,
            window=Window(i, i + 0.5),
            scope="run",
            group=(("route", f"/r{k}"),),
            metric="castiel_http_request_duration_seconds",
        )
        return VerdictRecord("p95", {"route": f"/r{k}"}, "pass", v.to_json(), i)

    with Store.open(store_location) as s:
        ids = []
        for i in range(5):
            run = s.create_run(started_at=float(i), scenario="soak", git_branch="main")
            s.finish_run(run.id, i + 0.5)
            if i != 2:  # a run checked without verdicts is no point of a history
                s.record_verdicts(run.id, [record(i, k) for k in range(3)])
                s.record_verdicts(run.id, [VerdictRecord("live", {}, "warn")], source="live")
            ids.append(run.id)
        statements: list[str] = []
        event.listen(
            s.database.engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *rest: statements.append(statement),
        )
        found = s.verdicts_of([*ids, "no-such-run"], "check")
        assert len([q for q in statements if "FROM verdicts" in q]) == 1
        assert set(found) == {ids[0], ids[1], ids[3], ids[4]}
        for run_id in found:
            assert found[run_id] == s.verdicts(run_id, "check")
        assert [r.group["route"] for r in found[ids[4]]] == ["/r0", "/r1", "/r2"]
        every = s.verdicts_of(ids)
        assert [r.source for r in every[ids[1]]] == ["check"] * 3 + ["live"]
        assert s.verdicts_of([]) == {}

        monkeypatch.setattr("collectors.store._IDS_PER_QUERY", 2)
        assert s.verdicts_of(ids, "check") == found  # split into 3 queries, same answer
        monkeypatch.undo()

        statements.clear()
        entries = read_entries(s, branch="main", scenario="soak", last=2)
        assert len([q for q in statements if "FROM verdicts" in q]) == 1  # the newest 2 runs
        assert [e.run.id for e in entries] == [ids[3], ids[4]]  # oldest first
        assert entries[-1].verdicts[0].observed == 4.0
        statements.clear()
        # ids[2] has none: a second query reaches further back for the third run.
        assert [e.run.id for e in read_entries(s, last=3)] == [ids[1], ids[3], ids[4]]
        assert len([q for q in statements if "FROM verdicts" in q]) == 2

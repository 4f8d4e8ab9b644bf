"""The alert tables live in the metrics store (SQLite or PostgreSQL), and the read API the
dashboard uses: history events and what is firing now, delivery attempts, silences, and the
engine's state surviving a restart of a `castiel monitor` with a deployment name."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine

from alerts import history
from alerts.db import RETENTION, AlertsDB, AlertsDBError, prune
from alerts.engine import AlertEngine
from alerts.metrics import METRIC, AlertMetrics
from alerts.outbox import recent_attempts, waiting
from alerts.silences import create_silence, expire_silence, list_silences
from alerts.snapshot import ORPHAN_AFTER
from budgets.model import Level
from collectors.locator import store_locator
from collectors.migrations import apply
from collectors.store import RetentionPolicy, Store
from tests.alerts.helpers import T0, config, inp

FILE_CFG = """
route: {{receiver: file, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers: [{{name: file, file: {{path: "{out}"}}}}]
defaults: {{for: 5s}}
{extra}
"""


def engine(tmp_path: Path, store: str, extra: str = "", run_id: str = "run-1") -> AlertEngine:
    """An engine on the store at `store` (SQLite or PostgreSQL), its file receiver in
    `tmp_path`."""
    cfg = config(FILE_CFG.format(out=tmp_path / "n.jsonl", extra=extra))
    return AlertEngine.open(cfg, store_path=store, run_id=run_id, start=False)


def test_alert_tables_share_the_store_file_and_the_store_still_works(tmp_path: Path) -> None:
    path = tmp_path / "castiel.db"
    with AlertsDB.open(path):  # first, before anything else made the file
        pass
    with Store.open(path, readonly=True) as ro:  # a migrated store: the dashboard can read it
        assert ro.schema_version >= 1
    with Store.open(path) as store:  # the store's migrations do not mind the alert tables
        run = store.create_run(started_at=T0)
        store.finish_run(run.id, T0 + 1)
        assert store.prune(T0 + 10**9, RetentionPolicy(max_age_seconds=1, max_runs=None))
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"runs", "alert_events", "alert_outbox", "alert_attempts", "alert_silences"} <= tables
    assert not (tmp_path / "alerts.db").exists()
    with AlertsDB.open(path):  # idempotent
        pass


def _store_at_0003(location: str) -> None:
    """A store as Castiel made it before revision 0004 (which brought alerting's tables)."""
    engine = create_engine(store_locator(location).url)
    try:
        with engine.begin() as conn:
            command.upgrade(apply.config(conn), "0003")
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA user_version = 3")  # as the store mirrors it
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_read_api_on_a_store_without_alert_tables_is_empty(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = (
        str(tmp_path / "castiel.db")
        if backend == "sqlite"
        else str(request.getfixturevalue("empty_postgres_url"))
    )
    _store_at_0003(path)
    assert history.events(path) == [] and history.firing_now(path) == []
    assert recent_attempts(path) == [] and waiting(path) == [] and list_silences(path) == []
    with pytest.raises(AlertsDBError, match="no such store"):
        history.events(tmp_path / "missing.db")


def test_transitions_are_recorded_as_events(tmp_path: Path, store_location: str) -> None:
    e = engine(tmp_path, store_location)
    bad = inp(reached=Level.FAIL, observed=0.5, group={"route": "/a"})
    e.observe([bad], T0)  # pending (for: 5s)
    assert [x.state for x in history.firing_now(e.db)] == []
    e.observe([bad], T0 + 6)  # firing, both levels
    now = history.firing_now(store_location)
    assert sorted(x.level for x in now) == ["fail", "warn"]
    fail = next(x for x in now if x.level == "fail")
    assert (fail.name, fail.state, fail.value, fail.threshold) == (
        "api-latency",
        "firing",
        0.5,
        "< 0.3",
    )
    assert fail.group == {"route": "/a"} and fail.run_id == "run-1" and fail.severity == "critical"
    assert fail.labels["budget"] == "api-latency" and "p95 = 0.5" in fail.summary
    assert fail.dedup_key.startswith("castiel-")
    e.end_run("fail", T0 + 7)
    assert history.firing_now(e.db) == []
    evs = history.events(store_location, run_id="run-1")
    assert [x.at for x in evs] == sorted((x.at for x in evs), reverse=True)
    fail_states = [x.state for x in reversed(evs) if x.level == "fail"]
    assert fail_states == ["pending", "firing", "resolved"]
    assert all(x.run_verdict == "fail" for x in evs if x.state == "resolved")
    assert history.events(e.db, since=T0 + 6.5) == [x for x in evs if x.at >= T0 + 6.5]
    assert history.events(e.db, run_id="other") == []
    e.close()


def test_a_pending_alert_that_recovers_is_recorded_as_inactive(
    tmp_path: Path, store_location: str
) -> None:
    e = engine(tmp_path, store_location)
    e.observe([inp(reached=Level.WARN, observed=0.25)], T0)
    e.observe([inp(reached=Level.PASS, observed=0.1)], T0 + 1)
    assert [x.state for x in reversed(history.events(e.db))] == ["pending", "inactive"]
    e.close()


def test_a_restarted_deployment_monitor_carries_on_without_paging_twice(
    tmp_path: Path, store_location: str
) -> None:
    out = tmp_path / "n.jsonl"
    extra = "deployment: prod"
    bad = inp(reached=Level.FAIL, observed=0.5)
    first = engine(tmp_path, store_location, extra, run_id="monitor-1")
    first.observe([bad], T0)
    first.observe([bad], T0 + 6)
    assert first.worker is not None and first.worker.process_due() == 1
    assert first.close() == 0
    second = engine(tmp_path, store_location, extra, run_id="monitor-2")  # same deployment, new run
    r = second.observe([bad], T0 + 60)
    assert r.notifications == ()  # still firing, already told
    r = second.observe([inp(reached=Level.PASS)], T0 + 61)
    assert [n.status for n in r.notifications] == ["resolved"]
    assert second.worker is not None and second.worker.process_due() == 1
    second.close()
    statuses = [json.loads(line)["status"] for line in out.read_text().splitlines()]
    assert statuses == ["firing", "resolved"]
    keys = {x.dedup_key for x in history.events(store_location) if x.level == "fail"}
    assert len(keys) == 1  # the same alert across both monitors


def test_attempts_and_waiting_notifications_are_readable(
    tmp_path: Path, store_location: str
) -> None:
    e = engine(tmp_path, store_location)
    e.observe([inp(reached=Level.FAIL, observed=0.5)], T0)
    e.observe([inp(reached=Level.FAIL, observed=0.5)], T0 + 6)
    assert len(waiting(store_location)) == 1
    assert e.worker is not None
    (tmp_path / "n.jsonl").mkdir()  # the file channel cannot write: a failed attempt
    e.worker.process_due()
    failures = recent_attempts(store_location, failures_only=True)
    assert len(failures) == 1 and failures[0].receiver == "file"
    assert failures[0].outcome != "delivered" and failures[0].reason
    assert recent_attempts(e.db, receiver="nobody") == []
    e.close()


def test_silences_api_with_a_store_location(store_location: str) -> None:
    path = store_location
    s = create_silence(
        path, ['budget="api-latency"'], duration=3600, comment="deploy", created_by="ann", now=T0
    )
    assert [x.id for x in list_silences(path, now=T0 + 1)] == [s.id]
    with pytest.raises(ValueError, match="match every alert"):
        create_silence(path, ['budget=~".*"'], duration=60, now=T0)
    assert expire_silence(path, s.id, now=T0 + 2)
    assert not expire_silence(path, s.id, now=T0 + 3)
    assert list_silences(path, now=T0 + 3) == []
    assert [x.id for x in list_silences(path, now=T0 + 3, include_expired=True)] == [s.id]


def test_notification_counter_is_collected_as_increments() -> None:
    m = AlertMetrics()
    m.attempt("slack", "delivered")
    m.attempt("slack", "delivered")
    m.attempt("pd", "retry")
    batch = m.collect(T0)
    got = {
        (s.key.name, s.key.label("receiver"), s.key.label("outcome")): s.point.value
        for s in batch.scalars
    }
    assert got == {(METRIC, "slack", "delivered"): 2.0, (METRIC, "pd", "retry"): 1.0}
    assert len(m.collect(T0 + 1)) == 0


def test_old_rows_are_pruned_but_the_latest_state_of_an_alert_stays(
    tmp_path: Path, store_location: str
) -> None:
    e = engine(tmp_path, store_location)
    bad = inp(reached=Level.FAIL, observed=0.5)
    e.observe([bad], T0)
    e.observe([bad], T0 + 6)  # firing
    assert e.worker is not None and e.worker.process_due() == 1
    later = time.time() + RETENTION + 100  # the worker stamps attempts with the real clock
    assert prune(e.db, later) > 0
    assert recent_attempts(e.db) == [] and waiting(e.db) == []
    assert sorted(x.level for x in history.firing_now(e.db)) == ["fail", "warn"]
    assert {x.state for x in history.events(e.db)} == {"firing"}  # the pending ones went
    e.close()


def test_the_alerts_of_a_run_whose_process_died_are_resolved_by_the_next_engine(
    tmp_path: Path, store_location: str
) -> None:
    out = tmp_path / "n.jsonl"
    bad = inp(reached=Level.FAIL, observed=0.5)
    deployment = engine(
        tmp_path, store_location, "deployment: prod", run_id="monitor-1"
    )  # never adopted
    deployment.observe([bad], T0)
    deployment.observe([bad], T0 + 6)
    deployment.close()
    dead = engine(tmp_path, store_location, run_id="run-killed")
    dead.observe([bad], T0)
    dead.observe([bad], T0 + 6)  # firing, told; then the process is SIGKILLed
    assert dead.worker is not None and dead.worker.process_due() == 2  # and prod's
    dead.close()
    assert {e.scope for e in history.firing_now(store_location)} == {"run-killed", "prod"}

    nxt = engine(
        tmp_path, store_location, run_id="run-next"
    )  # opens long after T0: run-killed is stale
    assert nxt.worker is not None and nxt.worker.process_due() == 1
    nxt.close()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["status"], x["alerts"][0]["labels"]["run"]) for x in lines] == [
        ("firing", "prod"),
        ("firing", "run-killed"),
        ("resolved", "run-killed"),
    ]
    assert lines[2]["alerts"][0]["evidence"]["run_verdict"] == "abandoned"
    assert {e.scope for e in history.firing_now(store_location)} == {"prod"}
    again = engine(tmp_path, store_location, run_id="run-third")  # adopted once only
    assert again.worker is not None and again.worker.process_due() == 0
    again.close()


def test_a_live_engine_keeps_its_state_fresh_so_it_is_never_adopted(
    tmp_path: Path, store_location: str
) -> None:
    live = engine(tmp_path, store_location, run_id="run-live")
    now = time.time()
    live.observe([inp(reached=Level.FAIL, observed=0.5)], now)
    live.observe([inp(reached=Level.FAIL, observed=0.5)], now + 6)
    other = engine(tmp_path, store_location, run_id="run-other")
    assert other.adopt_orphans(now + 60) == 0  # refreshed within ORPHAN_AFTER
    assert other.adopt_orphans(now + 6 + ORPHAN_AFTER + 1) == 2  # both levels
    other.close()
    live.close()

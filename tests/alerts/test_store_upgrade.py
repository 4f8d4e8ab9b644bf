"""A SQLite store whose alert tables alerting made itself (before revision 0004 took them into
the store's schema) opens with every alert row it had: silences, the outbox (a notification
still waiting is sent after the upgrade), attempts, history and a monitor's saved state.
`data/store-0003-alerts.db` was written by that code (`data/make_store_0003.py`)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from alerts import history, snapshot
from alerts.channels.base import HttpxClient
from alerts.db import AlertsDB
from alerts.delivery import DeliveryWorker
from alerts.outbox import Outbox, recent_attempts, waiting
from alerts.silences import create_silence, list_silences
from collectors.migrations import LATEST_VERSION, VERSION_TABLE
from collectors.store import Store
from tests.alerts.helpers import T0, config, notification
from tests.alerts.receivers import Receiver

DATA = Path(__file__).parent / "data"


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "castiel.db"
    shutil.copyfile(DATA / "store-0003-alerts.db", path)
    return path


def _assert_old_rows(where: Path | AlertsDB) -> None:
    [silence] = list_silences(where, now=T0, include_expired=True)
    assert (silence.id, silence.created_by, silence.comment) == ("s1lence00001", "ana", "deploying")
    assert [str(m) for m in silence.matchers] == ['budget="api-latency"']
    [item] = waiting(where)
    assert (item.id, item.receiver, len(item.notification.firing)) == (2, "hook", 2)
    [attempt] = recent_attempts(where)
    assert (attempt.outbox_id, attempt.outcome, attempt.status_code) == (1, "delivered", 200)
    [event] = history.firing_now(where)
    assert (event.dedup_key, event.state, event.value, event.scope) == (
        "castiel-old1",
        "firing",
        0.42,
        "prod",
    )


def test_a_reader_reads_the_old_alert_tables_without_migrating(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    _assert_old_rows(path)  # read-only: the dashboard before any writer of this version
    with Store.open(path, readonly=True) as s:
        assert s.schema_version == 3


def test_a_writer_upgrades_the_store_and_keeps_every_alert_row(
    tmp_path: Path, receiver: Receiver
) -> None:
    path = _copy(tmp_path)
    with AlertsDB.open(path) as db:  # migrates: revision 0004
        _assert_old_rows(db)
        state = snapshot.load(db, "prod")
        assert state.alerts == {} and snapshot.dumps(state)
        # new rows go on after the old ones (AUTOINCREMENT ids are never reused)
        assert Outbox(db).enqueue(notification(receiver="hook"), T0 + 120) == 3
        create_silence(db, ['budget="other"'], duration=60, now=T0)
        # the notification left waiting by the old code is sent after the upgrade
        cfg = config(f"""
            route: {{receiver: hook}}
            receivers: [{{name: hook, webhook: {{url: "{receiver.url}/hook"}}}}]
            """)
        http = HttpxClient()
        try:
            worker = DeliveryWorker(Outbox(db), cfg, http, clock=lambda: T0 + 200, env={})
            assert worker.process_due() == 2
        finally:
            http.close()
    assert [r.json()["status"] for r in receiver.delivered()] == ["firing", "firing"]
    assert waiting(path) == []
    assert len(list_silences(path, now=T0, include_expired=True)) == 2
    conn = sqlite3.connect(path)
    try:
        assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [
            (f"{LATEST_VERSION:04d}",)
        ]
        # the waiting notification's alert group was read from its JSON by the migration
        keys = conn.execute("SELECT id, group_dedup_key FROM alert_outbox ORDER BY id").fetchall()
        assert keys[0] == (1, "") and keys[1][1].startswith("castiel-g-")
        assert keys[1][1] == notification(receiver="hook").group_dedup_key
    finally:
        conn.close()

"""Every reader of stored alert times copes with values it did not write: a silence ending in
the year 11409972 (what an absurd duration stored before creation was bounded), times that are
text, events with unreadable labels. `castiel alerts silence list`, `castiel alerts attempts`,
`alerts.history` and the dashboard's Alerts page show them (or skip what is not a time at
all), and never crash. New silences are bounded at creation."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alerts.db import AlertsDB
from alerts.history import events
from alerts.silences import MAX_SILENCE, SqlSilenceStore, create_silence, new_silence
from castiel.cli import main
from tests.helpers import ROOT

FAR = 3.6e14  # about the year 11409972


def fill(store: Path) -> str:
    """A store with a good silence, and rows no Castiel writes today."""
    now = time.time()
    AlertsDB.open(store).close()  # a store with its alert tables
    with AlertsDB.open(store) as db:
        good = new_silence(
            ['budget="ok"'], starts_at=now, ends_at=now + 3600, now=now, comment="fine"
        )
        SqlSilenceStore(db).add(good)
    with sqlite3.connect(store) as c:
        rows = [
            ("far", '["budget=\\"far\\""]', now, FAR, now, "old castiel", "absurd end"),
            ("text", '["budget=\\"text\\""]', "soon", "later", now, "by hand", "not times"),
            ("json", "not json", now, now + 60, now, "by hand", "bad matchers"),
        ]
        c.executemany("INSERT INTO alert_silences VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        event = ("k", "n", "budget", "fail", "critical", "{}", "{}", "firing", 1.0, "< 1")
        c.execute(
            "INSERT INTO alert_events (at, dedup_key, name, kind, level, severity, labels, "
            "group_labels, state, value, threshold, run_id, scope, summary, run_verdict, "
            "suppressed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'r', 'r', 's', NULL, '')",
            (FAR, *event),
        )
        c.execute(
            "INSERT INTO alert_events (at, dedup_key, name, kind, level, severity, labels, "
            "group_labels, state, value, threshold, run_id, scope, summary, run_verdict, "
            "suppressed) VALUES ('when?', 'k2', 'n', 'budget', 'fail', 'critical', 'garbage', "
            "'[1]', 'firing', 'high', '< 1', 'r', 'r', 's', NULL, '')"
        )
        c.execute(
            "INSERT INTO alert_attempts (outbox_id, at, receiver, channel, outcome, "
            "status_code, reason, duration, group_key, test) "
            "VALUES (NULL, ?, 'hook', 'webhook', 'retry', 500, 'http 500', 0.1, 'g', 0)",
            (FAR,),
        )
    return good.id


def test_the_cli_lists_what_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "castiel.db"
    good = fill(store)
    assert main(["alerts", "silence", "list", "--all", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert good in out and "far" in out and "invalid time 360000000000000.0" in out
    assert "text" not in out.split()  # not a time at all: skipped (and logged)
    assert main(["alerts", "silence", "expire", "far", "--store", str(store)]) == 0
    assert main(["alerts", "attempts", "--store", str(store)]) == 0
    assert "invalid time" in capsys.readouterr().out
    assert main(["alerts", "attempts", "--limit", "0", "--store", str(store)]) == 0
    assert "http 500" not in capsys.readouterr().out
    got = events(store)
    assert {e.dedup_key for e in got} == {"k", "k2"}
    odd = next(e for e in got if e.dedup_key == "k2")
    assert odd.at != odd.at and odd.labels == {} and odd.value is None  # NaN, empty, none


def test_the_alerts_page_renders_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "castiel.db"
    good = fill(store)
    monkeypatch.setenv("CASTIEL_STORE", str(store))
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "alerts_page.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.toggle(key="alerts_show_expired").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    silences = at.dataframe[-1].value
    assert {good, "far"} <= set(silences["id"]) and "json" not in set(silences["id"])
    far = silences[silences["id"] == "far"].iloc[0]
    assert far["ends"] != far["ends"]  # NaT: no date holds it, the page shows it empty


def test_new_silences_are_bounded_at_creation(tmp_path: Path) -> None:
    now = time.time()
    with pytest.raises(ValueError, match="at most 10 years"):
        new_silence(['budget="x"'], starts_at=now, ends_at=now + MAX_SILENCE + 1, now=now)
    with pytest.raises(ValueError, match="finite"):
        new_silence(['budget="x"'], starts_at=now, ends_at=float("inf"), now=now)
    with pytest.raises(ValueError, match="at most 10 years"):
        create_silence(tmp_path / "s.db", ['budget="x"'], duration=FAR)  # the dashboard's path
    ok = create_silence(tmp_path / "s.db", ['budget="x"'], duration=30 * 86400.0)
    assert json.loads(json.dumps(ok.ends_at)) == ok.ends_at

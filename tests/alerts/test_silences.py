"""Silences: pure matching and durable storage (another process sees them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alerts.db import AlertsDB
from alerts.silences import SqlSilenceStore, new_silence, silenced_by
from tests.helpers import ROOT


def test_matching_respects_matchers_and_time() -> None:
    s = new_silence(['budget="lat"', 'group=~"route=/a.*"'], starts_at=10, ends_at=20, now=0)
    assert silenced_by({"budget": "lat", "group": "route=/a/b"}, [s], 15) == (s.id,)
    assert silenced_by({"budget": "lat", "group": "route=/b"}, [s], 15) == ()
    assert silenced_by({"budget": "err", "group": "route=/a"}, [s], 15) == ()
    assert silenced_by({"budget": "lat", "group": "route=/a"}, [s], 9.9) == ()
    assert silenced_by({"budget": "lat", "group": "route=/a"}, [s], 20) == ()


def test_a_silence_cannot_match_everything() -> None:
    with pytest.raises(ValueError, match="every alert"):
        new_silence(['budget=~".*"'], starts_at=0, ends_at=1, now=0)
    with pytest.raises(ValueError, match="at least one"):
        new_silence([], starts_at=0, ends_at=1, now=0)
    with pytest.raises(ValueError, match="end after"):
        new_silence(['a="b"'], starts_at=5, ends_at=1, now=0)


def test_store_add_list_expire_and_survive_reopen(store_location: str) -> None:
    path = store_location
    with AlertsDB.open(path) as db:
        store = SqlSilenceStore(db)
        s = new_silence(
            ['budget="lat"'], starts_at=0, ends_at=100, now=0, created_by="ann", comment="deploy"
        )
        store.add(s)
    # another process sees it
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from alerts.db import AlertsDB; from alerts.silences import "
            "SqlSilenceStore as S; print([(x.id, x.comment, [str(m) for m in x.matchers]) "
            "for x in S(AlertsDB.open(sys.argv[1])).list(50)])",
            path,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"('{s.id}', 'deploy', ['budget=\"lat\"'])" in out.stdout
    with AlertsDB.open(path) as db:
        store = SqlSilenceStore(db)
        assert [x.id for x in store.list(50)] == [s.id]
        assert store.expire(s.id, 60)
        assert not store.expire(s.id, 61)
        assert store.list(61) == []
        (old,) = store.list(61, include_expired=True)
        assert old.ends_at == 60 and old.state(61) == "expired"

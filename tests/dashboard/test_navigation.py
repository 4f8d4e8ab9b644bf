"""The dashboard's pages come from one list (dashboard/navigation.py), and the recipe for a
new page (docs/development.md) works as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from dashboard import navigation
from tests.helpers import ROOT, recipe


def test_every_registered_page_exists_and_is_named_once() -> None:
    assert all(p.script.is_file() for p in navigation.PAGES)
    assert len({p.script.stem for p in navigation.PAGES}) == len(navigation.PAGES)
    assert [p.default for p in navigation.PAGES].count(True) == 1
    registered = {p.script.name for p in navigation.PAGES}
    assert registered == {f.name for f in (ROOT / "dashboard" / "views").glob("*.py")}


def test_the_new_page_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "branches.py"
    script.write_text(recipe("A new dashboard page"), encoding="utf-8")
    store_path = tmp_path / "castiel.db"
    with Store.open(store_path) as store:
        for started, branch in ((100.0, "main"), (200.0, "feature/x"), (300.0, "main")):
            run = store.create_run(started_at=started, scenario="normal", git_branch=branch)
            store.finish_run(run.id, started + 60, "finished")
        newest_main = run.id
    monkeypatch.setenv("CASTIEL_STORE", str(store_path))
    monkeypatch.delenv("CASTIEL_DASHBOARD_PASSWORD", raising=False)

    at = AppTest.from_file(str(script), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Branches"
    table = at.dataframe[0].value
    assert dict(table["runs"]) == {"feature/x": 1, "main": 2}
    assert table.loc["main", "run"] == newest_main

    # Registered with one line, it is in the navigation after the built-in pages.
    entry = navigation.PageEntry(script, "Branches", "🌿")
    monkeypatch.setattr(navigation, "PAGES", (*navigation.PAGES, entry))
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    app.switch_page(str(script)).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == "Branches"

"""The Live page's frontend panel over a store that a real `castiel browse` filled (real
Chromium, the real example service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboard.test_pages import figure, page
from tests.helpers import ROOT, need


@pytest.mark.slow
def test_live_page_shows_page_loads_per_page_and_cache(
    levers_on: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("chromium")
    store = tmp_path / "store.db"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "castiel",
            "browse",
            "--url",
            levers_on + "/",
            "--runs",
            "2",
            "--store",
            str(store),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    at = page("live", store, monkeypatch)
    assert "Pages (headless Chromium, under this load)" in [h.value for h in at.subheader]
    lcp = figure(at, 0)
    assert {t["name"] for t in lcp["data"]} == {"/ · cold", "/ · warm"}
    table = next(d.value for d in at.dataframe if "transfer (KiB)" in d.value.columns)
    rows = {r["cache"]: r for _, r in table.iterrows()}
    assert set(rows) == {"cold", "warm"} and rows["cold"]["loads"] == 2
    assert rows["cold"]["requests"] == 5 and rows["warm"]["from cache"] == 4
    assert rows["cold"]["transfer (KiB)"] > 20  # the page, gzipped
    assert rows["warm"]["transfer (KiB)"] < 1  # the revalidated document only

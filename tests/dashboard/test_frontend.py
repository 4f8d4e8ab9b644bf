"""The frontend panel (Live page, and Budget review for page budgets) over a store that a
real `castiel browse` filled and gated (real Chromium, the real example service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboard.test_pages import figure, page
from tests.helpers import ROOT, need


@pytest.mark.slow
def test_pages_show_page_loads_per_page_and_cache(
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
            "--budgets",
            str(ROOT / "examples" / "frontend.yaml"),
            "--runs-dir",
            str(tmp_path / "runs"),
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
    # Budget review: a page-weight budget charts the run's page loads.
    at = page("review", store, monkeypatch)
    labels = at.selectbox(key="review_chart").options
    at.selectbox(key="review_chart").select(
        next(i for i, label in enumerate(labels) if label.startswith("page-weight"))
    )
    at.run()
    assert not at.exception
    assert any("transfer (KiB)" in d.value.columns for d in at.dataframe)

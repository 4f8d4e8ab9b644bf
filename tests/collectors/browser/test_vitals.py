"""Web Vitals from the raw entries a page reports (pure; no browser)."""

from __future__ import annotations

import pytest

from collectors.browser.vitals import blocking, cumulative_layout_shift, vitals_from


def test_cls_is_the_largest_session_window() -> None:
    shifts = [
        (100.0, 0.05, False),
        (600.0, 0.05, False),  # same window (gap < 1 s): 0.10
        (2000.0, 0.08, False),  # new window (gap >= 1 s)
        (2500.0, 0.5, True),  # right after input: excluded
    ]
    assert cumulative_layout_shift(shifts) == pytest.approx(0.10)
    # A window is at most 5 s long even without gaps.
    steady = [(t * 900.0, 0.01, False) for t in range(12)]  # 0 .. 9.9 s, gaps of 0.9 s
    assert cumulative_layout_shift(steady) == pytest.approx(0.06)
    assert cumulative_layout_shift([]) == 0.0


def test_tbt_counts_the_part_of_long_tasks_after_fcp_beyond_50ms() -> None:
    tasks = [(0.0, 300.0), (500.0, 120.0), (900.0, 40.0), (1000.0, 51.0)]
    # FCP at 200 ms: the first task counts with its 100 ms after FCP (50 blocking).
    total, longest = blocking(tasks, fcp_ms=200.0)
    assert total == pytest.approx(50 + 70 + 0 + 1)
    assert longest == pytest.approx(120.0)
    assert blocking(tasks, fcp_ms=5000.0) == (0.0, 0.0)


def test_vitals_from_what_the_page_reported() -> None:
    v = vitals_from(
        {
            "responseStart": 12.5,
            "loadEventEnd": 300.0,
            "fcp": 200.0,
            "lcp": [[180.0, "h1"], [250.0, "http://x/hero.png"]],
            "shifts": [[210.0, 0.02, False]],
            "tasks": [[220.0, 80.0]],
        }
    )
    assert v.ttfb == pytest.approx(0.0125) and v.fcp == pytest.approx(0.2)
    assert v.lcp == pytest.approx(0.25) and v.lcp_element == "http://x/hero.png"
    assert v.cls == pytest.approx(0.02) and v.tbt == pytest.approx(0.03)
    assert v.longest_task == pytest.approx(0.08) and v.load == pytest.approx(0.3)


def test_malformed_entries_are_skipped_not_fatal() -> None:
    v = vitals_from({"fcp": "soon", "lcp": [[1]], "shifts": [["a", 1, 2]], "tasks": None})
    assert (v.fcp, v.lcp, v.cls, v.tbt, v.ttfb, v.load) == (None, None, 0.0, 0.0, None, None)

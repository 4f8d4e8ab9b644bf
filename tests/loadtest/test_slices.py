"""Per-second slices of Locust's cumulative statistics."""

from __future__ import annotations

from loadtest.slices import EntrySnapshot, Slicer, slice_bounds


def snap(n: int, f: int, rt: dict[int, int]) -> EntrySnapshot:
    return EntrySnapshot("/a", "GET", n, f, rt)


def test_slices_are_differences_and_add_up_to_the_total() -> None:
    slicer = Slicer()
    first = slicer.endpoints([snap(3, 1, {10: 2, 120: 1})])
    assert first == [
        {"name": "/a", "method": "GET", "requests": 3, "failures": 1, "rt_ms": {"10": 2, "120": 1}}
    ]
    second = slicer.endpoints([snap(5, 1, {10: 3, 120: 1, 7: 1})])
    assert second[0]["requests"] == 2 and second[0]["rt_ms"] == {"10": 1, "7": 1}
    assert slicer.endpoints([snap(5, 1, {10: 3, 120: 1, 7: 1})]) == []  # nothing new


def test_forget_after_the_source_was_reset() -> None:
    slicer = Slicer()
    slicer.endpoints([snap(4, 0, {10: 4})])
    # A worker reports: its stats restart from zero, and so must the baseline.
    slicer.forget()
    again = slicer.endpoints([snap(2, 0, {10: 2})])
    assert again[0]["requests"] == 2


def test_counters_never_reset() -> None:
    slicer = Slicer()
    assert slicer.counters({"iterations": 10, "dropped": 0}) == {"iterations": 10, "dropped": 0}
    slicer.forget()
    assert slicer.counters({"iterations": 25, "dropped": 3}) == {"iterations": 15, "dropped": 3}


def test_bounds_close_whole_seconds() -> None:
    assert slice_bounds(100.0, 101.003) == (100.0, 101.0)  # on time
    assert slice_bounds(100.0, 100.4) == (100.0, 101.0)  # a report inside the second
    assert slice_bounds(100.0, 102.6) == (100.0, 102.0)  # a late wake covers two seconds

"""The load generator's CPU readings: never from a span shorter than the kernel can measure."""

from __future__ import annotations

import time

from loadtest.cpu import MIN_SPAN, Cpu


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_busy_second_reads_about_one_core_and_a_quick_second_reading_repeats_it() -> None:
    cpu = Cpu()
    _spin(MIN_SPAN + 0.1)
    busy = cpu.percent()
    assert 0 < busy <= 105, busy  # one thread: never above one core (a loaded machine: less)
    _spin(0.02)  # two readings 20 ms apart: one or two clock ticks would read 50-100 %
    assert cpu.percent() == busy


def test_an_idle_span_reads_near_zero() -> None:
    cpu = Cpu()
    deadline = time.monotonic() + MIN_SPAN + 0.05
    while time.monotonic() < deadline:
        time.sleep(0.05)
    assert cpu.percent() < 20

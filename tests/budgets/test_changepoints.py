"""Change points in run histories: steps found within one run of where they are, none in flat
noise, one slow run never a change point, and the history model that names the commit."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest

from budgets.changepoints import detect
from budgets.history import Entry, histories, newly_confirmed
from budgets.model import Condition, Level, Op
from budgets.units import Unit
from budgets.verdict import Verdict
from collectors.model import RunInfo
from tests.helpers import ROOT

NOISE = 0.05
"""Run-to-run noise of a p95 (coefficient of variation)."""


def stepped(seed: int, steps: list[tuple[int, float]], n: int, level: float = 100.0) -> np.ndarray:
    """n runs of Gaussian noise around `level`, multiplied by (1 + size) from each step on."""
    rng = np.random.default_rng(seed)
    mean = np.full(n, level)
    for at, size in steps:
        mean[at:] *= 1 + size
    return mean * (1 + rng.normal(0, NOISE, n))


@pytest.mark.parametrize("seed", range(20))
def test_steps_are_found_within_one_run_of_the_truth(seed: int) -> None:
    truth = [(15, 0.25), (32, -0.20), (45, 0.30)]
    found = detect(stepped(seed, truth, 60))
    assert len(found) == len(truth), [c.index for c in found]
    for (at, _), cp in zip(truth, found, strict=True):
        assert abs(cp.index - at) <= 1, (at, cp.index)


def test_no_change_point_in_flat_noisy_histories_of_50_runs() -> None:
    false = [seed for seed in range(300) if detect(stepped(seed, [], 50))]
    assert false == []


def test_one_slow_run_is_not_a_change_point_anywhere() -> None:
    for at in (0, 1, 20, 48, 49):
        values = stepped(7, [], 50)
        values[at] *= 1.6
        assert detect(values) == [], at


def test_a_step_at_the_end_needs_runs_after_it() -> None:
    values = stepped(3, [(40, 0.5)], 45)
    assert detect(values[:41]) == []  # one run after the step: could be one slow run
    found = [c.index for c in detect(values[:43])]
    assert found == [40]  # three runs agree


def test_short_and_degenerate_series() -> None:
    assert detect([]) == [] and detect([1.0, 2.0, 3.0]) == []
    assert detect([5.0] * 30) == []
    assert [c.index for c in detect([1.0] * 10 + [2.0] * 10)] == [10]
    with pytest.raises(ValueError, match="finite"):
        detect([1.0, math.nan, 2.0, 3.0])


# --- the history model -------------------------------------------------------------------

P95_CEILING = ((Level.FAIL, Condition(Op.LT, 0.5)),)


def entries(values: Sequence[float | None], *, budget: str = "checkout p95") -> list[Entry]:
    out = []
    for i, value in enumerate(values):
        run = RunInfo(
            id=f"run{i:02d}",
            started_at=1_000.0 + 3600 * i,
            ended_at=1_000.0 + 3600 * i + 60,
            git_commit=f"{i:02d}" + "c0ffee" * 6,
            git_branch="main",
            status="finished",
        )
        verdict = Verdict(
            budget=budget,
            status=Level.PASS,
            aggregation="p95",
            observed=value,
            thresholds=P95_CEILING,
            sample_count=100,
            window=None,
            scope="run",
            missing=value is None,
            unit=Unit.SECONDS,
        )
        out.append(Entry(run, (verdict,)))
    return out


def test_history_names_the_first_run_and_commit_after_the_change() -> None:
    values: list[float | None] = [v / 1000 for v in stepped(11, [(20, 0.18)], 35, 200.0)]
    values[5] = None  # a run without a value (missing data) is left out of the series
    [history] = histories(entries(values))
    assert history.unit is Unit.SECONDS and history.aggregation == "p95"
    assert len(history.points) == 35
    [change] = history.changes
    assert abs(int(change.run.id[3:]) - 20) <= 1
    assert change.previous.id == f"run{int(change.run.id[3:]) - 1:02d}"
    assert change.commit == (change.run.git_commit or "")[:7] != ""
    assert change.worse and change.ci_level == 0.95
    assert change.ci_low < change.change < change.ci_high
    assert change.change == pytest.approx(0.18, abs=0.05)
    assert change.p_value < 1e-4


def test_the_shift_interval_holds_the_true_shift_about_95_times_in_100() -> None:
    covered = 0
    for seed in range(100):
        [history] = histories(entries([float(v) for v in stepped(seed, [(20, 0.18)], 40)]))
        [change] = history.changes
        covered += change.ci_low < 0.18 < change.ci_high
    assert 88 <= covered <= 100


def test_a_floor_budget_getting_higher_is_not_worse() -> None:
    es = entries([float(v) for v in stepped(2, [(15, 0.4)], 30)])
    floor = ((Level.FAIL, Condition(Op.GT, 10.0)),)
    es = [
        Entry(e.run, tuple(Verdict(**{**v.__dict__, "thresholds": floor}) for v in e.verdicts))
        for e in es
    ]
    [change] = histories(es)[0].changes
    assert change.change > 0 and not change.worse


def test_the_run_that_confirms_a_change_reports_it_once() -> None:
    values = [float(v) for v in stepped(5, [(25, 0.3)], 40)]
    reported = {}
    for n in range(10, 41):
        [history] = histories(entries(values[:n]))
        new = newly_confirmed(history)
        if new:
            reported[n - 1] = [c.run.id for c in new]
    # Confirmed by one of the runs after the step, named at the step, reported once.
    assert len(reported) == 1, reported
    [(confirmed_by, names)] = reported.items()
    assert 26 <= confirmed_by <= 30 and names == ["run25"]


def test_histories_split_budgets_and_groups() -> None:
    es = entries([1.0, 2.0, 3.0])
    other = entries([4.0, 5.0, 6.0], budget="queue wait")
    mixed = [Entry(a.run, (*a.verdicts, *b.verdicts)) for a, b in zip(es, other, strict=True)]
    assert [h.budget for h in histories(mixed)] == ["checkout p95", "queue wait"]
    [only] = histories(mixed, "queue wait")
    assert [p.value for p in only.points] == [4.0, 5.0, 6.0] and only.changes == ()


def test_a_hundredfold_step_with_an_uneven_run_after_it_is_found() -> None:
    """Real runs of the example service (test_history_e2e): p50 of 3 ms, then a 400 ms delay
    with one run at 625 ms. On the linear scale that run's spread hid a 130-fold step
    (p = 6e-4 against 1e-4); noise proportional to the level is tested on the log scale."""
    fast = [0.002997, 0.002997, 0.003, 0.002997]
    assert [c.index for c in detect([*fast, 0.4025, 0.625])] == [4]
    (found,) = detect([*fast, 0.4025, 0.625, 0.4025])
    assert found.index == 4 and found.mean_before == pytest.approx(0.0029978, rel=1e-3)
    assert found.mean_after == pytest.approx((0.4025 * 2 + 0.625) / 3)


def test_loading_history_and_baselines_does_not_import_scipy() -> None:
    # scipy takes 0.3-0.7 s to import: `castiel check` pays it only when a test runs.
    probe = (
        "import sys, budgets.history, budgets.baseline, castiel.changes; "
        "print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

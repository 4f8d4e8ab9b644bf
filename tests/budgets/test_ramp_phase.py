"""Ramp-up exclusion from the run's real phases (`ramp_up: spawn`)."""

from __future__ import annotations

import dataclasses

from budgets.evaluate import evaluate
from budgets.model import Level
from collectors.store import Store
from tests.budgets.helpers import RUN, gauge, one

SPAWN = one("""    metric: depth
    aggregation: max
    fail: "< 10"
    ramp_up: spawn
    min_samples: 1
""")


def series() -> list:  # type: ignore[type-arg]
    # 50 while users arrive (t <= 20), then 5.
    return [gauge("depth", {t: 50.0 if t <= 20 else 5.0 for t in range(1, 101)})]


def test_spawn_is_parsed_as_the_spawning_phase() -> None:
    assert (SPAWN.ramp_up, SPAWN.ramp_up_phase) == (0.0, "spawning_complete")


def test_everything_before_spawning_completed_is_excluded() -> None:
    run = dataclasses.replace(RUN, phases={"spawning_complete": 20.5})
    (v,) = evaluate([SPAWN], series(), run)
    assert v.status is Level.PASS and v.observed == 5.0


def test_without_the_phase_a_finished_run_falls_back_to_its_start() -> None:
    (v,) = evaluate([SPAWN], series(), RUN)
    assert v.status is Level.FAIL and v.observed == 50.0


def test_live_before_the_phase_everything_is_ramp_up() -> None:
    live = dataclasses.replace(RUN, ended_at=None)
    (v,) = evaluate([SPAWN], series(), live, now=15.0)
    assert v.missing and v.observed is None


def test_the_store_keeps_phases_first_report_wins(store_location: str) -> None:
    with Store.open(store_location) as store:
        run = store.create_run(started_at=1.0)
        store.set_phase(run.id, "spawning_complete", 12.5)
        store.set_phase(run.id, "spawning_complete", 99.0)
        assert store.get_run(run.id).phases == {"spawning_complete": 12.5}
        assert store.schema_version >= 3  # phases came with revision 0003

"""Locust LoadTestShapes for the scenarios. Imports Locust: load it only in the load
generator's own process (Locust monkey-patches the standard library with gevent)."""

from __future__ import annotations

import os
import time

from locust import LoadTestShape

from loadtest.arrival import pool_target
from loadtest.pacing import PacingState, pacing_state
from loadtest.profiles import Profile, build

NO_START_TIMEOUT = 120.0
"""An arrival-rate run whose pool never finished spawning (workers that never came) ends."""


def profile_from_env() -> Profile:
    """`castiel run` passes the scenario to the Locust process through the environment."""
    return build(
        os.environ.get("CASTIEL_SCENARIO", "normal"),
        int(os.environ.get("CASTIEL_USERS", "10")),
        float(os.environ.get("CASTIEL_DURATION", "60")),
        float(os.environ.get("CASTIEL_PEAK_MULTIPLIER", "3")),
    )


class ScenarioShape(LoadTestShape):
    """Replays a Profile; returning None ends the run. In an arrival-rate run (the pacing
    plugin has put its state on the environment) the shape only sizes the pool of users:
    pre-allocated at the start, grown towards the maximum when iterations take longer than
    the pool can cover at the coming rate, and the run ends with the plan."""

    def __init__(self, profile: Profile | None = None) -> None:
        super().__init__()
        self.profile = profile or profile_from_env()
        self._pool_size = 0

    def tick(self) -> tuple[int, float] | None:
        state = pacing_state(self.runner.environment) if self.runner is not None else None
        if state is not None:
            return self._pool_tick(state)
        stage = self.profile.at(self.get_run_time())
        return None if stage is None else (stage.users, stage.spawn_rate)

    def _pool_tick(self, state: PacingState) -> tuple[int, float] | None:
        now = time.time()
        if state.t0 is None:
            if self.get_run_time() > NO_START_TIMEOUT:
                return None
            coming = state.plan.rate_at(0.0)
        elif now >= state.t0 + state.plan.duration:
            return None
        else:
            coming = max(state.plan.rate_at(now - state.t0), state.plan.rate_at(now + 1 - state.t0))
        self._pool_size = pool_target(
            state.pool, self._pool_size, coming, state.iteration_seconds()
        )
        # One spawn rate for the whole run: the tick changes only when the pool does.
        return self._pool_size, float(state.pool.maximum)

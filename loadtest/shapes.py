"""Locust LoadTestShapes for the scenarios. Imports Locust: load it only in the load
generator's own process (Locust monkey-patches the standard library with gevent)."""

from __future__ import annotations

import os

from locust import LoadTestShape

from loadtest.profiles import Profile, build


def profile_from_env() -> Profile:
    """`castiel run` passes the scenario to the Locust process through the environment."""
    return build(
        os.environ.get("CASTIEL_SCENARIO", "normal"),
        int(os.environ.get("CASTIEL_USERS", "10")),
        float(os.environ.get("CASTIEL_DURATION", "60")),
        float(os.environ.get("CASTIEL_PEAK_MULTIPLIER", "3")),
    )


class ScenarioShape(LoadTestShape):
    """Replays a Profile; returning None ends the run."""

    def __init__(self, profile: Profile | None = None) -> None:
        super().__init__()
        self.profile = profile or profile_from_env()

    def tick(self) -> tuple[int, float] | None:
        stage = self.profile.at(self.get_run_time())
        return None if stage is None else (stage.users, stage.spawn_rate)

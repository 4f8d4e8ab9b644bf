"""Load profiles of the scenarios, as pure data: how many users at which time. The Locust
shapes (loadtest/shapes.py) replay them; keeping them free of Locust lets anything (tests,
docs, the dashboard) read a profile without importing Locust, which monkey-patches."""

from __future__ import annotations

from dataclasses import dataclass

SCENARIOS = ("normal", "peak", "stress", "spike", "soak")


@dataclass(frozen=True)
class Stage:
    until: float  # seconds since the start
    users: int
    spawn_rate: float  # users per second while ramping to `users`


@dataclass(frozen=True)
class Profile:
    scenario: str
    stages: tuple[Stage, ...]

    @property
    def duration(self) -> float:
        return self.stages[-1].until

    def at(self, t: float) -> Stage | None:
        """The stage in force at `t` seconds, or None once the run is over."""
        return next((s for s in self.stages if t < s.until), None)


def _rate(users: int, seconds: float) -> float:
    return max(1.0, users / max(seconds, 1.0))


def build(
    scenario: str, users: int, duration: float, peak_multiplier: float = 3.0, steps: int = 5
) -> Profile:
    """`users` is the base load; `peak_multiplier` scales it for peak/stress/spike."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if users < 1 or duration <= 0 or peak_multiplier < 1 or steps < 1:
        raise ValueError("users >= 1, duration > 0, peak_multiplier >= 1 and steps >= 1")
    d, top = duration, max(users, round(users * peak_multiplier))
    ramp = max(1.0, 0.1 * d)
    if scenario == "normal":
        stages = [Stage(d, users, _rate(users, ramp))]
    elif scenario == "soak":
        stages = [Stage(d, users, _rate(users, max(1.0, 0.05 * d)))]
    elif scenario == "peak":
        stages = [
            Stage(0.3 * d, users, _rate(users, ramp)),
            Stage(0.7 * d, top, _rate(top - users, ramp)),
            Stage(d, users, _rate(top - users, ramp)),
        ]
    elif scenario == "spike":
        stages = [
            Stage(0.45 * d, users, _rate(users, ramp)),
            Stage(0.55 * d, top, float(top)),  # everyone arrives within a second
            Stage(d, users, float(top)),
        ]
    else:  # stress: equal steps from the base to the top, to find where it breaks
        stages = [
            Stage(
                d * (i + 1) / steps,
                round(users + (top - users) * i / max(1, steps - 1)),
                _rate(top, ramp),
            )
            for i in range(steps)
        ]
    return Profile(scenario, tuple(stages))

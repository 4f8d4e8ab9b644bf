"""Open-model load as pure data: a target rate of iterations per second over time (k6's
`constant-arrival-rate` and `ramping-arrival-rate`), when each iteration is due, and how big
the pool of users must be to keep it. Free of Locust, like `profiles.py`: the pacing inside
the Locust process (`loadtest/pacing.py`), the CLI and the tests all read the same plan.

Syntax of `castiel run --arrival-rate SPEC` (docs/loadtest.md):

* `50`: a constant 50 iterations/s for `--duration` (with `--scenario`, the base rate of the
  scenario's profile: `stress` steps from 50 to 50 x `--peak-multiplier`);
* `10, 30s:100, 1m:100, 0s:200, 1m:200`: ramping stages. An optional leading number is the
  start rate (default 0); each `DURATION:RATE` moves linearly from the previous rate to RATE
  over DURATION (`0s:RATE` jumps), as k6's `stages: [{duration, target}]`;
* `plan.yaml`: the same in a file, `start_rate:` and `stages: [{duration:, target:}]`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.yamlspec import Invalid, SpecContext, SpecError, SpecIssue, compose, read_text
from loadtest.profiles import Profile
from runtime.durations import parse_duration


@dataclass(frozen=True)
class RateStage:
    duration: float  # seconds
    target: float  # iterations/s at the end of the stage (linear from the previous rate)


@dataclass(frozen=True)
class ArrivalPlan:
    start_rate: float
    stages: tuple[RateStage, ...]

    def __post_init__(self) -> None:
        rates = [self.start_rate, *(s.target for s in self.stages)]
        if any(not math.isfinite(r) or r < 0 for r in rates):
            raise ValueError("rates must be finite numbers >= 0")
        if any(not math.isfinite(s.duration) or s.duration < 0 for s in self.stages):
            raise ValueError("stage durations must be >= 0")
        if not self.stages or self.duration <= 0:
            raise ValueError("an arrival plan needs at least one stage longer than 0s")
        if max(rates) <= 0:
            raise ValueError("an arrival plan needs a rate above 0")

    @classmethod
    def constant(cls, rate: float, duration: float) -> ArrivalPlan:
        return cls(rate, (RateStage(duration, rate),))

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.stages)

    @property
    def peak_rate(self) -> float:
        return max(self.start_rate, *(s.target for s in self.stages))

    def _segments(self) -> list[tuple[float, float, float, float]]:
        """(start time, duration, rate at start, rate at end) of each stage."""
        out, t, r = [], 0.0, self.start_rate
        for s in self.stages:
            out.append((t, s.duration, r, s.target))
            t, r = t + s.duration, s.target
        return out

    def rate_at(self, t: float) -> float:
        """The target rate `t` seconds after the start (0 outside the plan)."""
        for start, d, r0, r1 in self._segments():
            if start <= t < start + d:
                return r0 + (r1 - r0) * (t - start) / d
        return 0.0

    def count_at(self, t: float) -> float:
        """Iterations due in [0, t): the integral of the rate."""
        total = 0.0
        for start, d, r0, r1 in self._segments():
            if t <= start:
                break
            tau = min(t - start, d)
            total += r0 * tau + (r1 - r0) * tau * tau / (2 * d) if d > 0 else 0.0
        return total

    def time_of(self, k: float) -> float | None:
        """When iteration number `k` (0, 1, 2, ...) is due: the time at which `count_at`
        reaches k. None when the plan ends first."""
        done = 0.0
        for start, d, r0, r1 in self._segments():
            in_stage = r0 * d + (r1 - r0) * d / 2
            if k < done + in_stage:
                c = k - done
                # count(tau) = r0 tau + a tau^2 with a = (r1 - r0) / 2d; this form of the root
                # stays exact for a == 0 and for r0 == 0.
                a = (r1 - r0) / (2 * d)
                denominator = r0 + math.sqrt(max(0.0, r0 * r0 + 4 * a * c))
                return start + (2 * c / denominator if denominator > 0 else 0.0)
            done += in_stage
        return None

    def describe(self) -> str:
        stages = ", ".join(f"{_fmt_s(s.duration)}:{s.target:g}" for s in self.stages)
        return f"{self.start_rate:g}, {stages}" if self.start_rate else stages

    def to_json(self) -> str:
        return json.dumps(
            {"start_rate": self.start_rate, "stages": [[s.duration, s.target] for s in self.stages]}
        )

    @classmethod
    def from_json(cls, text: str) -> ArrivalPlan:
        raw = json.loads(text)
        return cls(
            float(raw["start_rate"]), tuple(RateStage(float(d), float(r)) for d, r in raw["stages"])
        )


def _fmt_s(seconds: float) -> str:
    return f"{seconds:g}s"


def from_profile(profile: Profile, base_users: int, base_rate: float) -> ArrivalPlan:
    """A scenario's profile as rates: each stage's load (users relative to the base) becomes
    a rate relative to `base_rate`, held for the stage (steps jump, as arrival rates can)."""
    stages: list[RateStage] = []
    t = 0.0
    for s in profile.stages:
        rate = base_rate * s.users / base_users
        stages += [RateStage(0.0, rate), RateStage(s.until - t, rate)]
        t = s.until
    return ArrivalPlan(0.0, tuple(stages))


def parse_stages(text: str) -> ArrivalPlan:
    """`[START,] DURATION:RATE, ...` (see the module docstring). Raises ValueError."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("no stages")
    start = 0.0
    if ":" not in parts[0]:
        start = _rate(parts.pop(0))
    stages = []
    for part in parts:
        duration, sep, rate = part.partition(":")
        if not sep:
            raise ValueError(f"stage {part!r} is not DURATION:RATE (e.g. 30s:100)")
        stages.append(RateStage(parse_duration(duration), _rate(rate)))
    return ArrivalPlan(start, tuple(stages))


def _rate(text: str | float) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a rate (iterations per second): {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a rate must be a finite number >= 0, got {text!r}")
    return value


def is_plain_rate(spec: str) -> bool:
    try:
        _rate(spec)
    except ValueError:
        return False
    return True


def load_plan_file(path: Path) -> ArrivalPlan:
    """A YAML arrival plan; its problems are located `file:line:col: key: message`."""
    text = read_text(path)
    if isinstance(text, SpecIssue):
        raise SpecError([text])
    root, problem = compose(text, str(path))
    if problem is not None:
        raise SpecError([problem])
    ctx = SpecContext(str(path))
    if root is None:
        raise SpecError([SpecIssue(str(path), 0, 0, "", "empty file", "start_rate: and stages:")])
    try:
        plan = _read_plan(ctx, root)
    except Invalid:
        plan = None
    if ctx.issues or plan is None:
        raise SpecError(ctx.issues)
    return plan


def _read_plan(ctx: SpecContext, root: Any) -> ArrivalPlan:
    top = ctx.mapping(root, "", ("start_rate", "stages"))
    start = 0.0
    if "start_rate" in top:
        start = ctx.convert(top["start_rate"][1], "start_rate", _rate)
    if "stages" not in top:
        raise ctx.error(root, "stages", "missing", "stages: [{duration: 30s, target: 100}]")
    stages = []
    for i, node in enumerate(ctx.items(top["stages"][1], "stages")):
        key = f"stages[{i}]"
        m = ctx.mapping(node, key, ("duration", "target"))
        for needed in ("duration", "target"):
            if needed not in m:
                raise ctx.error(node, f"{key}.{needed}", "missing")
        stages.append(
            RateStage(
                ctx.convert(m["duration"][1], f"{key}.duration", parse_duration),
                ctx.convert(m["target"][1], f"{key}.target", _rate),
            )
        )
    return ctx.attempt(root, "stages", lambda: ArrivalPlan(start, tuple(stages)))


# -- the pool of users --------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Users kept for the iterations (k6's preAllocatedVUs and maxVUs)."""

    preallocated: int
    maximum: int

    def __post_init__(self) -> None:
        if self.preallocated < 1 or self.maximum < self.preallocated:
            raise ValueError("the pool needs 1 <= preallocated users <= maximum users")


def pool_target(
    pool: Pool, current: int, rate: float, iteration_seconds: float | None, headroom: float = 1.25
) -> int:
    """How many users the pool should have: never fewer than now (k6 never shrinks it
    either), enough for `rate` iterations/s that each take `iteration_seconds` (Little's law,
    with headroom for variance), and never more than the maximum."""
    needed = current
    if iteration_seconds is not None and rate > 0:
        needed = max(current, math.ceil(rate * iteration_seconds * headroom) + 1)
    return max(pool.preallocated, min(pool.maximum, needed))

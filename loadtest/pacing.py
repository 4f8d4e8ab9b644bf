"""Open-model pacing inside one Locust process (local, or one worker of a distributed run).

A `Dispenser` greenlet starts iterations at their due times (`ArrivalPlan.time_of`) whether
or not earlier ones have finished: each due iteration goes to an idle user of the pool; with
no idle user it is *dropped* and counted (k6's `dropped_iterations`). Users take iterations
instead of sleeping: `pace` replaces their `wait_time` (and waits once after `on_start`), so
a user runs one task per iteration.

Latency is measured from the intended start: the delay between an iteration's due time and
the moment its user actually started it (a late scheduler, a CPU-bound generator) is added to
the response time of every request the iteration makes, before Locust's own statistics see
it (`pace` wraps the request event). Generator queueing is therefore in the numbers, not hidden
(coordinated omission).

In a distributed run each worker takes every n-th iteration of the one global sequence
(`slot` of `slots`), so the workers together follow the plan exactly. Imports gevent: load it
only in the Locust process."""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gevent
from gevent import getcurrent
from gevent.event import AsyncResult
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from loadtest.arrival import ArrivalPlan, Pool


@dataclass
class Counters:
    """Cumulative for the process; the reporters send differences."""

    iterations: int = 0  # started
    dropped: int = 0  # due with no idle user
    finished: int = 0  # iterations whose user came back for the next one
    busy_seconds: float = 0.0  # their duration, from the intended start


class Dispenser:
    def __init__(
        self,
        plan: ArrivalPlan,
        slot: int = 0,
        slots: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= slot < slots:
            raise ValueError(f"slot {slot} of {slots}")
        self.plan = plan
        self.slot, self.slots = slot, slots
        self.clock = clock
        self.t0: float | None = None
        self.counters = Counters()
        self._idle: deque[AsyncResult] = deque()
        self._intended: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._lag: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._greenlet: gevent.Greenlet | None = None

    # -- the schedule -------------------------------------------------------------------

    def start(self, t0: float) -> None:
        """Iteration 0 of the plan is due at wall-clock `t0` (the same on every worker)."""
        if self._greenlet is None:
            self.t0 = t0
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def _run(self) -> None:
        assert self.t0 is not None
        k = self.slot
        while (due := self.plan.time_of(k)) is not None:
            at = self.t0 + due
            wait = at - self.clock()
            if wait > 0:
                gevent.sleep(wait)
            self._hand_out(at)
            k += self.slots

    def _hand_out(self, intended: float) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.ready():
                self.counters.iterations += 1
                waiter.set(intended)
                return
        self.counters.dropped += 1

    # -- the users' side ----------------------------------------------------------------

    def take(self, user: Any) -> None:
        """Block the user's greenlet until its next iteration is due; the previous one (if
        any) has finished."""
        me = getcurrent()
        now = self.clock()
        started = self._intended.pop(user, None)
        if started is not None:
            self.counters.finished += 1
            self.counters.busy_seconds += max(0.0, now - started)
        waiter = AsyncResult()
        self._idle.append(waiter)
        try:
            intended = float(waiter.get())
        finally:
            if not waiter.ready():  # killed while idle (the run stops): not an iteration
                self._idle.remove(waiter)
        self._intended[user] = intended
        self._lag[me] = max(0.0, self.clock() - intended)

    def lag_ms(self) -> float:
        """The current greenlet's iteration start delay, in ms (0 outside an iteration)."""
        return self._lag.get(getcurrent(), 0.0) * 1000.0

    def paced_wait(self, user: Any) -> float:
        """A `wait_time` for users: wait for the next iteration, then sleep no more."""
        self.take(user)
        return 0.0

    def first_iteration(self, user: Any) -> None:
        """After `on_start`: a user's first task waits for an iteration too. Marked waiting,
        as TaskSet.wait does, so stopping the run does not wait for idle users."""
        user._state = LOCUST_STATE_WAITING
        self.take(user)
        if user._state == LOCUST_STATE_STOPPING:
            raise StopUser()
        user._state = LOCUST_STATE_RUNNING


def pace(environment: Any) -> None:
    """Make every user class take iterations from the process's current dispenser instead
    of sleeping, and add each iteration's start delay to its requests' response times before
    any listener (Locust's statistics, Castiel's reporter) sees them. Installed once per
    process; a later plan (a worker serving another run) brings its own dispenser."""
    if getattr(environment, "_castiel_paced", False):
        return
    environment._castiel_paced = True

    def current() -> Dispenser:
        state = pacing_state(environment)
        if state is None or state.dispenser is None:
            raise RuntimeError("an arrival-rate user without a dispenser")
        return state.dispenser

    for cls in environment.user_classes:
        original_on_start = cls.on_start

        def on_start(user: Any, _original: Callable[[Any], None] = original_on_start) -> None:
            _original(user)
            current().first_iteration(user)

        def wait_time(user: Any) -> float:
            return current().paced_wait(user)

        cls.on_start = on_start
        cls.wait_time = wait_time

    hook = environment.events.request
    fire = hook.fire

    def corrected(**kwargs: Any) -> None:
        state = pacing_state(environment)
        lag = state.dispenser.lag_ms() if state is not None and state.dispenser else 0.0
        if lag > 0 and kwargs.get("response_time") is not None:
            kwargs["response_time"] = kwargs["response_time"] + lag
        fire(**kwargs)

    hook.fire = corrected


class PacingState:
    """What the other plugins of a Locust process need to know about the pacing: the plan
    and pool, when iteration 0 is due (`t0`), this process's dispenser (local, workers), and
    how long iterations take lately (the shape sizes the pool from it)."""

    def __init__(self, plan: ArrivalPlan, pool: Pool, window: int = 5) -> None:
        self.plan = plan
        self.pool = pool
        self.t0: float | None = None
        self.dispenser: Dispenser | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=window)
        self._pending = [0.0, 0.0]

    def observe(self, counters: Mapping[str, float]) -> None:
        """A slice's counters (this process's, or a worker's on the master)."""
        self._pending[0] += counters.get("finished", 0.0)
        self._pending[1] += counters.get("busy_seconds", 0.0)

    def close_second(self) -> None:
        self._recent.append((self._pending[0], self._pending[1]))
        self._pending = [0.0, 0.0]

    def iteration_seconds(self) -> float | None:
        """Mean duration of the iterations finished over the last few seconds."""
        finished = sum(n for n, _ in self._recent)
        return sum(s for _, s in self._recent) / finished if finished else None

    def active(self, at: float) -> bool:
        return self.t0 is not None and self.t0 <= at < self.t0 + self.plan.duration

    def target_rate(self, start: float, end: float) -> float:
        """The plan's mean rate over [start, end) of wall-clock time (every process)."""
        if self.t0 is None or end <= start:
            return 0.0
        due = self.plan.count_at(end - self.t0) - self.plan.count_at(start - self.t0)
        return due / (end - start)


STATE_ATTRIBUTE = "castiel_pacing"


def pacing_state(environment: Any) -> PacingState | None:
    """The process's pacing (None for a closed-loop run). It lives on the Environment: the
    plugins of one Locust process share nothing else."""
    state = getattr(environment, STATE_ATTRIBUTE, None)
    return state if isinstance(state, PacingState) else None

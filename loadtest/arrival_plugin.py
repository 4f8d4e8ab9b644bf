"""Loaded into every Locust process of a run (`-f user.py,...,arrival_plugin.py`): sets up
open-model pacing (`pacing.py`) when $CASTIEL_ARRIVAL holds an arrival plan (JSON) and
$CASTIEL_POOL the pool ("preallocated,maximum").

* local run: one dispenser takes every iteration;
* master: when the test starts, each connected worker gets the plan and its slot (every n-th
  iteration of the one global sequence); when every worker has spawned its share of the
  pool, they all get the same wall-clock start `t0`. Workers need no environment of their
  own, so `castiel loadtest worker` on another machine joins without knowing the plan;
* worker: paces its users once the master's plan arrives (before any user spawns: Locust
  sends messages to a worker in order, and the plan goes out before the spawn orders)."""

from __future__ import annotations

import os
import time
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.arrival import ArrivalPlan, Pool
from loadtest.pacing import STATE_ATTRIBUTE, Dispenser, PacingState, pace

PLAN_MESSAGE = "castiel_arrival_plan"
GO_MESSAGE = "castiel_arrival_go"
START_DELAY = 0.5
"""Seconds between the pool being spawned and iteration 0: time for the go message to reach
every worker and for the last spawned users to reach their first wait."""


def _pace(environment: Environment, state: PacingState, slot: int, slots: int) -> None:
    previous = getattr(environment, STATE_ATTRIBUTE, None)
    if isinstance(previous, PacingState) and previous.dispenser is not None:
        previous.dispenser.stop()
    state.dispenser = Dispenser(state.plan, slot, slots)
    setattr(environment, STATE_ATTRIBUTE, state)
    pace(environment)


def _on_spawned_once(environment: Environment, start: Any) -> None:
    def listener(**_: Any) -> None:
        environment.events.spawning_complete.remove_listener(listener)
        start(time.time() + START_DELAY)

    environment.events.spawning_complete.add_listener(listener)


def _setup_local(environment: Environment, state: PacingState) -> None:
    _pace(environment, state, 0, 1)

    def start(t0: float) -> None:
        state.t0 = t0
        assert state.dispenser is not None
        state.dispenser.start(t0)

    _on_spawned_once(environment, start)


def _setup_master(runner: MasterRunner, state: PacingState) -> None:
    environment = runner.environment
    setattr(environment, STATE_ATTRIBUTE, state)

    def on_test_start(**_: Any) -> None:
        active = runner.clients.ready + runner.clients.spawning + runner.clients.running
        workers = sorted(w.id for w in active)
        pool = [state.pool.preallocated, state.pool.maximum]
        for slot, worker in enumerate(workers):
            data = {"plan": state.plan.to_json(), "pool": pool, "slot": slot, "slots": len(workers)}
            runner.send_message(PLAN_MESSAGE, data, client_id=worker)

    def start(t0: float) -> None:
        state.t0 = t0
        runner.send_message(GO_MESSAGE, {"t0": t0})

    environment.events.test_start.add_listener(on_test_start)
    _on_spawned_once(environment, start)


def _setup_worker(runner: WorkerRunner) -> None:
    environment = runner.environment

    def on_plan(msg: Any, **_: Any) -> None:
        pre, maximum = msg.data["pool"]
        state = PacingState(ArrivalPlan.from_json(msg.data["plan"]), Pool(pre, maximum))
        _pace(environment, state, int(msg.data["slot"]), int(msg.data["slots"]))

    def on_go(msg: Any, **_: Any) -> None:
        state = getattr(environment, STATE_ATTRIBUTE, None)
        if isinstance(state, PacingState) and state.dispenser is not None:
            state.t0 = float(msg.data["t0"])
            state.dispenser.start(state.t0)

    runner.register_message(PLAN_MESSAGE, on_plan)
    runner.register_message(GO_MESSAGE, on_go)


def state_from_env() -> PacingState | None:
    plan = os.environ.get("CASTIEL_ARRIVAL")
    if not plan:
        return None
    pre, _, maximum = os.environ.get("CASTIEL_POOL", "10,10").partition(",")
    return PacingState(ArrivalPlan.from_json(plan), Pool(int(pre), int(maximum or pre)))


def _on_init(environment: Environment, runner: Any = None, **_: Any) -> None:
    runner = runner or environment.runner
    if isinstance(runner, WorkerRunner):
        _setup_worker(runner)
        return
    state = state_from_env()
    if state is None:
        return
    if isinstance(runner, MasterRunner):
        _setup_master(runner, state)
    else:
        _setup_local(environment, state)


events.init.add_listener(_on_init)

"""A test locustfile: one GET per iteration. $CASTIEL_TEST_BURN_EVERY=N makes every N-th
iteration of a process burn $CASTIEL_TEST_BURN_MS of CPU before its request, blocking the
gevent hub the way a saturated load generator does."""

from __future__ import annotations

import itertools
import os
import time

from locust import FastHttpUser, constant, task

BURN_EVERY = int(os.environ.get("CASTIEL_TEST_BURN_EVERY", "0"))
BURN_SECONDS = float(os.environ.get("CASTIEL_TEST_BURN_MS", "0")) / 1000
_calls = itertools.count(1)


class Paced(FastHttpUser):
    wait_time = constant(1)  # an arrival-rate run replaces it

    @task
    def hit(self) -> None:
        if BURN_EVERY and next(_calls) % BURN_EVERY == 0:
            until = time.perf_counter() + BURN_SECONDS
            while time.perf_counter() < until:
                pass
        self.client.get("/", name="/")

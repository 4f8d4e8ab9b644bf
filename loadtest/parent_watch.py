"""Loaded into every Locust process of a run (`-f user.py,...,parent_watch.py`): Locust must
not outlive the `castiel run` that started it, even when that is killed with SIGKILL.

`castiel run` starts the Locust master with a parent-death signal (loadtest.stopping), but
workers forked by `--processes` lose it at fork. So on Locust's `init` event, in the master
and in each worker, this plugin asks Linux again for SIGTERM on the parent's death and also
polls the parent once a second (a second line of defence, and the only one off Linux). A
parent that is gone means SIGTERM to itself: Locust then stops its users and quits as it does
for `kill`, writing its final stats."""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import gevent
from locust import events

from loadtest.stopping import LOCUST_STOP_GRACE, expected_parent, set_parent_death_signal

log = logging.getLogger("castiel.parent_watch")

LOADED_IN = os.getpid()
"""The process that imported the locustfiles: the master. Workers forked by `--processes`
inherit this value, which is how a worker knows its parent's pid (it is `LOADED_IN`)."""


def watch(parent: int, interval: float = 1.0) -> None:
    while os.getppid() == parent:
        gevent.sleep(interval)
    log.warning("castiel: the process that started Locust (%d) is gone; stopping", parent)
    os.kill(os.getpid(), signal.SIGTERM)
    gevent.sleep(LOCUST_STOP_GRACE)
    os._exit(1)  # the graceful stop did not finish: do not linger


def _on_init(**_: Any) -> None:
    parent = expected_parent(os.getpid(), LOADED_IN, dict(os.environ)) or os.getppid()
    set_parent_death_signal(signal.SIGTERM)
    gevent.spawn(watch, parent)  # also covers a parent that died before the line above


events.init.add_listener(_on_init)

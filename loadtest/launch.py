"""How `castiel run` starts Locust: headless, in a process of its own (Locust monkey-patches
the standard library with gevent, so it never shares a process with Redis or store clients),
locally or distributed with Locust's own master/worker mode (`--processes N`)."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import loadtest
from loadtest.arrival import ArrivalPlan, Pool
from loadtest.distributed import PLUGINS, Endpoint, master_args
from loadtest.stopping import PARENT_ENV

PACKAGE_DIR = Path(loadtest.__file__).resolve().parent
DEFAULT_LOCUSTFILE = PACKAGE_DIR / "locustfiles" / "example_service.py"


@dataclass(frozen=True)
class LocustOptions:
    target: str
    out_dir: Path
    scenario: str = "normal"
    users: int = 10
    duration: float = 60.0
    peak_multiplier: float = 3.0
    locustfile: Path = DEFAULT_LOCUSTFILE
    processes: int = 1
    master_port: int | None = None  # distributed runs: None picks a free loopback port
    arrival: ArrivalPlan | None = None  # an open-model run: iterations/s over time
    pool: Pool | None = None  # its users (pre-allocated, maximum)
    expect_workers: int = 0  # > 0: a master only, waiting for workers from other machines
    master_bind: Endpoint | None = None
    workers_wait: float = 120.0  # seconds the master waits for them

    @property
    def stats_file(self) -> Path:
        return self.out_dir / "locust-stats.jsonl"

    @property
    def locust_json(self) -> Path:
        return self.out_dir / "locust.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locust_command(o: LocustOptions) -> tuple[list[str], dict[str, str]]:
    """argv and environment of the Locust process."""
    files = ",".join(str(p) for p in (o.locustfile, *PLUGINS))
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        files,
        "--headless",
        "-H",
        o.target,
        "--json-file",
        str(o.locust_json.with_suffix("")),
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    if o.processes > 1:
        # Locust's master binds every interface on 5557 by default: two runs on one CI machine
        # would collide, and the port would be open to the network. Loopback and a free port.
        port = str(o.master_port or free_port())
        argv += ["--processes", str(o.processes), "--master-bind-host", "127.0.0.1"]
        argv += ["--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    elif o.expect_workers > 0:
        bind = o.master_bind or Endpoint("127.0.0.1", o.master_port or free_port())
        argv += master_args(bind, o.expect_workers, o.workers_wait)
    root = str(PACKAGE_DIR.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        "CASTIEL_STATS_FILE": str(o.stats_file),
        PARENT_ENV: str(os.getpid()),  # loadtest/parent_watch.py: Locust dies with us
        "CASTIEL_SCENARIO": o.scenario,
        "CASTIEL_USERS": str(o.users),
        "CASTIEL_DURATION": str(o.duration),
        "CASTIEL_PEAK_MULTIPLIER": str(o.peak_multiplier),
    }
    env.pop("CASTIEL_ARRIVAL", None)  # never inherited: a closed-loop run stays closed
    if o.arrival is not None:
        pool = o.pool or Pool(o.users, o.users)
        env["CASTIEL_ARRIVAL"] = o.arrival.to_json()
        env["CASTIEL_POOL"] = f"{pool.preallocated},{pool.maximum}"
    return argv, env

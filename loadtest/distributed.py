"""Load generators on many machines: Locust's own master/worker mode across hosts.

`castiel run --expect-workers N --master-bind HOST:PORT` runs Locust as a master only (no
local workers), waits for N workers and then runs the scenario; `castiel loadtest worker
--master HOST:PORT -f locustfile.py` joins it from another machine with the same locustfile.
Castiel's plugins (`PLUGINS`) load in every process, and each knows its role: the reporter
writes the stats file on the master only, workers cut their own per-second slices and pace
their users with the plan the master sends them.

Locust's master/worker protocol (ZeroMQ) has no authentication or encryption: whoever
reaches the master's port can join as a worker (and receive the run's settings) or feed it
statistics. Bind a private address, and see docs/fleet.md for Kubernetes."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import loadtest

PACKAGE_DIR = Path(loadtest.__file__).resolve().parent
PLUGINS = tuple(
    PACKAGE_DIR / name
    for name in ("shape_plugin.py", "reporter.py", "arrival_plugin.py", "parent_watch.py")
)
DEFAULT_PORT = 5557  # Locust's


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str, default_port: int = DEFAULT_PORT) -> Endpoint:
    """`HOST:PORT`, `HOST` (Locust's port 5557) or `[v6]:PORT`. Raises ValueError."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{text!r}: no host (HOST:PORT, e.g. 10.0.0.5:5557)")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"{text!r}: the port must be a number (HOST:PORT)") from None
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port must be between 1 and 65535")
    return Endpoint(host, port)


def is_loopback(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine (127.0.0.0/8,
    ::1, `localhost`); names and wildcards (`*`, 0.0.0.0) are not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(bind: Endpoint) -> str | None:
    """The warning to print when the master listens beyond this machine."""
    if is_loopback(bind.host):
        return None
    return (
        f"warning: Locust's master will listen on {bind}; its master/worker protocol is "
        "unauthenticated and unencrypted, so anyone who can reach that port can join the "
        "run or feed it statistics. Bind a private network address (docs/fleet.md)."
    )


def master_args(bind: Endpoint, expect_workers: int, wait: float) -> list[str]:
    """Locust's flags for a master that waits for workers from other machines."""
    return [
        "--master",
        "--master-bind-host",
        bind.host,
        "--master-bind-port",
        str(bind.port),
        "--expect-workers",
        str(expect_workers),
        "--expect-workers-max-wait",
        str(max(1, round(wait))),
    ]


def worker_command(
    master: Endpoint, locustfile: Path, extra_env: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of a worker joining `master` (`castiel loadtest worker`)."""
    files = ",".join(str(p) for p in (locustfile, *PLUGINS))
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        files,
        "--worker",
        "--master-host",
        master.host,
        "--master-port",
        str(master.port),
        "--loglevel",
        "WARNING",
    ]
    root = str(PACKAGE_DIR.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    }
    return argv, env


def resolvable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return True

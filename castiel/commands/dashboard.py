"""`castiel dashboard`: serve the Streamlit dashboard (127.0.0.1 by default)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dashboard
from castiel.errors import UsageError
from collectors.store import DEFAULT_PATH

APP = Path(dashboard.__file__).resolve().parent / "app.py"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the dashboard (Streamlit)",
        description="Serve the dashboard on 127.0.0.1:PORT. It reads the store only; runs "
        "started from it are `castiel run` child processes. Bind another address only with "
        "password protection configured in Streamlit's secrets.",
    )
    p.add_argument("--store", type=Path, default=DEFAULT_PATH, help="metrics store")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1", help="bind address (127.0.0.1)")
    p.set_defaults(handler=run)


def command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a TCP port")
    print(f"dashboard: http://{args.address}:{args.port}  (store {args.store})", flush=True)
    env = {**os.environ, "CASTIEL_STORE": str(args.store.resolve())}
    try:
        return subprocess.call(command(args), env=env)
    except KeyboardInterrupt:
        return 130

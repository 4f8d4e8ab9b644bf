"""`castiel dashboard`: serve the Streamlit dashboard (127.0.0.1 by default; a password from
Streamlit's secrets when it must be reachable from elsewhere)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import tomllib
from pathlib import Path
from typing import Any

import dashboard
from castiel import argtypes
from castiel.errors import UsageError
from castiel.storearg import add_store_argument
from collectors.locator import STORE_ENV, StoreLocator

APP = Path(dashboard.__file__).resolve().parent / "app.py"
PASSWORD_ENV = "CASTIEL_DASHBOARD_PASSWORD"  # noqa: S105 - the variable's name


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the dashboard (Streamlit)",
        description="Serve the dashboard on 127.0.0.1:PORT. It reads the store only; runs "
        "started from it are `castiel run` child processes. To reach it from other machines, "
        'bind another --host and set a password: `[castiel] password = "..."` in '
        ".streamlit/secrets.toml (or the file given with --secrets), or "
        f"${PASSWORD_ENV}.",
    )
    add_store_argument(p)
    p.add_argument("--port", type=argtypes.port, default=8501, help="port, 1-65535 (8501)")
    p.add_argument(
        "--host",
        "--address",
        dest="host",
        type=argtypes.host,
        default="127.0.0.1",
        help="bind address (127.0.0.1); anything else wants a password",
    )
    p.add_argument(
        "--secrets",
        type=argtypes.existing_file,
        metavar="FILE",
        help="a secrets.toml holding [castiel] password (default: .streamlit/secrets.toml)",
    )
    p.set_defaults(handler=run)


def secrets_files(explicit: Path | None, cwd: Path, home: Path) -> list[Path]:
    """Where Streamlit looks for secrets, in its order (later files win), plus ours."""
    files = [home / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]
    return [*files, explicit] if explicit is not None else files


def has_password(files: list[Path], env: dict[str, str]) -> bool:
    """Whether the dashboard will ask for a password. A file that is not valid TOML is bad
    input (exit 2): serving without the password its author meant to set would be worse."""
    if env.get(PASSWORD_ENV):
        return True
    found = False
    for f in files:
        if not f.is_file():
            continue
        try:
            doc = tomllib.loads(f.read_text())
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{f}: not a readable TOML secrets file: {exc}") from None
        section = doc.get("castiel")
        if isinstance(section, dict) and section.get("password"):
            found = True
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def bind_warning(host: str, protected: bool) -> str | None:
    """The loud warning for a dashboard reachable from other machines without a password."""
    if is_loopback(host) or protected:
        return None
    bar = "!" * 78
    return (
        f"{bar}\nWARNING: serving the dashboard on {host}, reachable from other machines, "
        "WITHOUT a password.\nAnyone who can reach this port can read every run and start "
        'load tests. Set one:\n  [castiel]\n  password = "..."    in .streamlit/secrets.toml '
        f"(or --secrets FILE), or ${PASSWORD_ENV}\n{bar}"
    )


def _for_child(store: StoreLocator) -> str:
    # In the environment, where the password of a URL does not show in `ps`; a file as an
    # absolute path, since Streamlit may run the pages from elsewhere.
    return str(store.path.resolve()) if store.path is not None else store.secret_text()


def command(args: argparse.Namespace) -> list[str]:
    argv = [
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
        args.host,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is not a Streamlit Cloud app
    ]
    if args.secrets is not None:
        argv += ["--secrets.files", str(args.secrets.resolve())]
    return argv


def check_bindable(host: str, port: int) -> None:
    """Bind HOST:PORT once now, so a name that does not resolve, an address of another
    machine or a port in use is one line and exit 2 here, not a traceback from Streamlit."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host}: cannot be resolved ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit binds it
        try:
            s.bind(address)
        except OSError as exc:
            raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    check_bindable(args.host, args.port)
    protected = has_password(secrets_files(args.secrets, Path.cwd(), Path.home()), dict(os.environ))
    warning = bind_warning(args.host, protected)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(
        f"dashboard: http://{args.host}:{args.port}  (store {args.store}"
        + (", password required)" if protected else ")"),
        flush=True,
    )
    env = {**os.environ, STORE_ENV: _for_child(args.store)}
    argv = command(args)
    # Become the Streamlit server rather than its parent: a signal to this pid (Ctrl-C, a
    # supervisor's SIGTERM) then reaches the server itself and nothing is left orphaned.
    os.execve(argv[0], argv, env)  # noqa: S606 - a fixed argv, no shell

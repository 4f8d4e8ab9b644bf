"""Start and stop a real PostgreSQL server on a free loopback port in a temporary directory:
the test harness's shared store and `bench/budgets.py --store`'s PostgreSQL column.

PostgreSQL refuses to run as root, so as root every server command runs as the `postgres`
user that Debian's package creates (`runuser -u postgres --`), in a directory that user owns.
The superuser is `castiel` with a password (scram-sha-256 over TCP), so every test that
talks to it also proves the password stays out of what Castiel prints."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from castiel.redis_server import free_port

USER = "castiel"


class PostgresNotInstalled(RuntimeError):
    pass


def pg_binary(name: str) -> str | None:
    """`initdb`, `pg_ctl`, ...: Debian keeps them under /usr/lib/postgresql/<major>/bin, off
    PATH; the newest major wins."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return found[-1] if found else shutil.which(name)


def _require(name: str) -> str:
    path = pg_binary(name)
    if path is None:
        raise PostgresNotInstalled(
            f"{name} not found; install PostgreSQL with: apt-get install -y postgresql "
            "(make test does this for you)"
        )
    return path


@dataclass
class PostgresServer:
    """One postgres bound to 127.0.0.1. `stop()` and `start()` again keep the port and the
    data, so a test can take the store away during a run and bring it back."""

    base_dir: Path | None = None
    port: int = 0
    durable: bool = False
    """False (tests): fsync and synchronous commit off. True (benchmarks): the defaults."""
    password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(12))

    def __post_init__(self) -> None:
        if self.base_dir is None:
            # Not under pytest's tmp_path: the postgres user must be able to reach it.
            self.base_dir = Path(tempfile.mkdtemp(prefix="castiel-pg-"))
        self.base_dir = self.base_dir.resolve()
        self.port = self.port or free_port()

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        out = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if out.returncode != 0:
            tail = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {out.stderr or out.stdout}\n{tail}")
        return out

    def _initdb(self) -> None:
        assert self.base_dir is not None
        pwfile = self.base_dir / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.base_dir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            _require("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.base_dir}'",
            "max_connections = 200",
        ]
        if not self.durable:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")

    def start(self) -> PostgresServer:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._run(
            _require("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
            "-t", "60", "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects clients and shuts down cleanly; `immediate` is a crash."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(_require("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        self.stop("immediate")
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit superuser connection to the `postgres` database."""
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=10)

    def create_database(self, name: str, template: str = "template0") -> str:
        """A new database (a copy of `template`); returns its URL."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

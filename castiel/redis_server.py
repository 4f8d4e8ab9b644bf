"""Start and stop real redis-server processes on free loopback ports: the demo's embedded
Redis and the test harness (standalone and a 3-master cluster), with fault injection."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from loadtest.stopping import spawn_detached
from runtime.errors import RunBroken


class RedisNotInstalled(RunBroken):
    """The demo's redis-server is not installed: one line and exit 3, not a traceback."""


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(also_free_offset: int | None = None) -> int:
    """A free loopback port; with `also_free_offset`, port+offset must be free too (a cluster
    node's bus port is its port + 10000, so it must also stay below 65536)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if also_free_offset is None:
            return port
        if port + also_free_offset < 65536 and _bindable(port + also_free_offset):
            return port
    raise RuntimeError("no free loopback port found")


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RedisNotInstalled(
            f"{binary} is not on PATH; install it with: apt-get install -y redis-server "
            "redis-tools (make test and make demo do this for you)"
        )
    return path


@dataclass
class RedisServer:
    """One redis-server bound to 127.0.0.1. `kill()` (SIGKILL) and `start()` again keep the
    port and data directory, so a test can inject a crash and a restart."""

    data_dir: Path
    port: int = 0
    appendonly: bool = False
    appendfsync: str = "everysec"
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    detach: bool = False
    """The demo's server: a session of its own (a terminal's Ctrl-C reaches the demo, which
    stops it last) and SIGTERM if the demo dies, even by SIGKILL (loadtest.stopping)."""

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()  # redis-server chdirs into --dir
        self._auto_port = not self.port
        self.port = self.port or self._pick_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _pick_port(self) -> int:
        return free_port(10000 if "--cluster-enabled" in self.extra else None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            require("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
            *self.extra,
        ]

    def start(self, timeout: float = 10.0) -> RedisServer:
        quiet = subprocess.DEVNULL
        if self.detach:
            self.proc = spawn_detached(self.argv(), stdout=quiet, stderr=quiet)
        else:
            self.proc = subprocess.Popen(self.argv(), stdout=quiet, stderr=quiet)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                try:
                    if client.ping():
                        # With AOF on, LOADING answers errors until the data is back.
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if self.proc is not None and self.proc.poll() is not None:
                    log = self.data_dir / "redis.log"
                    lines = log.read_text().strip().splitlines() if log.exists() else []
                    last = lines[-1] if lines else "no log"
                    raise RunBroken(f"redis-server on port {self.port} exited ({log}): {last}")
                if time.monotonic() > deadline:
                    raise RunBroken(f"redis-server on port {self.port} not ready in {timeout:g}s")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: an unclean crash; only what reached the AOF survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()


@dataclass
class RedisClusterServers:
    """A real Redis Cluster: `masters` cluster-enabled redis-servers, each with `replicas`
    replicas, joined with `redis-cli --cluster create`. `appendonly` turns on AOF with
    `appendfsync always` on every node (a killed and restarted node keeps its data)."""

    data_dir: Path
    masters: int = 3
    replicas: int = 0
    appendonly: bool = False
    node_timeout_ms: int = 2000
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def startup_nodes(self) -> list[str]:
        return [f"127.0.0.1:{n.port}" for n in self.nodes]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(self.startup_nodes)

    def start(self, timeout: float = 30.0) -> RedisClusterServers:
        cli = require("redis-cli")
        for i in range(self.masters * (1 + self.replicas)):
            node_dir = self.data_dir / f"node{i}"
            node = RedisServer(
                node_dir,
                appendonly=self.appendonly,
                appendfsync="always",
                extra=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(node_dir / "nodes.conf"),
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    # A replica's first full sync starts at once (not after Redis 7's 5 s
                    # wait for more replicas to share one diskless transfer).
                    "--repl-diskless-sync-delay",
                    "0",
                ],
            )
            self.nodes.append(node.start())
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *self.startup_nodes,
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        self.wait_healthy(timeout)
        return self

    def _client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(port=node.port, socket_timeout=2, socket_connect_timeout=2)

    def _alive(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def master_nodes(self) -> list[RedisServer]:
        """The live nodes that are masters now (a failover changes which ones)."""
        out = []
        for node in self._alive():
            client = self._client(node)
            try:
                if client.info("replication").get("role") == "master":
                    out.append(node)
            finally:
                client.close()
        return out

    def master_for(self, key: str) -> RedisServer:
        """The live master that serves `key`'s slot now."""
        for node in self._alive():
            client = self._client(node)
            try:
                slot = int(client.cluster("keyslot", key))
                for lo, hi, master, *_ in client.cluster("slots"):
                    if lo <= slot <= hi:
                        port = int(master[1])
                        return next(n for n in self.nodes if n.port == port)
            finally:
                client.close()
        raise RuntimeError("no live cluster node answers")

    def replicas_of(self, master: RedisServer) -> list[RedisServer]:
        """The live nodes replicating `master` now."""
        out = []
        for node in self._alive():
            client = self._client(node)
            try:
                info = client.info("replication")
                if info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port:
                    out.append(node)
            finally:
                client.close()
        return out

    def healthy(self) -> bool:
        """Every live node sees the cluster as ok, and every master has its replicas online."""
        for node in self._alive():
            client = self._client(node)
            try:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
                info = client.info("replication")
                online = sum(
                    1
                    for k, v in info.items()
                    if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
                )
                everyone = len(self._alive()) == len(self.nodes)
                if info.get("role") == "master" and everyone and online < self.replicas:
                    return False
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                return False
            finally:
                client.close()
        return True

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError("redis cluster did not reach state ok")
            time.sleep(0.05)

    def flushall(self) -> None:
        """Empty every master (replicas follow)."""
        for node in self.master_nodes():
            client = self._client(node)
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

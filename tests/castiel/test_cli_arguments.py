"""Every command, every kind of bad argument, as a user and a CI system would type them: a
missing argument, a wrong type, a value out of range, a dependency that does not answer, a
directory or a foreign file where the store goes, a YAML value with an explicit tag. Each one
exits with its documented code (2 bad input, 3 unreachable), prints exactly one line on stderr
that names the argument (or file:line), and never a traceback.

The commands run as real processes, all at once (a session fixture runs the table in a thread
pool), and each row is then its own test."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from castiel.redis_server import free_port
from tests.helpers import ROOT, wait_until

BUDGETS = str(ROOT / "examples" / "budgets.yaml")


@dataclass(frozen=True)
class Row:
    argv: tuple[str, ...]
    code: int
    names: str
    """What the one line on stderr must contain (the argument, or file:line)."""


def rows() -> dict[str, Row]:
    """Placeholders: {dir} a directory, {foreign} a text file, {sqlite} someone else's SQLite
    database, {store} a new store, {closed} a loopback port nobody listens on, {tagged_*}
    YAML files with a tag that does not convert, {file} an existing file."""
    b = ("--budgets", BUDGETS)
    red = "redis://127.0.0.1:{closed}/0"
    table = {
        # missing
        "run/missing --target": Row(("run", *b), 2, "--target"),
        "check/missing --budgets": Row(("check",), 2, "--budgets"),
        "monitor/missing --budgets": Row(("monitor",), 2, "--budgets"),
        "worker/missing class": Row(("worker",), 2, "MODULE:Class"),
        "queue/missing QUEUE": Row(("queue", "stats"), 2, "QUEUE"),
        "schedule add/missing --job": Row(
            ("schedule", "add", "q", "id", "--every", "5s"), 2, "--job"
        ),
        "alerts silence/missing --comment": Row(
            ("alerts", "silence", "create", 'budget="x"', "--duration", "1h"), 2, "--comment"
        ),
        "alerts test/missing RECEIVER": Row(("alerts", "test"), 2, "RECEIVER"),
        "budgets validate/missing FILE": Row(("budgets", "validate"), 2, "FILE"),
        "sources/missing action": Row(("sources",), 2, "ACTION"),
        # wrong type
        "run --duration soon": Row(
            ("run", "--target", "http://x", *b, "--duration", "soon"), 2, "--duration"
        ),
        "run --users many": Row(
            ("run", "--target", "http://x", *b, "--users", "many"), 2, "--users"
        ),
        "run --peak-multiplier x": Row(
            ("run", "--target", "http://x", *b, "--peak-multiplier", "x"), 2, "--peak-multiplier"
        ),
        "run --processes two": Row(
            ("run", "--target", "http://x", *b, "--processes", "two"), 2, "--processes"
        ),
        "monitor --interval fast": Row(("monitor", *b, "--interval", "fast"), 2, "--interval"),
        "monitor --for ever": Row(("monitor", *b, "--for", "ever"), 2, "--for"),
        "monitor --metrics-port http": Row(
            ("monitor", *b, "--metrics-port", "http"), 2, "--metrics-port"
        ),
        "worker --concurrency many": Row(
            ("worker", "x:Y", "--concurrency", "many"), 2, "--concurrency"
        ),
        "worker --grace soon": Row(("worker", "x:Y", "--grace", "soon"), 2, "--grace"),
        "worker --lease x": Row(("worker", "x:Y", "--lease", "x"), 2, "--lease"),
        "queue retry-failed --limit all": Row(
            ("queue", "retry-failed", "q", "--limit", "all"), 2, "--limit"
        ),
        "queue rate-limit ten": Row(("queue", "rate-limit", "q", "ten", "1s"), 2, "max_jobs"),
        "schedule add --every often": Row(
            ("schedule", "add", "q", "i", "--job", "j", "--every", "often"), 2, "--every"
        ),
        "alerts attempts --limit lots": Row(
            ("alerts", "attempts", "--limit", "lots"), 2, "--limit"
        ),
        "alerts silence --duration soon": Row(
            ("alerts", "silence", "create", 'budget="x"', "--duration", "soon", "--comment", "c"),
            2,
            "--duration",
        ),
        "alerts silence --until tomorrow": Row(
            ("alerts", "silence", "create", 'budget="x"', "--until", "tomorrow", "--comment", "c"),
            2,
            "--until",
        ),
        "sources check --timeout slow": Row(
            ("sources", "check", "--timeout", "slow"), 2, "--timeout"
        ),
        "dashboard --port web": Row(("dashboard", "--port", "web"), 2, "--port"),
        "demo --users x": Row(("demo", "--users", "x"), 2, "--users"),
        "demo --duration soon": Row(("demo", "--duration", "soon"), 2, "--duration"),
        # out of range
        "run --duration 0": Row(
            ("run", "--target", "http://x", *b, "--duration", "0"), 2, "--duration"
        ),
        "run --duration 30d": Row(
            ("run", "--target", "http://x", *b, "--duration", "30d"), 2, "--allow-long"
        ),
        "run --users 0": Row(("run", "--target", "http://x", *b, "--users", "0"), 2, "--users"),
        "run --peak-multiplier 0.5": Row(
            ("run", "--target", "http://x", *b, "--peak-multiplier", "0.5"), 2, "--peak-multiplier"
        ),
        "monitor --interval 2d": Row(("monitor", *b, "--interval", "2d"), 2, "--interval"),
        "monitor --metrics-port 70000": Row(
            ("monitor", *b, "--metrics-port", "70000"), 2, "--metrics-port"
        ),
        "schedule run --metrics-port 99999": Row(
            ("schedule", "run", "q", "--metrics-port", "99999"), 2, "--metrics-port"
        ),
        "worker --metrics-port 0": Row(
            ("worker", "x:Y", "--metrics-port", "0"), 2, "--metrics-port"
        ),
        "worker --metrics-port 65535 x2": Row(
            (
                "worker",
                "tests.runtime.workers:RecordingWorker",
                "--metrics-port",
                "65535",
                "--processes",
                "2",
                "--redis",
                red,
            ),
            2,
            "--metrics-port",
        ),
        "worker --concurrency 0": Row(("worker", "x:Y", "--concurrency", "0"), 2, "--concurrency"),
        "worker --processes 0": Row(("worker", "x:Y", "--processes", "0"), 2, "--processes"),
        "dashboard --port 0": Row(("dashboard", "--port", "0"), 2, "--port"),
        "dashboard --host 999.999.1.1": Row(("dashboard", "--host", "999.999.1.1"), 2, "--host"),
        "dashboard --host elsewhere": Row(
            ("dashboard", "--host", "192.0.2.1", "--port", "{closed}"), 2, "192.0.2.1"
        ),
        "alerts attempts --limit -5": Row(("alerts", "attempts", "--limit", "-5"), 2, "--limit"),
        "alerts silence --duration 4000d": Row(
            (
                "alerts",
                "silence",
                "create",
                'budget="x"',
                "--duration",
                "4000d",
                "--comment",
                "c",
                "--store",
                "{store}",
            ),
            2,
            "--duration",
        ),
        "alerts silence --until 9999": Row(
            (
                "alerts",
                "silence",
                "create",
                'budget="x"',
                "--until",
                "9999-01-01T00:00Z",
                "--comment",
                "c",
                "--store",
                "{store}",
            ),
            2,
            "10 years",
        ),
        "queue rate-limit 0": Row(("queue", "rate-limit", "q", "0", "1s"), 2, "max_jobs"),
        "sources check --timeout 2h": Row(("sources", "check", "--timeout", "2h"), 2, "--timeout"),
        "demo --rate 1": Row(("demo", "--rate", "1"), 2, "--rate"),
        # URLs
        "run --target notaurl": Row(("run", "--target", "notaurl", *b), 2, "--target"),
        "run --metrics notaurl": Row(
            ("run", "--target", "http://x", *b, "--metrics", "notaurl"), 2, "--metrics"
        ),
        "monitor --metrics notaurl": Row(("monitor", *b, "--metrics", "notaurl"), 2, "--metrics"),
        "monitor --redis redis://": Row(("monitor", *b, "--redis", "redis://"), 2, "--redis"),
        "queue stats --redis redis://": Row(
            ("queue", "stats", "q", "--redis", "redis://"), 2, "--redis"
        ),
        "run --redis http://x": Row(
            ("run", "--target", "http://x", *b, "--redis", "http://x"), 2, "--redis"
        ),
        "worker --redis bad port": Row(
            ("worker", "x:Y", "--redis", "redis://h:99999/0"), 2, "--redis"
        ),
        # unreachable
        "run --target closed": Row(
            ("run", "--target", "http://127.0.0.1:{closed}", *b, "--store", "{store}"),
            3,
            "unreachable",
        ),
        "monitor --redis closed": Row(
            ("monitor", *b, "--redis", red, "--store", "{store}"), 3, "unreachable"
        ),
        "queue stats closed": Row(("queue", "stats", "q", "--redis", red), 3, "127.0.0.1:{closed}"),
        "queue pause closed": Row(("queue", "pause", "q", "--redis", red), 3, "127.0.0.1:{closed}"),
        "schedule list closed": Row(
            ("schedule", "list", "q", "--redis", red), 3, "127.0.0.1:{closed}"
        ),
        "sources check closed": Row(
            ("sources", "check", "--config", "{closed_config}"), 3, "do not answer"
        ),
        "alerts test closed": Row(
            ("alerts", "test", "hook", "--config", "{closed_alerts}", "--store", "{store}"),
            3,
            "connect error",
        ),
        # the worker class
        "worker BaseWorker": Row(
            ("worker", "runtime.worker:BaseWorker", "--redis", red), 2, "BaseWorker"
        ),
        "worker without a queue": Row(
            ("worker", "tests.runtime.workers:NoQueueWorker", "--redis", red), 2, "names no queue"
        ),
        "worker not a class": Row(
            ("worker", "tests.runtime.workers:NotAWorker", "--redis", red), 2, "not a subclass"
        ),
        # files where a file is expected
        "run -f a directory": Row(
            ("run", "--target", "http://x", *b, "-f", "{dir}"), 2, "--locustfile"
        ),
        "run --runs-dir a file": Row(
            ("run", "--target", "http://x", *b, "--runs-dir", "{file}"), 2, "--runs-dir"
        ),
        "check --junit a directory": Row(("check", *b, "--junit", "{dir}"), 2, "--junit"),
        "dashboard --secrets a directory": Row(("dashboard", "--secrets", "{dir}"), 2, "--secrets"),
        # YAML tags that do not convert: exit 2 with file:line, in every YAML reader
        "budgets validate tagged": Row(
            ("budgets", "validate", "{tagged_budgets}"), 2, "{tagged_budgets}:7:"
        ),
        "check tagged budgets": Row(
            ("check", "--budgets", "{tagged_budgets}", "--store", "{store}"),
            2,
            "{tagged_budgets}:7:",
        ),
        "run tagged budgets": Row(
            ("run", "--target", "http://127.0.0.1:{closed}", "--budgets", "{tagged_budgets}"),
            2,
            "{tagged_budgets}:7:",
        ),
        "monitor tagged budgets": Row(
            ("monitor", "--budgets", "{tagged_budgets}", "--redis", red), 2, "{tagged_budgets}:7:"
        ),
        "alerts validate tagged": Row(
            ("alerts", "validate", "{tagged_alerts}"), 2, "{tagged_alerts}:2:"
        ),
        "run tagged alerts": Row(
            ("run", "--target", "http://127.0.0.1:{closed}", *b, "--alerts", "{tagged_alerts}"),
            2,
            "{tagged_alerts}:2:",
        ),
        "monitor tagged castiel.yaml": Row(
            ("monitor", *b, "--config", "{tagged_config}"), 2, "{tagged_config}:3:"
        ),
        "sources check tagged castiel.yaml": Row(
            ("sources", "check", "--config", "{tagged_config}"), 2, "{tagged_config}:3:"
        ),
    }
    # --store: a directory, a text file, someone else's SQLite database, in every command
    stores = {
        "check": ("check", *b),
        "run": ("run", "--target", "http://127.0.0.1:{closed}", *b),
        "monitor": ("monitor", *b, "--redis", red),
        "dashboard": ("dashboard",),
        "alerts test": ("alerts", "test", "hook", "--config", "{closed_alerts}"),
        "alerts silence create": (
            "alerts",
            "silence",
            "create",
            'budget="x"',
            "--duration",
            "1h",
            "--comment",
            "c",
        ),
        "alerts silence list": ("alerts", "silence", "list"),
        "alerts silence expire": ("alerts", "silence", "expire", "abc"),
        "alerts attempts": ("alerts", "attempts"),
    }
    for name, argv in stores.items():
        for kind in ("dir", "foreign", "sqlite"):
            table[f"{name} --store {kind}"] = Row((*argv, "--store", f"{{{kind}}}"), 2, "--store")
    return table


ROWS = rows()
TAGGED_BUDGETS = """version: 1
budgets:
  - name: x
    metric: castiel_http_request_duration_seconds
    aggregation: p95
    fail: "< 250ms"
    min_samples: !!bool maybe
"""
TAGGED_ALERTS = (
    "receivers: [{name: r, console: {}}]\nroute: {receiver: r, group_wait: !!float soon}\n"
)
TAGGED_CONFIG = "sources:\n  scrape:\n    endpoints: !!bool maybe\n"


@dataclass(frozen=True)
class Ran:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    names: str


@pytest.fixture(scope="session")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    tmp = tmp_path_factory.mktemp("cli-arguments")
    closed = free_port()
    (tmp / "adir").mkdir()
    (tmp / "foreign.txt").write_text("not a store\n")
    with sqlite3.connect(tmp / "theirs.db") as c:
        c.execute("CREATE TABLE customers (id INTEGER)")
    (tmp / "tagged-budgets.yaml").write_text(TAGGED_BUDGETS)
    (tmp / "tagged-alerts.yaml").write_text(TAGGED_ALERTS)
    (tmp / "tagged-castiel.yaml").write_text(TAGGED_CONFIG)
    (tmp / "closed-castiel.yaml").write_text(
        f"sources:\n  redis: {{url: 'redis://127.0.0.1:{closed}/0'}}\n"
    )
    (tmp / "closed-alerts.yaml").write_text(
        "route: {receiver: hook}\n"
        f"receivers: [{{name: hook, webhook: {{url: 'http://127.0.0.1:{closed}/h'}}}}]\n"
    )
    values = {
        "dir": str(tmp / "adir"),
        "foreign": str(tmp / "foreign.txt"),
        "sqlite": str(tmp / "theirs.db"),
        "file": str(tmp / "foreign.txt"),
        "closed": str(closed),
        "tagged_budgets": str(tmp / "tagged-budgets.yaml"),
        "tagged_alerts": str(tmp / "tagged-alerts.yaml"),
        "tagged_config": str(tmp / "tagged-castiel.yaml"),
        "closed_config": str(tmp / "closed-castiel.yaml"),
        "closed_alerts": str(tmp / "closed-alerts.yaml"),
    }

    def run(item: tuple[str, Row]) -> tuple[str, Ran]:
        name, row = item
        here = {**values, "store": str(tmp / f"store-{abs(hash(name))}.db")}
        argv = [a.format(**here) for a in row.argv]
        done = subprocess.run(
            [sys.executable, "-m", "castiel", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return name, Ran(argv, done.returncode, done.stdout, done.stderr, row.names.format(**here))

    with ThreadPoolExecutor(4) as pool:
        results = dict(pool.map(run, ROWS.items()))
    # Nothing was created inside the directory or written into the foreign files.
    assert list((tmp / "adir").iterdir()) == []
    assert (tmp / "foreign.txt").read_text() == "not a store\n"
    with sqlite3.connect(tmp / "theirs.db") as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    assert tables == {"customers"}
    return results


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the first row's setup runs the whole table (~100 processes)
@pytest.mark.parametrize("name", list(ROWS))
def test_bad_argument_is_one_line_and_its_exit_code(outcomes: dict[str, Ran], name: str) -> None:
    ran = outcomes[name]
    said = ran.stderr
    assert "Traceback" not in said, said
    assert ran.code == ROWS[name].code, (ran.argv, ran.stdout, said)
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1, (ran.argv, said)
    assert ran.names in lines[0], (ran.argv, said)


# --- `castiel worker --processes 2` stopped while Redis does not answer ---------------------


@pytest.mark.slow
def test_supervised_workers_stopped_while_redis_is_down_say_so_once(tmp_path: Path) -> None:
    err = tmp_path / "worker.err"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "castiel", "worker", "examples.jobs:StockWorker"),
            *("--redis", f"redis://127.0.0.1:{free_port()}/0", "--processes", "2"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=err.open("w"),
    )
    wait_until(
        lambda: err.read_text().count("Redis unreachable") >= 2,
        60,
        0.2,
        "both worker processes to wait for Redis",
    )
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 3  # the run broke: Redis never answered
    said = err.read_text()
    assert "Traceback" not in said, said
    ours = [line for line in said.splitlines() if line.startswith("castiel")]
    assert len(ours) == 1, said
    assert ours[0].startswith("castiel: the workers stopped before Redis at redis://127.0.0.1:")

"""What each install brings: `pip install castiel` (the runtime and the worker, queue and
schedule commands) and `castiel[platform]` (the rest). The CLI imports only the command group
it runs; a platform command without the platform installed names the extra (exit 2). The
slow test builds a fresh venv with the runtime install alone and runs a worker and a cache
there against a real redis-server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from castiel.cli import COMMANDS, PLATFORM, PLATFORM_MODULES, RUNTIME, build_parser
from runtime import Queue, connect
from tests.helpers import ROOT, wait_until

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PLATFORM_PACKAGES = {"collectors", "budgets", "alerts", "loadtest", "dashboard", "examples"}


def _import_names(distribution: str) -> set[str]:
    """Public top-level import names of an installed distribution."""
    wanted = distribution.lower().replace("_", "-")
    return {
        name
        for name, dists in packages_distributions().items()
        if not name.startswith("_") and any(d.lower().replace("_", "-") == wanted for d in dists)
    }


def test_platform_modules_match_the_platform_extra_and_the_import_contracts() -> None:
    extra = [Requirement(r).name for r in PYPROJECT["project"]["optional-dependencies"]["platform"]]
    provided = {dist: _import_names(dist) for dist in extra}
    for dist, names in provided.items():
        assert names & PLATFORM_MODULES, f"{dist} ({sorted(names)}) is not in PLATFORM_MODULES"
    assert set().union(*provided.values()) >= PLATFORM_MODULES
    runtime_deps = {Requirement(r).name for r in PYPROJECT["project"]["dependencies"]}
    assert runtime_deps == {"redis", "prometheus-client", "orjson", "croniter"}
    contracts = {c["name"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
    runtime = [c for c in contracts.values() if c.get("source_modules") == ["runtime"]]
    assert runtime and set(runtime[0]["forbidden_modules"]) >= PLATFORM_MODULES
    lean = [
        c for c in contracts.values() if "castiel.commands.worker" in c.get("source_modules", [])
    ]
    assert lean and set(lean[0]["forbidden_modules"]) >= PLATFORM_MODULES | PLATFORM_PACKAGES
    runtime_commands = {f"castiel.commands.{n}" for n, c in COMMANDS.items() if c.extra is RUNTIME}
    assert runtime_commands <= set(lean[0]["source_modules"])


def test_every_command_lists_itself_with_its_own_help_line() -> None:
    """`castiel --help` shows the table's lines without importing the groups; each must be
    the line the group registers, and each group must register exactly its own name."""
    actions = build_parser()._subparsers._group_actions[0]._choices_actions  # type: ignore[union-attr]
    registered = {a.dest: a.help for a in actions}
    assert registered == {name: c.help for name, c in COMMANDS.items()}
    assert {c.extra for c in COMMANDS.values()} <= {RUNTIME, PLATFORM}


@pytest.mark.parametrize(
    "argv", [["worker", "m:C"], ["queue", "stats", "q"], ["schedule", "run", "q"], ["--help"]]
)
def test_runtime_commands_import_no_platform_module(argv: list[str]) -> None:
    probe = textwrap.dedent(
        f"""
        import sys
        from castiel.cli import build_parser
        build_parser({argv!r})
        print("\\n".join(sorted(sys.modules)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    top = {m.partition(".")[0] for m in out}
    assert not top & (PLATFORM_MODULES | PLATFORM_PACKAGES), sorted(top & PLATFORM_MODULES)
    groups = {m for m in out if m.startswith("castiel.commands.")}
    assert groups <= {f"castiel.commands.{argv[0]}"}, groups


# -- the runtime install alone, in a venv of its own -----------------------------------------

WORKER = """
from runtime import BaseWorker


class Echo(BaseWorker):
    queue = "lean"
    concurrency = 4

    async def process(self, job):
        return {"echo": job.data["n"] * 2}
"""

CACHE = """
import asyncio, json, sys
from runtime import AsyncCache, Cache, connect

url, heavy = sys.argv[1], set(json.loads(sys.argv[2]))
calls = []
cache = Cache("lean", connect(url).sync, ttl=60)
first = cache.get_or_load("k", lambda: calls.append(1) or {"v": 1})
again = cache.get_or_load("k", lambda: calls.append(1) or {"v": 2})
cache.invalidate_tags(["none"])


async def main():
    conn = connect(url)
    async with AsyncCache("lean", conn.aio, ttl=60, local_max_entries=10) as aio:
        seen = await aio.get_or_load("k", lambda: {"v": 3})
        await aio.set("a", [1, 2], tags=["t"])
        removed = await aio.invalidate_tags(["t"])
    await conn.aclose()
    return seen, removed


seen, removed = asyncio.run(main())
imported = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps({"first": first, "again": again, "calls": len(calls), "async": seen,
                  "removed": removed, "heavy": imported}))
"""


def _copy_sources(dest: Path) -> Path:
    """The distribution's sources, so pip builds outside the checkout (no build/ left in it)."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = package.rstrip("*")
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__"))
    return src


@pytest.fixture(scope="module")
def lean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with `pip install castiel` only (pip's cache is warm: no network needed)."""
    base = tmp_path_factory.mktemp("lean")
    src = _copy_sources(base)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(src)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv


@pytest.mark.slow
def test_the_runtime_install_alone_runs_a_worker_and_a_cache(
    lean_venv: Path, redis_url: str, tmp_path: Path
) -> None:
    python = str(lean_venv / "bin" / "python")
    missing = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u, sys; "
            f"print([m for m in {sorted(PLATFORM_MODULES)!r} if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert missing.stdout.strip() == "[]", f"platform packages installed: {missing.stdout}"

    (tmp_path / "leanapp.py").write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("VIRTUAL_ENV", None)
    queue = Queue(connect(redis_url).sync, "lean")
    ids = [queue.add("echo", {"n": n}) for n in range(20)]
    worker = subprocess.Popen(
        [str(lean_venv / "bin" / "castiel"), "worker", "leanapp:Echo", "--redis", redis_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: queue.counts().completed == 20, 60, message="the lean worker's jobs")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-2000:]
    assert [queue.get_job(i).result for i in ids[:3]] == [{"echo": 0}, {"echo": 2}, {"echo": 4}]  # type: ignore[union-attr]

    heavy = json.dumps(sorted(PLATFORM_MODULES | PLATFORM_PACKAGES))
    cache = subprocess.run(
        [python, "-c", CACHE, redis_url, heavy],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    assert cache.returncode == 0, cache.stderr[-2000:]
    seen = json.loads(cache.stdout)
    assert seen == {
        "first": {"v": 1},
        "again": {"v": 1},
        "calls": 1,
        "async": {"v": 1},
        "removed": 1,
        "heavy": [],
    }

    castiel = str(lean_venv / "bin" / "castiel")
    stats = subprocess.run(
        [castiel, "queue", "stats", "lean", "--redis", redis_url],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert stats.returncode == 0, stats.stderr
    assert "completed" in stats.stdout and "20" in stats.stdout
    listed = subprocess.run([castiel, "--help"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0 and all(name in listed.stdout for name in COMMANDS)
    for argv in (["run"], ["run", "--help"], ["dashboard"], ["budgets", "validate", "b.yaml"]):
        platform = subprocess.run(
            [castiel, *argv], capture_output=True, text=True, check=False, env=env
        )
        assert platform.returncode == 2, (argv, platform.stdout, platform.stderr)
        assert "pip install 'castiel[platform]'" in platform.stderr, platform.stderr
        assert "Traceback" not in platform.stderr

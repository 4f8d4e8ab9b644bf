"""Regenerate the dashboard screenshots in docs/images/ from real runs of the demo platform:
its own redis-server, the example service, the two example workers, and `--runs` load tests of
`--duration` each (2 minutes by default) with examples/budgets.yaml, Locust and the live
monitor, exactly as `castiel demo` runs them, but into one store so Compare and History have
several runs. The Live page is captured three quarters into the last run; every other page
after it ended. Headless Chromium (Debian's `chromium`) takes the pictures.

    .venv/bin/python docs/make_screenshots.py [--runs 2] [--duration 120] [--out docs/images]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer, free_port  # noqa: E402 - after the path
from tests.dashboard.browser import Browser  # noqa: E402
from tests.dashboard.conftest import serve_dashboard  # noqa: E402
from tests.helpers import wait_until  # noqa: E402

BUDGETS = ROOT / "examples" / "budgets.yaml"
PAGES = {  # file name -> (url path, title, charts it draws at least)
    "overview": ("", "Castiel · overview", 1),
    "review": ("review", "Budget review", 1),
    "compare": ("compare", "Compare runs", 3),
    "history": ("history", "History", 1),
    "runtime": ("runtime", "Runtime", 2),
    "alerts": ("alerts", "Alerts", 0),  # a timeline only when an alert fired
}
STATE = """JSON.stringify({
  titles: [...document.querySelectorAll('[data-testid="stMain"] h1')].map(e => e.innerText),
  script: (document.querySelector('[data-testid="stApp"]') || {dataset: {}}).dataset
    .testScriptState,
  charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
  drawn: document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length,
  stale: document.querySelectorAll('[data-stale="true"]').length,
})"""


@contextmanager
def platform(data: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """redis-server, the example service and its two workers; yields (service URL, Redis URL,
    environment), stops them all on the way out."""
    redis = RedisServer(data / "redis", appendonly=True).start()
    env = {**os.environ, "CASTIEL_REDIS_URL": redis.url, "PYTHONPATH": str(ROOT)}
    port = free_port()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        db = ["--db", str(data / "example.db")]
        argvs = {
            "service": ["-m", "examples.service", "--port", str(port), "--redis", redis.url, *db],
            **{
                w: [
                    *("-m", "castiel", "worker", f"examples.jobs:{w}", "--redis", redis.url),
                    *("--metrics-port", str(free_port())),
                ]
                for w in ("StockWorker", "OrderWorker")
            },
        }
        for name, argv in argvs.items():
            with (logs / f"{name}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, *argv], cwd=ROOT, env=env, stdout=log, stderr=log
                    )
                )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url + "/health"), 60, 0.2, message="the example service")
        yield url, redis.url, env
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        redis.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
            return True
    except OSError:
        return False


def load_test(
    service: str, redis: str, env: dict[str, str], data: Path, duration: float
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "castiel", "run", "--target", service, "--budgets"]
    argv += [str(BUDGETS), "--scenario", "normal", "--users", "20", "--duration"]
    argv += [f"{duration:g}s", "--redis", redis, "--metrics", service + "/metrics"]
    argv += ["--store", str(data / "castiel.db"), "--runs-dir", str(data / "runs")]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def shoot(base: str, path: str, title: str, charts: int, out: Path, profile: Path) -> None:
    b = Browser(profile, width=1400, height=1800)
    try:
        b.goto(f"{base}/{path}")

        def ready() -> bool:
            raw = b.evaluate(STATE)
            if raw is None:
                return False
            s = json.loads(raw)
            return (
                any(title in t for t in s["titles"])
                and s["script"] not in (None, "initial", "running", "rerunRequested")
                and s["drawn"] >= s["charts"] >= charts
                and s["stale"] == 0  # not half-way through a live refresh
            )

        wait_until(ready, 120, 0.5, message=f"the {title} page")
        time.sleep(2)  # Plotly's transitions: a picture, not a condition under test
        b.screenshot(out)
    finally:
        b.close()
    print(f"{out} ({out.stat().st_size // 1024} KiB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds per run (120)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args()
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        service, redis, env = stack.enter_context(platform(data))
        for _ in range(args.runs - 1):
            load_test(service, redis, env, data, args.duration).wait()
        base = stack.enter_context(serve_dashboard(data / "castiel.db", data / "dashboard.log"))
        last = load_test(service, redis, env, data, args.duration)
        time.sleep(args.duration * 0.75)  # three quarters into the run: the Live page mid-run
        shoot(base, "live", "Live run", 4, args.out / "dashboard-live.png", data / "p-live")
        last.wait()
        for name, (path, title, charts) in PAGES.items():
            out = args.out / f"dashboard-{name}.png"
            shoot(base, path, title, charts, out, data / f"p-{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

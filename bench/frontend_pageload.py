"""Frontend measurement, the two candidates side by side (issue 21): Castiel driving Debian's
`chromium` over the DevTools protocol (collectors/browser) versus Lighthouse from npm.

    .venv/bin/python bench/frontend_pageload.py [--rounds 5] [--lighthouse PATH]

The target is the example service's web page (examples/frontend.py, gzip and cache headers
on), served by uvicorn in its own process. Rounds are interleaved (CDP load, Lighthouse
load, ...); each figure is the median over rounds. Per page load:

* wall: seconds until the measurement is in hand;
* CPU: user+system seconds of the measuring process and of every Chromium process it used
  (for Lighthouse: node plus the Chrome it launches, as waited-for children);
* what it reported: LCP, FCP, TBT, CLS, TTFB and the page's transfer size and requests.

CDP is measured two ways: a cold load in an already running browser (what `castiel run
--browse` pays per load), and a cold plus a warm load of one page (`castiel browse`). Chromium
start-up is timed once on its own. Lighthouse runs with its defaults for the desktop preset
(simulated throttling), as Lighthouse CI does; it has no warm-cache mode. Without
`--lighthouse`, only the CDP figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.browser.chromium import FLAGS  # noqa: E402
from collectors.browser.network import TOTAL  # noqa: E402
from collectors.browser.pageload import Browser, CacheState, PageLoad  # noqa: E402

SERVE = (
    "import sys, uvicorn\n"
    "from examples.frontend import Frontend, FrontendOptions\n"
    "uvicorn.run(Frontend(FrontendOptions()), host='127.0.0.1', port=int(sys.argv[1]),"
    " log_level='warning')\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_cpu(pgid: int) -> float:
    """User+system seconds of the live processes of a process group, and of the children
    they reaped (renderers of closed pages exit; their time moves to the browser's cutime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total / tick


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cdp_run(browser: Browser, url: str, caches: tuple[CacheState, ...]) -> dict[str, Any]:
    pgid = browser.chromium.proc.pid
    cpu0, chrome0, t0 = own_cpu(), group_cpu(pgid), time.perf_counter()
    loads = browser.measure(url, caches)
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "cpu": own_cpu() - cpu0 + group_cpu(pgid) - chrome0,
        **reported(loads[0]),
    }


def reported(load: PageLoad) -> dict[str, Any]:
    v, total = load.vitals, load.resources[TOTAL]
    return {
        "lcp_ms": None if v.lcp is None else v.lcp * 1000,
        "fcp_ms": None if v.fcp is None else v.fcp * 1000,
        "tbt_ms": v.tbt * 1000,
        "cls": v.cls,
        "ttfb_ms": None if v.ttfb is None else v.ttfb * 1000,
        "transfer": total.transfer_bytes,
        "requests": total.requests,
    }


def lighthouse_run(cli: str, url: str, out: Path) -> dict[str, Any]:
    cpu0, t0 = children_cpu(), time.perf_counter()
    subprocess.run(
        [
            cli,
            url,
            "--quiet",
            "--only-categories=performance",
            "--preset=desktop",
            "--output=json",
            f"--output-path={out}",
            f"--chrome-flags={' '.join(FLAGS)}",
        ],
        env={**os.environ, "CHROME_PATH": shutil.which("chromium") or "chromium"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    wall = time.perf_counter() - t0
    audits = json.loads(out.read_text())["audits"]
    summary = {r["resourceType"]: r for r in audits["resource-summary"]["details"]["items"]}
    return {
        "wall": wall,
        "cpu": children_cpu() - cpu0,
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "fcp_ms": audits["first-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "ttfb_ms": audits["server-response-time"]["numericValue"],
        "transfer": summary["total"]["transferSize"],
        "requests": summary["total"]["requestCount"],
    }


def medians(rows: Iterable[dict[str, Any]]) -> dict[str, float]:
    rows = list(rows)
    return {
        k: statistics.median(r[k] for r in rows if r[k] is not None)
        for k in rows[0]
        if any(r[k] is not None for r in rows)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lighthouse", help="path of the lighthouse CLI (node_modules/.bin)")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        t0 = time.perf_counter()
        browser = Browser.start()
        startup = time.perf_counter() - t0
        results: dict[str, list[dict[str, Any]]] = {"cdp cold": [], "cdp cold+warm": []}
        if args.lighthouse:
            results["lighthouse"] = []
        runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("cdp cold", lambda: cdp_run(browser, url, (CacheState.COLD,))),
            ("cdp cold+warm", lambda: cdp_run(browser, url, (CacheState.COLD, CacheState.WARM))),
        ]
        with tempfile.TemporaryDirectory() as tmp:
            if args.lighthouse:
                lh_out = Path(tmp) / "lh.json"
                runs.append(("lighthouse", lambda: lighthouse_run(args.lighthouse, url, lh_out)))
            try:
                for i in range(args.rounds):
                    for name, fn in runs:
                        results[name].append(fn())
                    print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"Chromium start-up (CDP): {startup:.2f} s wall; load average {os.getloadavg()[0]:.1f}")
    columns = (
        "wall",
        "cpu",
        "lcp_ms",
        "fcp_ms",
        "tbt_ms",
        "cls",
        "ttfb_ms",
        "transfer",
        "requests",
    )
    print("| measurement | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, rows in results.items():
        m = medians(rows)
        cells = [
            (f"{m[c]:.0f}" if m[c] >= 1000 else f"{m[c]:.3g}") if c in m else "-" for c in columns
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

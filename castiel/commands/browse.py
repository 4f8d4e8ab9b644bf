"""`castiel browse --url URL [--runs N]`: load pages in headless Chromium, record Web Vitals,
page weight and requests per resource type (cold and warm cache) as a run in the store, and
gate on a budget file (Castiel YAML or Lighthouse CI's budget.json) like `castiel check`.

`browsing(urls)` is the same measurement running in the background of `castiel run
--browse URL`."""

from __future__ import annotations

import argparse
import hashlib
import signal
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.table import Table

from budgets.baseline_select import MatchPolicy
from budgets.spec import load_budget_file
from castiel.baselines import add_baseline_arguments, choice_from_args
from castiel.errors import EXIT_PASS, Interrupted, UsageError
from castiel.gate import ReportPaths, gate
from castiel.storearg import add_store_argument
from collectors.base import Collector
from collectors.browser.collector import BrowserCollector
from collectors.browser.network import TOTAL
from collectors.browser.pageload import (
    DEFAULT_TIMEOUT,
    Browser,
    CacheState,
    PageLoad,
    check_url,
)
from collectors.browser.series import loads_batch
from collectors.store import Store
from loadtest.orchestrator import fingerprint, git_info
from runtime.durations import parse_duration

CACHE_CHOICES = {
    "both": (CacheState.COLD, CacheState.WARM),
    "cold": (CacheState.COLD,),
    "warm": (CacheState.COLD, CacheState.WARM),  # a warm load needs a cold one first
}


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return seconds


def _runs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def register(sub: Any) -> None:
    p = sub.add_parser(
        "browse",
        help="load pages in headless Chromium: Web Vitals and page weight (frontend budgets)",
        description="Load each URL in headless Chromium (Debian's chromium, over the DevTools "
        "protocol) --runs times, each time with a cold cache and then a warm one, and record "
        "LCP, FCP, CLS, TBT, TTFB, the load time, and transfer/decoded bytes and request counts "
        "per resource type as a run in the store (series castiel_page_*, docs/frontend.md). "
        "With --budgets (Castiel YAML or Lighthouse CI's budget.json), gate like `castiel "
        "check`: exit 0 pass (warnings allowed), 1 a budget failed, 2 bad input, 3 a page "
        "did not load (unreachable, HTTP error, or no load within --timeout).",
        epilog="example: castiel browse --url http://127.0.0.1:8000/ --runs 5 "
        "--budgets examples/budget.json",
    )
    p.add_argument(
        "--url", action="append", required=True, metavar="URL", help="a page (repeatable)"
    )
    p.add_argument("--runs", type=_runs, default=3, help="loads per page and cache state (3)")
    p.add_argument(
        "--cache",
        choices=("both", "cold", "warm"),
        default="both",
        help="record cold loads, warm loads, or both (default)",
    )
    p.add_argument(
        "--timeout",
        type=_duration,
        default=DEFAULT_TIMEOUT,
        help=f"give up on a load after this long ({DEFAULT_TIMEOUT:g}s)",
    )
    p.add_argument(
        "--budgets",
        type=Path,
        metavar="FILE",
        help="gate on this budget file (Castiel YAML, or Lighthouse CI's budget.json as is)",
    )
    add_store_argument(p)
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=Path(".castiel/runs"),
        help="where the reports go when gating (.castiel/runs)",
    )
    add_baseline_arguments(p)
    p.add_argument("--save-baseline", metavar="NAME", help="save a passing run as NAME")
    p.set_defaults(handler=browse)


def browse(args: argparse.Namespace) -> int:
    urls = [_url(u) for u in args.url]
    spec = None
    if args.budgets is not None:
        spec = load_budget_file(args.budgets)  # a BudgetSpecError: exit 2
    keep = {CacheState.COLD, CacheState.WARM} if args.cache == "both" else {CacheState(args.cache)}
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # CI logs: wide enough that tables do not fold
    with _stop_on_signals(), Store.open(args.store) as store:
        run_id, loads = _record(store, urls, args, keep)
        print_summary(loads, console)
        if spec is None:
            return EXIT_PASS
        out = args.runs_dir / run_id
        return gate(
            store,
            store.get_run(run_id),
            list(spec.budgets),
            spec.path,
            console,
            baseline=choice_from_args(args, MatchPolicy(), Path(spec.path).read_text("utf-8")),
            save_baseline=args.save_baseline,
            reports=ReportPaths(
                out / "report.json", out / "junit.xml", out / "report.md", out / "report.html"
            ),
        )


def _url(text: str) -> str:
    try:
        return check_url(text)
    except ValueError as exc:
        raise UsageError(f"--url: {exc}") from None


def _record(
    store: Store, urls: Sequence[str], args: argparse.Namespace, keep: set[CacheState]
) -> tuple[str, list[PageLoad]]:
    """Load every page; each load is written as it finishes, so a failure keeps the rest."""
    commit, branch = git_info()
    with Browser.start() as browser:
        run = store.create_run(
            started_at=time.time(),
            scenario="browse",
            git_commit=commit,
            git_branch=branch,
            config_hash=_config_hash(urls, args),
            environment={**fingerprint(), "browser": browser.version},
        )
        loads: list[PageLoad] = []
        status = "broken"
        try:
            for _ in range(args.runs):
                for url in urls:
                    measured = browser.measure(url, CACHE_CHOICES[args.cache], timeout=args.timeout)
                    kept = [x for x in measured if x.cache in keep]
                    store.write(run.id, loads_batch(kept))
                    loads.extend(kept)
            status = "finished"
        except KeyboardInterrupt:
            status = "aborted"
            raise
        finally:
            store.finish_run(run.id, time.time(), status)
    return run.id, loads


def _config_hash(urls: Sequence[str], args: argparse.Namespace) -> str:
    text = "\0".join([*urls, str(args.runs), args.cache, str(args.timeout)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the command like Ctrl-C does, so every `finally` runs: the run
    is marked aborted and Chromium's process group is stopped; the exit code is 128 + the
    signal's number, as for `castiel run`."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def print_summary(loads: Sequence[PageLoad], console: Console) -> None:
    """Medians per page and cache state (the store has every load)."""
    table = Table(title="page loads (medians)")
    for column in ("page", "cache", "loads", "TTFB", "FCP", "LCP", "TBT", "CLS"):
        table.add_column(column, justify="left" if column in ("page", "cache") else "right")
    for column in ("transfer", "requests", "from cache"):
        table.add_column(column, justify="right")
    groups: dict[tuple[str, str], list[PageLoad]] = {}
    for load in loads:
        groups.setdefault((load.page, load.cache.value), []).append(load)
    for (page, cache), group in groups.items():
        totals = [x.resources[TOTAL] for x in group]
        table.add_row(
            page,
            cache,
            str(len(group)),
            *(_ms(group, pick) for pick in _TIMINGS),
            f"{_median([x.vitals.cls for x in group]):.3f}",
            f"{_median([t.transfer_bytes for t in totals]) / 1024:,.1f} KiB",
            f"{_median([t.requests for t in totals]):g}",
            f"{_median([t.cached for t in totals]):g}",
        )
    console.print(table)


_TIMINGS: tuple[Callable[[PageLoad], float | None], ...] = (
    lambda x: x.vitals.ttfb,
    lambda x: x.vitals.fcp,
    lambda x: x.vitals.lcp,
    lambda x: x.vitals.tbt,
)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _ms(group: Sequence[PageLoad], pick: Callable[[PageLoad], float | None]) -> str:
    values = [v for v in map(pick, group) if v is not None]
    return f"{_median(values) * 1000:,.0f} ms" if values else "-"


@contextmanager
def browsing(urls: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> Iterator[list[Collector]]:
    """For `castiel run --browse`: the collectors that load `urls` during the run (none
    when there are none). Each page is loaded once before the run starts, so a page that
    cannot load stops the run before any load is sent (exit 3, one line)."""
    if not urls:
        yield []
        return
    checked = [_url(u) for u in urls]
    with BrowserCollector(checked, timeout=timeout, check_first=True) as collector:
        yield [collector]

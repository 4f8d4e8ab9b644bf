"""`castiel runs list|show|export|import|delete`: the runs in a store, and bundle files that
carry one run between stores (a CI artifact that the next job gates on)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from budgets.baseline_select import MATCH_FIELDS
from castiel import argtypes
from castiel.errors import EXIT_BAD_INPUT, EXIT_PASS, UsageError
from castiel.gate import resolve_run
from castiel.storearg import add_store_argument
from collectors.bundle import SUFFIX, read_bundle, write_bundle
from collectors.bundle_store import Imported, export_run, import_bundle
from collectors.model import RunInfo
from collectors.store import Store
from runtime.durations import format_duration

STATUSES = ("running", "finished", "aborted", "broken")
VERDICTS = ("pass", "warn", "fail")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "runs",
        help="list, show, export, import and delete stored runs",
        description="The runs in the metrics store. `export` writes one run to a bundle file "
        f"(gzip-compressed JSON lines, *{SUFFIX}) and `import` loads bundles into any store, "
        "idempotently; `castiel check --baseline FILE` compares with a bundle directly. "
        "Exit 2 for bad input (an unknown run, a damaged bundle), 3 when the store is "
        "unreadable.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    ls = verbs.add_parser("list", help="the newest runs, filtered")
    add_store_argument(ls)
    ls.add_argument("--branch", help="only runs of this git branch")
    ls.add_argument("--scenario", help="only runs of this scenario")
    ls.add_argument("--status", choices=STATUSES, help="only runs in this state")
    ls.add_argument("--verdict", choices=VERDICTS, help="only runs with this verdict")
    ls.add_argument("--limit", type=argtypes.count(1), default=20, help="at most N runs (20)")
    ls.add_argument("--plain", action="store_true", help="tab-separated lines, for scripts")
    ls.set_defaults(handler=_with_store(_list, readonly=True))

    show = verbs.add_parser("show", help="everything recorded about one run")
    show.add_argument("run", metavar="RUN", help="run id or 'latest'")
    add_store_argument(show)
    show.set_defaults(handler=_with_store(_show, readonly=True))

    exp = verbs.add_parser("export", help="write one finished run to a bundle file")
    exp.add_argument("run", metavar="RUN", help="run id or 'latest'")
    exp.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help=f"bundle file (default RUN{SUFFIX})"
    )
    add_store_argument(exp)
    exp.set_defaults(handler=_with_store(_export, readonly=True))

    imp = verbs.add_parser(
        "import",
        help="load bundle files into the store (idempotent)",
        description="Load each bundle into the store (created when missing). A run id names "
        "one run: a run already in the store is left as it is, so importing twice changes "
        "nothing. Baseline names the run had are restored unless the store already gives "
        "them to another run.",
    )
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="bundle file(s)")
    add_store_argument(imp)
    imp.set_defaults(handler=_import)

    rm = verbs.add_parser("delete", help="delete one run and all its data")
    rm.add_argument("run", metavar="RUN", help="run id")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_store_argument(rm)
    rm.set_defaults(handler=_with_store(_delete, readonly=False))


def _with_store(
    fn: Callable[[Store, argparse.Namespace], int], *, readonly: bool
) -> Callable[[argparse.Namespace], int]:
    """Open the store the command names (it must exist) and run `fn`."""

    def handler(args: argparse.Namespace) -> int:
        if not args.store.exists():
            raise UsageError(f"no metrics store at {args.store} (pass --store PATH|URL)")
        with Store.open(args.store, readonly=readonly) as store:
            return fn(store, args)

    return handler


# --- list / show ------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _took(run: RunInfo) -> str:
    return "-" if run.ended_at is None else format_duration(round(run.ended_at - run.started_at))


def _row(run: RunInfo, names: list[str]) -> list[str]:
    return [
        run.id,
        _when(run.started_at),
        _took(run),
        run.git_branch or "-",
        run.scenario or "-",
        run.environment.get(MATCH_FIELDS["users"], "-"),
        run.status,
        run.verdict or "-",
        ",".join(names) or "-",
    ]


_COLUMNS = ("run", "started (UTC)", "took", "branch", "scenario", "users", "status", "verdict")


def _list(store: Store, args: argparse.Namespace) -> int:
    runs = store.find_runs(
        branches=None if args.branch is None else [args.branch],
        scenario=args.scenario,
        status=args.status,
        verdicts=None if args.verdict is None else [args.verdict],
        limit=args.limit,
    )
    names: dict[str, list[str]] = {}
    for name, run_id in store.baselines().items():
        names.setdefault(run_id, []).append(name)
    rows = [_row(r, names.get(r.id, [])) for r in runs]
    console = Console()
    if args.plain or not console.is_terminal:
        print("\t".join((*_COLUMNS, "baselines")))
        for row in rows:
            print("\t".join(row))
        return EXIT_PASS
    table = Table(*_COLUMNS, "baselines", title=f"{len(rows)} runs in {store.locator}")
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}
    for row in rows:
        style = colour.get(row[7])
        table.add_row(*row[:7], f"[{style}]{row[7]}[/]" if style else row[7], row[8])
    console.print(table)
    return EXIT_PASS


def _show(store: Store, args: argparse.Namespace) -> int:
    run = resolve_run(store, args.run)
    series = store.series(run.id)
    verdicts = store.verdicts(run.id)
    names = [n for n, rid in store.baselines().items() if rid == run.id]
    lines = [
        f"run        {run.id}",
        f"started    {_when(run.started_at)} UTC",
        f"ended      {_when(run.ended_at)}{' UTC' if run.ended_at else ''} (took {_took(run)})",
        f"status     {run.status}",
        f"verdict    {run.verdict or '- (never evaluated)'}",
        f"scenario   {run.scenario or '-'}",
        f"git        {run.git_branch or '-'} {run.git_commit or ''}".rstrip(),
        f"config     {run.config_hash or '-'}",
        f"baselines  {', '.join(names) or '-'}",
        f"series     {len(series)} ("
        + ", ".join(f"{n} {k}" for k, n in sorted(Counter(k.value for _, k in series).items()))
        + ")",
        f"verdicts   {len(verdicts)} ("
        + ", ".join(f"{n} {s}" for s, n in sorted(Counter(v.status for v in verdicts).items()))
        + ")",
        "environment",
        *(f"  {k} = {v}" for k, v in sorted(run.environment.items())),
        "phases",
        *(f"  {k} at {_when(v)} UTC" for k, v in sorted(run.phases.items(), key=lambda kv: kv[1])),
    ]
    print("\n".join(lines))
    return EXIT_PASS


# --- export / import / delete ------------------------------------------------------------


def _export(store: Store, args: argparse.Namespace) -> int:
    run = resolve_run(store, args.run)
    bundle = export_run(store, run.id, time.time())
    out: Path = args.output or Path(f"{run.id}{SUFFIX}")
    write_bundle(bundle, out)
    points = sum(len(s.points) for s in bundle.series)
    hists = sum(len(s.histograms) for s in bundle.series)
    print(
        f"exported run {run.id} ({len(bundle.series)} series, {points} points, {hists} "
        f"histograms, {len(bundle.verdicts)} verdicts) to {out} ({out.stat().st_size} bytes)"
    )
    return EXIT_PASS


def _import(args: argparse.Namespace) -> int:
    bundles = [(path, read_bundle(path)) for path in args.files]  # all checked before any write
    with Store.open(args.store) as store:
        for path, bundle in bundles:
            result = import_bundle(store, bundle, time.time())
            line = f"{path}: run {result.run_id} {result.outcome.value}"
            if result.outcome is Imported.ALREADY and result.differs:
                line += f" ({result.differs}; nothing imported: `castiel runs delete` it first)"
            if result.baselines_set:
                line += f"; baseline {', '.join(map(repr, result.baselines_set))}"
            for name, owner in result.baselines_kept:
                line += f"; baseline {name!r} left with run {owner}"
            print(line)
    return EXIT_PASS


def _delete(store: Store, args: argparse.Namespace) -> int:
    run = resolve_run(store, args.run)
    names = [n for n, rid in store.baselines().items() if rid == run.id]
    what = f"run {run.id} ({run.scenario or '-'}, {_when(run.started_at)} UTC, {run.status})"
    if names:
        what += f", saved as baseline {', '.join(map(repr, names))}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete {what} without --yes (no terminal to ask)")
        answer = input(f"delete {what} and all its data? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return EXIT_BAD_INPUT
    store.delete_run(run.id)
    print(f"deleted {what}")
    return EXIT_PASS

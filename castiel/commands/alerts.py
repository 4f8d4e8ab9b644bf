"""`castiel alerts …`: validate an alerts config, send a test notification, manage silences,
and look at delivery attempts. Silences and attempts live in the store's alert tables
(`--store`: a SQLite file, default .castiel/castiel.db, or a postgresql:// URL)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.channels.base import HttpxClient, Outcome
from alerts.config import (
    AlertsConfig,
    AlertsConfigError,
    load_alerts_config,
    unknown_budget_overrides,
    unset_variables,
)
from alerts.db import AlertsDB
from alerts.delivery import send_now
from alerts.engine import AlertEngine
from alerts.outbox import Attempt, Outbox
from alerts.pipeline import test_notification
from alerts.silences import MAX_SILENCE, SqlSilenceStore, new_silence
from castiel import argtypes
from castiel.config import ProjectConfig, load_project_config
from castiel.errors import EXIT_BAD_INPUT, EXIT_BROKEN, EXIT_PASS, UsageError
from castiel.storearg import add_store_argument
from collectors.locator import StoreLocator
from runtime.timestamps import utc_text


def register(sub: Any) -> None:
    p = sub.add_parser(
        "alerts",
        help="alert routing: validate config, test receivers, silences",
        description="Alerting: budget violations routed to on-call channels (docs/alerts.md).",
    )
    asub = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    asub.required = True

    v = asub.add_parser(
        "validate",
        help="check an alerts config (alerts.yaml or castiel.yaml)",
        description="Check FILE; every problem is reported with file:line:column and key. "
        "Warnings (secrets written into the file, ${VAR}s unset here) do not fail it.",
    )
    v.add_argument("file", type=Path, metavar="FILE")
    v.set_defaults(handler=_validate)

    t = asub.add_parser(
        "test",
        help="send a clearly marked test notification to RECEIVER",
        description="Send one test notification (marked [TEST]) to RECEIVER now, without "
        "retries or fallbacks, and record the attempt. Exit 0 delivered, 2 bad config or "
        "unknown receiver, 3 the receiver did not accept it.",
    )
    t.add_argument("receiver", metavar="RECEIVER")
    t.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="alerts.yaml or castiel.yaml (default: ./castiel.yaml's `alerts:` section)",
    )
    add_store_argument(t)  # where the attempt is recorded
    t.set_defaults(handler=_test)

    s = asub.add_parser("silence", help="create, list and expire silences")
    ssub = s.add_subparsers(dest="silence_command", metavar="ACTION")
    ssub.required = True
    add = ssub.add_parser(
        "create",
        aliases=["add"],
        help="silence alerts matching all MATCHERs",
        description='Silence alerts whose labels match every MATCHER (budget="api-latency", '
        'group=~"route=/api/.*", severity!="critical"). Prints the silence id.',
    )
    add.add_argument("matchers", nargs="+", metavar="MATCHER")
    length = add.add_mutually_exclusive_group(required=True)
    length.add_argument(
        "--duration",
        type=argtypes.duration(maximum=MAX_SILENCE),
        metavar="DURATION",
        help="e.g. 2h, 30m, 7d (at most 10 years)",
    )
    length.add_argument(
        "--until",
        type=iso_time,
        metavar="TIME",
        help="ISO time, e.g. 2026-12-01T08:00Z (at most 10 years ahead)",
    )
    add.add_argument("--starts", type=iso_time, metavar="TIME", help="ISO time (default now)")
    add.add_argument("--comment", required=True, help="why (shown to everyone)")
    add.add_argument("--author", default=None, help="who (default: your user name)")
    add_store_argument(add)
    add.set_defaults(handler=_silence_add)
    ls = ssub.add_parser("list", help="list active and pending silences")
    ls.add_argument("--all", action="store_true", help="include expired ones")
    add_store_argument(ls)
    ls.set_defaults(handler=_silence_list)
    ex = ssub.add_parser("expire", help="end a silence now")
    ex.add_argument("silence_id", metavar="ID")
    add_store_argument(ex)
    ex.set_defaults(handler=_silence_expire)

    at = asub.add_parser("attempts", help="recent delivery attempts and pending notifications")
    at.add_argument(
        "--limit", type=argtypes.count(0), default=20, help="show the last N attempts (20)"
    )
    add_store_argument(at)
    at.set_defaults(handler=_attempts)


def _validate(args: argparse.Namespace) -> int:
    try:
        cfg = load_alerts_config(args.file)
    except AlertsConfigError as exc:
        for issue in exc.issues:
            print(f"{issue}", file=sys.stderr)
        if len(exc.issues) > 1:
            print(f"{args.file}: {len(exc.issues)} problems", file=sys.stderr)
        return EXIT_BAD_INPUT
    for w in cfg.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for receiver, var in unset_variables(cfg, os.environ):
        print(
            f"warning: receiver {receiver!r}: ${var} is not set in this environment",
            file=sys.stderr,
        )
    routes = len(cfg.route.walk())
    print(
        f"{args.file}: ok ({len(cfg.receivers)} receivers, {routes} routes, "
        f"{len(cfg.inhibit_rules)} inhibit rules, {len(cfg.rules)} alert rules)"
    )
    return EXIT_PASS


def _db(store: StoreLocator) -> AlertsDB:
    return AlertsDB.open(store)


def _test(args: argparse.Namespace) -> int:
    if args.config is not None:
        cfg = load_alerts_config(args.config)
    else:
        found = alerts_config_for(None, load_project_config())  # ./castiel.yaml, if any
        if found is None:
            raise UsageError("no alerts config: give --config FILE (alerts.yaml or castiel.yaml)")
        cfg = found
    if args.receiver not in cfg.receivers:
        raise UsageError(
            f"{cfg.path}: no receiver {args.receiver!r} (receivers: {', '.join(cfg.receivers)})"
        )
    now = time.time()
    n = test_notification(cfg, args.receiver, now)
    http = HttpxClient()
    try:
        result, duration = send_now(cfg, n, http, os.environ, now)
    finally:
        http.close()
    with _db(args.store) as db:
        Outbox(db).record_attempt(
            Attempt(
                None,
                now,
                args.receiver,
                cfg.receivers[args.receiver].kind,
                result.outcome.value,
                result.status_code,
                result.reason,
                duration,
                n.group_key,
                test=True,
            )
        )
    if result.outcome is Outcome.DELIVERED:
        print(f"test notification delivered to {args.receiver} ({result.reason})")
        return EXIT_PASS
    print(
        f"castiel: test notification to {args.receiver} {result.outcome.value}: {result.reason}",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT if result.reason.startswith("config:") else EXIT_BROKEN


def iso_time(text: str) -> float:
    """An ISO time (`2026-12-01T08:00Z`; without a zone, local time as people type it) as
    seconds since the epoch; an argparse type."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(t)
        if dt.tzinfo is None:
            dt = dt.astimezone()
        return dt.timestamp()
    except (ValueError, OverflowError, OSError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time (e.g. 2026-12-01T08:00Z)"
        ) from None


def _silence_add(args: argparse.Namespace) -> int:
    now = time.time()
    starts = args.starts if args.starts is not None else now
    ends = starts + args.duration if args.duration is not None else args.until
    author = args.author or os.environ.get("USER") or getpass.getuser()
    try:
        silence = new_silence(
            args.matchers,
            starts_at=starts,
            ends_at=ends,
            now=now,
            created_by=author,
            comment=args.comment,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with _db(args.store) as db:
        SqlSilenceStore(db).add(silence)
    print(silence.id)
    return EXIT_PASS


def _silence_list(args: argparse.Namespace) -> int:
    now = time.time()
    with _db(args.store) as db:
        silences = SqlSilenceStore(db).list(now, include_expired=args.all)
    if not silences:
        print("no silences")
        return EXIT_PASS
    for s in silences:
        matchers = " ".join(str(m) for m in s.matchers)
        print(
            f"{s.id}  {s.state(now):8}  {utc_text(s.starts_at)} -> {utc_text(s.ends_at)}  "
            f"{matchers}  by {s.created_by or '?'}: {s.comment}"
        )
    return EXIT_PASS


def _silence_expire(args: argparse.Namespace) -> int:
    with _db(args.store) as db:
        if not SqlSilenceStore(db).expire(args.silence_id, time.time()):
            raise UsageError(f"no active or pending silence {args.silence_id!r}")
    print(f"expired {args.silence_id}")
    return EXIT_PASS


def _attempts(args: argparse.Namespace) -> int:
    with _db(args.store) as db:
        outbox = Outbox(db)
        everything = outbox.attempts(limit=100_000)
        attempts = everything[len(everything) - args.limit :] if args.limit else []
        pending = outbox.items("pending")
    for a in attempts:
        code = f" {a.status_code}" if a.status_code is not None else ""
        test = " [test]" if a.test else ""
        print(f"{utc_text(a.at)}  {a.receiver:16} {a.outcome:9}{code}  {a.reason}{test}")
    print(f"{len(pending)} notification(s) waiting to be sent")
    return EXIT_PASS


# --- used by `castiel run` and `castiel monitor` ---------------------------------------------


def add_alerts_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alerts",
        type=Path,
        default=None,
        metavar="FILE",
        help="alert routing (alerts.yaml; default: the `alerts:` section of castiel.yaml)",
    )


def alerts_config_for(
    path: Path | None, project: ProjectConfig, budget_names: Sequence[str] | None = None
) -> AlertsConfig | None:
    """The alerts config of a run or monitor: `--alerts FILE`, else the `alerts:` section of
    the project's castiel.yaml, else None (no alerting). Problems raise AlertsConfigError
    (exit 2) before anything runs; every problem is printed with file:line:column and key. With
    `budget_names`, a `budgets:` override that names none of them is such a problem."""
    if path is not None:
        found: AlertsConfig | None = _warn_unset(load_alerts_config(path))
    elif "alerts" in project.sections:
        found = _warn_unset(load_alerts_config(Path(project.path)))
    else:
        found = None
    if found is not None and budget_names is not None:
        issues = unknown_budget_overrides(found, budget_names)
        if issues:
            raise AlertsConfigError(issues)
    return found


def _warn_unset(cfg: AlertsConfig) -> AlertsConfig:
    for receiver, var in unset_variables(cfg, os.environ):
        print(
            f"castiel: warning: alerts receiver {receiver!r}: ${var} is not set; its "
            "notifications will fail (and go to its fallbacks)",
            file=sys.stderr,
        )
    return cfg


def finish_alerts(engine: AlertEngine, verdict: str, drain: float) -> None:
    """The run is over: resolve its alerts with `verdict`, give delivery up to `drain`
    seconds, and say what is left for the next monitor."""
    left = engine.finish(verdict, drain)
    if left:
        print(
            f"castiel: {left} alert notification(s) not delivered yet; they stay in the store "
            "and the next `castiel run` or `castiel monitor` on it sends them "
            "(`castiel alerts attempts` shows why)",
            file=sys.stderr,
        )

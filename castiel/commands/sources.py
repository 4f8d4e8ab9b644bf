"""`castiel sources check [--config castiel.yaml]`: ask every metrics source of castiel.yaml
once and print which answer. Exit 0 all answer, 3 some do not, 2 bad config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from castiel.errors import EXIT_BROKEN, EXIT_PASS, UsageError
from collectors.sources import check_sources, load_sources


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sources",
        help="metrics sources of castiel.yaml (Redis, scrape, Prometheus, Azure Monitor)",
        description="Work with the `sources:` section of castiel.yaml.",
    )
    ssub = p.add_subparsers(dest="sources_command", metavar="ACTION")
    ssub.required = True
    c = ssub.add_parser(
        "check",
        help="tell which sources answer",
        description="Ask every configured source once. Exit 0 all answer, 3 some do not, "
        "2 the config is bad.",
    )
    c.add_argument(
        "--config",
        type=Path,
        default=Path("castiel.yaml"),
        metavar="FILE",
        help="project config (default castiel.yaml)",
    )
    c.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="per source (default 5)"
    )
    c.set_defaults(handler=check)


def check(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0, got {args.timeout}")
    config = load_sources(args.config)  # SourcesConfigError is a ConfigError: exit 2
    if config.empty:
        raise UsageError(f"{args.config}: no sources configured (add a `sources:` section)")
    results = check_sources(config, timeout=args.timeout)
    table = Table(title=f"sources in {args.config}")
    for column in ("source", "target", "answers", "detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r.source, r.target, "yes" if r.ok else "[red]no[/red]", r.detail)
    Console(width=160).print(table)
    failed = sum(not r.ok for r in results)
    if failed:
        print(f"{failed} of {len(results)} sources do not answer")
        return EXIT_BROKEN
    return EXIT_PASS

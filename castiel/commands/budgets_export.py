"""`castiel budgets export prometheus|alertmanager|azure`: one budget file, production alerts
on the team's own engine (docs/oncall.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from alerts.alertmanager_config import (
    DEFAULT_SECRETS_DIR,
    DEFAULT_VERSION,
    alertmanager_config,
    parse_version,
)
from alerts.config import DashboardConfig
from alerts.export_settings import with_alerts_config
from budgets.export.azure import AzureOptions, export_azure
from budgets.export.config import parse_oncall
from budgets.export.options import ExportOptions
from budgets.export.prometheus import export_rules, grouped
from budgets.model import Budget
from budgets.spec import load_budget_file
from castiel.commands.alerts import add_alerts_argument, alerts_config_for
from castiel.config import ProjectConfig, add_config_argument, load_project_config
from castiel.errors import EXIT_PASS, UsageError
from collectors.azure_kql import Schema
from collectors.yamlspec import SpecIssue, read_text
from runtime.durations import parse_duration


def register_export(bsub: Any) -> None:
    p = bsub.add_parser(
        "export",
        help="budgets as Prometheus rules, an Alertmanager config or Azure Monitor alert rules",
        description="Turn a budget file into production alerting for an existing engine: "
        "Prometheus recording and burn-rate alerting rules, the Alertmanager routing of "
        "Castiel's alerts config, or Azure Monitor scheduled query rules and a workbook. "
        "What cannot be expressed is listed in the output and on stderr (docs/oncall.md).",
    )
    esub = p.add_subparsers(dest="export_target", metavar="TARGET")
    esub.required = True
    prom = esub.add_parser(
        "prometheus",
        help="a Prometheus rule file (promtool check rules validates it)",
        description="Recording rules per budget, alerting rules per level, multi-window "
        "multi-burn-rate alerts for ratio and latency budgets (castiel.yaml `oncall:`).",
    )
    _budget_arguments(prom)
    prom.add_argument(
        "--window",
        type=_duration,
        default=None,
        help="trailing window of budgets that judge a whole run (default: oncall.window, 5m)",
    )
    prom.add_argument(
        "--dashboard-url",
        default=None,
        metavar="URL",
        help="Castiel dashboard for the alerts' `dashboard` link (default: the alerts config's "
        "dashboard.url)",
    )
    prom.add_argument(
        "--no-burn-rate", action="store_true", help="threshold alerts only, no burn-rate alerts"
    )
    prom.set_defaults(handler=prometheus)
    am = esub.add_parser(
        "alertmanager",
        help="the alerts config's routes and receivers as an Alertmanager config",
        description="Routes, receivers, inhibit rules and time intervals of Castiel's alerts "
        "config for Alertmanager (amtool check-config validates it). Secrets become *_file "
        "references, never values.",
    )
    add_alerts_argument(am)
    add_config_argument(am)
    am.add_argument("-o", "--output", type=Path, default=None, metavar="FILE")
    am.add_argument(
        "--secrets-dir",
        default=DEFAULT_SECRETS_DIR,
        metavar="DIR",
        help=f"where Alertmanager finds the secret files (default {DEFAULT_SECRETS_DIR})",
    )
    am.add_argument(
        "--alertmanager-version",
        type=_version,
        default=DEFAULT_VERSION,
        metavar="X.Y",
        help="the Alertmanager to write for (default %(default)s: webhook url_file needs "
        "0.26, Teams Workflows 0.28)",
    )
    am.set_defaults(handler=alertmanager)
    az = esub.add_parser(
        "azure",
        help="an ARM template of Azure Monitor scheduled query rules and a workbook",
        description="Log alert rules (Microsoft.Insights/scheduledQueryRules) whose KQL is the "
        "Azure Monitor collector's, an action group as a template parameter, and a workbook "
        "with one tile per budget.",
    )
    _budget_arguments(az)
    az.add_argument(
        "--schema",
        choices=[s.value for s in Schema],
        default=Schema.WORKSPACE.value,
        help="workspace-based (AppRequests, default) or classic Application Insights tables",
    )
    az.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="NAME",
        help="only these cloud role names (AppRoleName); repeatable",
    )
    az.add_argument(
        "--workbook", type=Path, default=None, metavar="FILE", help="also write the workbook JSON"
    )
    az.set_defaults(handler=azure)


def _budget_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budgets", type=Path, required=True, metavar="FILE")
    p.add_argument(
        "-o", "--output", type=Path, default=None, metavar="FILE", help="default: stdout"
    )
    add_alerts_argument(p)
    add_config_argument(p)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be longer than 0")
    return seconds


def _version(text: str) -> tuple[int, int]:
    try:
        return parse_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _inputs(args: argparse.Namespace) -> tuple[list[Budget], ProjectConfig, ExportOptions]:
    spec = load_budget_file(args.budgets)  # a BudgetSpecError: exit 2
    project = load_project_config(args.config)  # a ConfigError: exit 2
    options = ExportOptions()
    if project.found:
        text = read_text(Path(project.path))
        if isinstance(text, SpecIssue):
            raise UsageError(str(text))
        options = parse_oncall(text, project.path)
    budgets = list(spec.budgets)
    alerts = alerts_config_for(args.alerts, project, [b.name for b in budgets])
    if alerts is not None:
        budgets += [r.budget for r in alerts.rules]
        url = getattr(args, "dashboard_url", None)
        options = with_alerts_config(options, alerts, [b.name for b in budgets], url)
    return budgets, project, options


def _emit(text: str, output: Path | None, notes: Sequence[str]) -> int:
    for note in notes:
        print(f"castiel: not expressed: {note}", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"castiel: wrote {output}", file=sys.stderr)
    return EXIT_PASS


def prometheus(args: argparse.Namespace) -> int:
    budgets, _, options = _inputs(args)
    if args.window is not None:
        options = replace(options, window=args.window)
    if args.no_burn_rate:
        options = replace(options, burn_rate=False)
    if args.dashboard_url is not None and not options.links:
        # No alerts config to take links from: the flag alone sets them.
        options = replace(
            options, links={b.name: _link(args.dashboard_url, b.name) for b in budgets}
        )
    rules = export_rules(budgets, options, str(args.budgets))
    return _emit(rules.to_yaml(), args.output, grouped(rules.notes))


def _link(url: str, budget: str) -> str:
    return DashboardConfig(url).page("", budget) or url


def alertmanager(args: argparse.Namespace) -> int:
    project = load_project_config(args.config)
    cfg = alerts_config_for(args.alerts, project)
    if cfg is None:
        raise UsageError(
            "no alerts config: pass --alerts FILE or add an `alerts:` section to castiel.yaml"
        )
    out = alertmanager_config(cfg, args.secrets_dir, args.alertmanager_version)
    return _emit(out.to_yaml(cfg.path), args.output, out.notes)


def azure(args: argparse.Namespace) -> int:
    budgets, _, options = _inputs(args)
    result = export_azure(
        budgets, options, AzureOptions(Schema(args.schema), tuple(args.role)), str(args.budgets)
    )
    if args.workbook is not None:
        args.workbook.write_text(result.workbook_json(), encoding="utf-8")
        print(f"castiel: wrote {args.workbook}", file=sys.stderr)
    return _emit(result.template_json(), args.output, grouped(result.notes))

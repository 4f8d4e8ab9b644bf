"""`alerts.yaml` (or the `alerts:` section of `castiel.yaml`) -> typed `AlertsConfig`, every
problem located by file, line, column and key path (docs/alerts.md has the full guide).

Secrets (the fields each channel names in `Channel.secrets`) are `Secret`s: `${VAR}`
references are resolved from the environment at send time only, and unset variables are
warnings here (the monitor's environment is what counts), never errors."""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from alerts.channel_config import ReceiverConfig
from alerts.inhibit import InhibitRule
from alerts.model import Evidence, Severity
from alerts.mute import TimeInterval
from alerts.route_config import (
    check_references,
    read_inhibit_rules,
    read_receivers,
    read_route,
    read_time_intervals,
)
from alerts.routing import Route
from alerts.state import NoDataPolicy, Timing
from alerts.yamlnodes import Invalid, choice, compose, fields, url
from budgets.aggregations import Aggregation
from budgets.model import Budget, Level, Scope
from budgets.selectors import parse_selector
from budgets.shorthand import parse_condition
from collectors.yamlspec import SpecContext, SpecError, SpecIssue, read_text

SUPPORTED_VERSIONS = (1,)


class AlertsConfigError(SpecError):
    """One or more problems in an alerts config; `str()` is the first, `issues` has them all."""


# --- rules, delivery, the whole file --------------------------------------------------------


@dataclass(frozen=True)
class RuleSettings:
    """Per-budget (or default) alert settings; None = inherit."""

    enabled: bool | None = None
    for_: float | None = None
    keep_firing_for: float | None = None
    nodata: NoDataPolicy | None = None
    nodata_for: float | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AlertRule:
    """A standalone rule on any metric selector: evaluated like a budget (same evaluator),
    but it only alerts, it never gates CI."""

    budget: Budget
    settings: RuleSettings = field(default_factory=RuleSettings)

    @property
    def name(self) -> str:
        return self.budget.name


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    max_age: float = 3600.0
    """Give up (and use fallbacks) after this long even if attempts remain."""
    max_retry_after: float = 3600.0
    """A Retry-After longer than this is capped."""
    timeout: float = 10.0


@dataclass(frozen=True)
class DashboardConfig:
    url: str | None = None
    path: str = "/review?run={run}&budget={rule}"

    def link(self, evidence: Evidence) -> str | None:
        return self.page(evidence.run, evidence.rule)

    def page(self, run: str, rule: str) -> str | None:
        """The dashboard page of `rule` in `run` ("" = the latest run), if configured."""
        if not self.url:
            return None
        q = urllib.parse.quote
        return self.url.rstrip("/") + self.path.format(run=q(run, safe=""), rule=q(rule, safe=""))


DEFAULT_SEVERITY = (("abort", "critical"), ("fail", "critical"), ("warn", "warning"))


@dataclass(frozen=True)
class AlertsConfig:
    path: str
    route: Route
    receivers: Mapping[str, ReceiverConfig]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    rules: tuple[AlertRule, ...] = ()
    defaults: RuleSettings = field(default_factory=RuleSettings)
    budgets: Mapping[str, RuleSettings] = field(default_factory=dict)
    severity: tuple[tuple[str, str], ...] = DEFAULT_SEVERITY
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    deployment: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    warnings: tuple[SpecIssue, ...] = ()
    # Where each `budgets:` override was written, to point at one that names no budget.
    budget_keys: Mapping[str, SpecIssue] = field(default_factory=dict, compare=False)

    def settings(self, rule: str) -> RuleSettings:
        for r in self.rules:
            if r.name == rule:
                return _merge(self.defaults, r.settings)
        return _merge(self.defaults, self.budgets.get(rule, RuleSettings()))

    def timing(self, rule: str) -> Timing:
        s = self.settings(rule)
        return Timing(
            for_=s.for_ or 0.0,
            keep_firing_for=s.keep_firing_for or 0.0,
            nodata=s.nodata or NoDataPolicy.NODATA,
            nodata_for=s.nodata_for,
        )

    def enabled(self, rule: str) -> bool:
        return self.settings(rule).enabled is not False

    def severity_of(self, level: str) -> str:
        return dict(self.severity).get(level, "critical")

    def routes(self) -> dict[str, Route]:
        return {r.id: r for r in self.route.walk()}


def _merge(base: RuleSettings, over: RuleSettings) -> RuleSettings:
    def pick(name: str) -> Any:
        v = getattr(over, name)
        return getattr(base, name) if v is None else v

    return RuleSettings(
        enabled=pick("enabled"),
        for_=pick("for_"),
        keep_firing_for=pick("keep_firing_for"),
        nodata=pick("nodata"),
        nodata_for=pick("nodata_for"),
        labels=tuple(sorted({**dict(base.labels), **dict(over.labels)}.items())),
        annotations=tuple(sorted({**dict(base.annotations), **dict(over.annotations)}.items())),
    )


# --- loading ---------------------------------------------------------------------------------


def load_alerts_config(path: str | Path) -> AlertsConfig:
    """Read and validate. Raises AlertsConfigError (also for unreadable files)."""
    p = Path(path)
    text = read_text(p)
    if isinstance(text, SpecIssue):
        raise AlertsConfigError([text])
    return parse_alerts_config(text, str(p))


def parse_alerts_config(text: str, filename: str = "<alerts>") -> AlertsConfig:
    root, problem = compose(text, filename)
    if problem is not None:
        raise AlertsConfigError([problem])
    if root is None:
        raise AlertsConfigError([SpecIssue(filename, 1, 1, "", "the file is empty")])
    ctx = SpecContext(filename)
    prefix = ""
    try:
        top = ctx.mapping(root, "")
        if "alerts" in top and "route" not in top:
            # castiel.yaml: only the `alerts:` section is ours.
            root, prefix = top["alerts"][1], "alerts"
        config = _config(ctx, root, prefix)
    except Invalid:
        config = None
    if ctx.issues or config is None:
        raise AlertsConfigError(ctx.issues or [ctx.issue(root, "", "invalid")])
    return config


def _p(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


@dataclass(frozen=True)
class _Section:
    """A top-level key of the file: its reader (context, node, key path) and what it is when
    the key is absent or unreadable (the reader's problems are already recorded then)."""

    read: Callable[[SpecContext, Node, str], Any]
    default: Callable[[], Any] = lambda: None
    missing: str = ""
    """For a required key: the hint when it is absent."""


def _config(ctx: SpecContext, root: Node, prefix: str) -> AlertsConfig | None:
    top = ctx.mapping(root, prefix, TOP_KEYS)
    values = {name: _section(ctx, root, top, prefix, name, s) for name, s in SECTIONS.items()}
    receivers, receiver_nodes = values["receivers"]
    route, route_nodes = values["route"]
    budgets, budget_keys = values["budgets"]
    intervals = values["time_intervals"]
    check_references(
        ctx,
        route,
        route_nodes,
        receivers,
        receiver_nodes,
        intervals,
        _p(prefix, "route"),
        _p(prefix, "receivers"),
    )
    if route is None or ctx.issues:
        return None
    return AlertsConfig(
        path=ctx.file,
        route=route,
        receivers=receivers,
        inhibit_rules=values["inhibit_rules"],
        time_intervals=intervals,
        rules=values["rules"],
        defaults=values["defaults"],
        budgets=budgets,
        severity=values["severity"],
        dashboard=values["dashboard"],
        delivery=values["delivery"],
        deployment=values["deployment"],
        labels=values["labels"],
        warnings=tuple(ctx.warnings),
        budget_keys=budget_keys,
    )


def _section(
    ctx: SpecContext,
    root: Node,
    top: Mapping[str, tuple[Node, Node]],
    prefix: str,
    name: str,
    section: _Section,
) -> Any:
    key = _p(prefix, name)
    if name not in top:
        if section.missing:
            ctx.error(root, key, "missing", section.missing)
        return section.default()
    value = ctx.guard(section.read, ctx, top[name][1], key)
    return section.default() if value is None else value


def _budget_overrides(
    ctx: SpecContext, node: Node, key: str
) -> tuple[dict[str, RuleSettings], dict[str, SpecIssue]]:
    """Per-budget settings, and where each is written (to point at one that names no
    budget: `unknown_budget_overrides`)."""
    budgets: dict[str, RuleSettings] = {}
    where: dict[str, SpecIssue] = {}
    for name, (knode, vnode) in ctx.mapping(node, key).items():
        s = ctx.guard(_settings, ctx, vnode, f"{key}.{name}")
        if s is not None:
            budgets[name] = s
            where[name] = ctx.issue(knode, f"{key}.{name}", "")
    return budgets, where


def _version(ctx: SpecContext, node: Node, key: str) -> int:
    v = ctx.scalar(node, key)
    if v not in SUPPORTED_VERSIONS:
        raise ctx.error(node, key, f"unsupported version {v!r}", "this Castiel reads version: 1")
    return int(v)


SETTINGS_KEYS = (
    "enabled",
    "for",
    "keep_firing_for",
    "nodata",
    "nodata_for",
    "labels",
    "annotations",
)


def _nodata(ctx: SpecContext, n: Node, k: str) -> NoDataPolicy:
    policy: NoDataPolicy = ctx.convert(n, k, lambda v: choice(NoDataPolicy, v, "nodata policy"))
    return policy


def _settings_from(ctx: SpecContext, m: Mapping[str, tuple[Node, Node]], key: str) -> RuleSettings:
    g = ctx.guard

    def get(name: str, fn: Callable[[Node, str], Any]) -> Any:
        return g(lambda: fn(m[name][1], f"{key}.{name}")) if name in m else None

    return RuleSettings(
        enabled=get("enabled", ctx.boolean),
        for_=get("for", ctx.seconds),
        keep_firing_for=get("keep_firing_for", ctx.seconds),
        nodata=get("nodata", lambda n, k: _nodata(ctx, n, k)),
        nodata_for=get("nodata_for", ctx.seconds),
        labels=get("labels", ctx.string_map) or (),
        annotations=get("annotations", ctx.string_map) or (),
    )


def _settings(ctx: SpecContext, node: Node, key: str) -> RuleSettings:
    return _settings_from(ctx, ctx.mapping(node, key, SETTINGS_KEYS), key)


RULE_KEYS = (
    "name",
    "metric",
    "aggregation",
    "warn",
    "fail",
    "abort",
    "window",
    "group_by",
    "min_samples",
    "description",
    *SETTINGS_KEYS,
)


def _rules(ctx: SpecContext, node: Node, key: str) -> tuple[AlertRule, ...]:
    out: list[AlertRule] = []
    for i, rnode in enumerate(ctx.items(node, key)):
        k = f"{key}[{i}]"
        r = ctx.guard(_rule, ctx, rnode, k)
        if r is None:
            continue
        if any(x.name == r.name for x in out):
            ctx.error(rnode, f"{k}.name", f"duplicate rule {r.name!r}")
            continue
        out.append(r)
    return tuple(out)


def _rule(ctx: SpecContext, node: Node, key: str) -> AlertRule:
    m = ctx.mapping(node, key, RULE_KEYS)
    for req in ("name", "metric", "aggregation"):
        if req not in m:
            ctx.error(node, f"{key}.{req}", "missing")
    levels = [lv for lv in ("warn", "fail", "abort") if lv in m]
    if not levels:
        ctx.error(node, key, "a rule needs a condition", 'e.g. fail: "< 0.3" (what must hold)')
    if ctx.issues and any(i.key.startswith(key) for i in ctx.issues):
        raise Invalid()
    name = ctx.text(m["name"][1], f"{key}.name")
    selector = ctx.convert(m["metric"][1], f"{key}.metric", lambda v: parse_selector(str(v)))
    agg = ctx.convert(
        m["aggregation"][1], f"{key}.aggregation", lambda v: Aggregation.parse(str(v))
    )
    thresholds = tuple(
        (Level.parse(lv), ctx.convert(m[lv][1], f"{key}.{lv}", lambda v: parse_condition(str(v))))
        for lv in levels
    )
    window = ctx.positive_seconds(m["window"][1], f"{key}.window") if "window" in m else None
    group_by = ctx.texts(m["group_by"][1], f"{key}.group_by") if "group_by" in m else ()
    min_samples = (
        ctx.integer(m["min_samples"][1], f"{key}.min_samples", 1) if "min_samples" in m else 1
    )
    description = ctx.text(m["description"][1], f"{key}.description") if "description" in m else ""
    budget = Budget(
        name=name,
        selector=selector,
        aggregation=agg,
        thresholds=thresholds,
        scope=Scope(window=window),
        group_by=tuple(group_by),
        min_samples=min_samples,
        description=description,
    )
    return AlertRule(
        budget, _settings_from(ctx, {k: v for k, v in m.items() if k in SETTINGS_KEYS}, key)
    )


def _severity(ctx: SpecContext, node: Node, key: str) -> tuple[tuple[str, str], ...]:
    m = ctx.mapping(node, key, ("warn", "fail", "abort"))
    out = dict(DEFAULT_SEVERITY)
    for lv, (_, vnode) in m.items():
        out[lv] = ctx.convert(
            vnode,
            f"{key}.{lv}",
            lambda v: choice(Severity, v, "severity").value,
            "critical, error, warning or info",
        )
    return tuple(sorted(out.items()))


def _dashboard(ctx: SpecContext, node: Node, key: str) -> DashboardConfig:
    f = fields(ctx, node, key, {"url": lambda n, k: url(ctx, n, k), "path": ctx.text}, ())
    d = DashboardConfig(**f)
    try:
        d.path.format(run="r", rule="b")
    except (KeyError, IndexError, ValueError) as exc:
        raise ctx.error(
            node, f"{key}.path", f"bad template: {exc}", "placeholders: {run}, {rule}"
        ) from None
    return d


def _delivery(ctx: SpecContext, node: Node, key: str) -> DeliveryPolicy:
    f = fields(
        ctx,
        node,
        key,
        {
            "max_attempts": lambda n, k: ctx.integer(n, k, 1),
            "initial_backoff": ctx.positive_seconds,
            "max_backoff": ctx.positive_seconds,
            "max_age": ctx.positive_seconds,
            "max_retry_after": ctx.positive_seconds,
            "timeout": ctx.positive_seconds,
        },
        (),
    )
    return DeliveryPolicy(**f)


def unset_variables(config: AlertsConfig, env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(receiver, variable) for every `${VAR}` not set in `env`."""
    return [
        (name, var)
        for name, rc in config.receivers.items()
        for s in rc.secrets()
        for var in s.unset(env)
    ]


def unknown_budget_overrides(cfg: AlertsConfig, budget_names: Iterable[str]) -> list[SpecIssue]:
    """`budgets:` overrides naming no budget of the budget file: a typo there would otherwise
    silently leave the budget on the defaults."""
    known = sorted(set(budget_names))
    out = []
    for name in cfg.budgets:
        if name not in known:
            where = cfg.budget_keys.get(name) or SpecIssue(cfg.path, 0, 0, f"budgets.{name}", "")
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"budgets: {', '.join(known)}"
            out.append(replace(where, message="no budget of this name", hint=hint))
    return out


SECTIONS: dict[str, _Section] = {
    "version": _Section(_version),
    "route": _Section(
        read_route, lambda: (None, {}), missing="a root route names the default receiver"
    ),
    "receivers": _Section(read_receivers, lambda: ({}, {}), missing="list at least one receiver"),
    "inhibit_rules": _Section(read_inhibit_rules, tuple),
    "time_intervals": _Section(read_time_intervals, dict),
    "rules": _Section(_rules, tuple),
    "defaults": _Section(_settings, RuleSettings),
    "budgets": _Section(_budget_overrides, lambda: ({}, {})),
    "severity": _Section(_severity, lambda: DEFAULT_SEVERITY),
    "dashboard": _Section(_dashboard, DashboardConfig),
    "delivery": _Section(_delivery, DeliveryPolicy),
    "deployment": _Section(SpecContext.text),
    "labels": _Section(SpecContext.string_map, tuple),
}
"""The file's top-level keys, in the order they are read (and listed in messages)."""
TOP_KEYS = tuple(SECTIONS)

"""Budgets -> a Prometheus rule file: per budget, a recording rule for its aggregation over
its window, alerting rules for its levels, and multi-window multi-burn-rate alerts where the
budget is an SLO in disguise (a ratio, or a percentile whose threshold is a bucket boundary).

Whatever PromQL cannot say (a baseline comparison, a sample minimum without a count to test,
no-data policies, ramp-up) becomes a `Note`: listed in the file's header and returned to the
caller, who prints them; nothing is dropped silently."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from budgets.aggregations import PERCENTILE
from budgets.evaluate import budget_unit
from budgets.export.options import AlertSettings, ExportOptions
from budgets.export.promql import (
    Objective,
    Unexpressible,
    number,
    objective,
    samples,
    value,
)
from budgets.model import THRESHOLD_LEVELS, Budget, Condition, Level, MissingPolicy, Op
from budgets.selectors import MatchKind
from budgets.units import Unit, format_quantity
from collectors.promql import promql_duration


@dataclass(frozen=True)
class Note:
    """Part of a budget that the export could not express, and why."""

    budget: str
    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.budget}: {self.what}: {self.why}"


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Alerting:
    alert: str
    expr: str
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[Recording | Alerting, ...]


@dataclass(frozen=True)
class RuleFile:
    source: str
    window: float
    groups: tuple[RuleGroup, ...] = ()
    notes: tuple[Note, ...] = ()

    def alerts(self) -> list[Alerting]:
        return [r for g in self.groups for r in g.rules if isinstance(r, Alerting)]

    def to_yaml(self) -> str:
        return render(self)


# --- names -------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def slugs(names: Iterable[str]) -> dict[str, str]:
    """A metric-name-safe slug per budget name (alert names and recording rules must be
    valid metric names); a hash is added only where two names would collide."""
    names = list(names)
    plain = {n: _UNSAFE.sub("_", n).strip("_") or "budget" for n in names}
    plain = {n: s if not s[0].isdigit() else f"b_{s}" for n, s in plain.items()}
    counts: dict[str, int] = {}
    for s in plain.values():
        counts[s] = counts.get(s, 0) + 1
    return {
        n: s if counts[s] == 1 else f"{s}_{hashlib.sha256(n.encode()).hexdigest()[:8]}"
        for n, s in plain.items()
    }


def _agg_name(budget: Budget) -> str:
    return _UNSAFE.sub("_", str(budget.aggregation))


# --- building ----------------------------------------------------------------------------------


def export_rules(budgets: Sequence[Budget], options: ExportOptions, source: str) -> RuleFile:
    names = slugs(b.name for b in budgets)
    groups: list[RuleGroup] = []
    notes: list[Note] = []
    for budget in budgets:
        rules, found = _budget_rules(budget, names[budget.name], options)
        notes.extend(found)
        if rules:
            groups.append(RuleGroup(f"castiel budget {budget.name}", tuple(rules)))
    return RuleFile(source, options.window, tuple(groups), tuple(notes))


def _budget_rules(
    budget: Budget, slug: str, options: ExportOptions
) -> tuple[list[Recording | Alerting], list[Note]]:
    notes = list(unexpressed(budget))
    notes += _assumed(budget, options)
    rules: list[Recording | Alerting] = []
    settings = options.settings(budget.name)
    if not settings.enabled:
        notes.append(Note(budget.name, "alerts", "disabled in the alerts config (enabled: false)"))
        return rules, notes
    try:
        rules.extend(_threshold_rules(budget, slug, options, settings, notes))
    except Unexpressible as exc:
        notes.append(Note(budget.name, "not exported", str(exc)))
    kind = budget.aggregation.kind
    if options.burn_rate and (kind.denominator or kind is PERCENTILE):  # objective() says why
        try:
            goal = objective(budget, options.catalogue)
        except Unexpressible as exc:
            notes.append(Note(budget.name, "burn-rate alerts", str(exc)))
        else:
            rules.extend(_burn_rules(budget, slug, goal, options))
    return rules, notes


def _assumed(budget: Budget, options: ExportOptions) -> Iterable[Note]:
    if budget.promql is not None:
        return
    for sel in (budget.selector, *budget.denominator):
        name = sel.name.pattern
        if sel.name.kind is MatchKind.EXACT and options.catalogue.lookup(name).assumed:
            yield Note(
                budget.name,
                f"kind of {name}",
                "unknown, exported as a gauge; declare it in castiel.yaml oncall.metrics if "
                "it is a histogram",
            )


def unexpressed(budget: Budget) -> Iterable[Note]:
    name = budget.name
    if budget.baseline is not None:
        yield Note(
            name,
            "baseline comparison",
            "comparing with an earlier run (and its Mann-Whitney test) needs Castiel's store; "
            "gate it in CI with `castiel run`",
        )
    if budget.ramp_up or budget.ramp_up_phase:
        yield Note(name, "ramp_up", "a load-test notion; production has no run start to skip")
    if budget.on_missing is not MissingPolicy.PASS:
        yield Note(
            name,
            f"on_missing: {budget.on_missing.value}",
            "no data is no alert in these rules; alert on the scrape (`up == 0`) or "
            "`absent(...)` of the metric",
        )


def _threshold_rules(
    budget: Budget,
    slug: str,
    options: ExportOptions,
    settings: AlertSettings,
    notes: list[Note],
) -> list[Recording | Alerting]:
    catalogue = options.catalogue
    window = budget.scope.window or options.window
    expr = value(budget, window, catalogue)
    record = f"castiel_budget:{slug}:{_agg_name(budget)}_{promql_duration(window)}"
    kind_label = _kind_label(budget, options)
    rules: list[Recording | Alerting] = [Recording(record, expr, (kind_label,))]
    guard = ""
    if budget.min_samples > 1:
        count = samples(budget, window, catalogue)
        if count is None:
            notes.append(
                Note(
                    budget.name,
                    f"min_samples: {budget.min_samples}",
                    "its samples (readings or per-interval increments) depend on Castiel's "
                    "collection interval; alerts fire on any amount of data",
                )
            )
        else:
            counted = f"castiel_budget:{slug}:samples_{promql_duration(window)}"
            rules.append(Recording(counted, count, (kind_label,)))
            guard = f" and {counted} >= {budget.min_samples}"
    for level, cond in budget.thresholds:
        rules.append(
            Alerting(
                alert=slug,
                expr=f"{record} {_VIOLATED[cond.op]} {number(cond.value)}{guard}",
                for_=(budget.scope.sustained or 0.0) + settings.for_,
                keep_firing_for=settings.keep_firing_for,
                labels=_labels(budget, level, options, settings),
                annotations=_annotations(budget, level, cond, options, settings),
            )
        )
    return rules


_VIOLATED = {Op.LT: ">=", Op.LE: ">", Op.GT: "<=", Op.GE: "<"}
"""The alert fires when the condition that must hold does not: `fail: "< 0.3"` -> `>= 0.3`."""


def _kind_label(budget: Budget, options: ExportOptions) -> tuple[str, str]:
    return ("rule" if budget.name in options.rules else "budget", budget.name)


def _group_text(budget: Budget) -> str:
    """Castiel's `group` label (`method=GET,route=/a`), from the series' own labels."""
    return ",".join(f"{k}={{{{ $labels.{k} }}}}" for k in sorted(budget.group_by))


def _labels(
    budget: Budget, level: Level, options: ExportOptions, settings: AlertSettings
) -> tuple[tuple[str, str], ...]:
    labels = {**dict(options.labels), **dict(settings.labels)}
    key, name = _kind_label(budget, options)
    labels.update({key: name, "level": level.label, "severity": options.severity_of(level)})
    if budget.group_by:
        labels["group"] = _group_text(budget)
    if options.run:
        labels["run"] = options.run
    return tuple(labels.items())


_OBSERVED = {
    Unit.SECONDS: "{{ $value | humanizeDuration }}",
    Unit.FRACTION: "{{ $value | humanizePercentage }}",
    Unit.PER_SECOND: "{{ $value | humanize }}/s",
    Unit.NONE: "{{ $value | humanize }}",
}


def literal(text: str) -> str:
    """User text inside a Prometheus template: `{{` must not start an action."""
    return text.replace("{{", '{{ "{{" }}')


def _where(budget: Budget) -> str:
    return f" [{_group_text(budget)}]" if budget.group_by else ""


def _annotations(
    budget: Budget,
    level: Level,
    cond: Condition,
    options: ExportOptions,
    settings: AlertSettings,
) -> tuple[tuple[str, str], ...]:
    agg, unit = str(budget.aggregation), budget_unit(budget)
    observed = _OBSERVED[unit]
    threshold = f"{cond.op.value} {format_quantity(cond.value, unit)}"
    out = {
        "summary": f"{literal(budget.name)}{_where(budget)}: {agg} = {observed}, must be "
        f"{threshold} ({level.label})",
        "threshold": threshold,
        "observed": observed,
    }
    return _common_annotations(budget, out, options, settings)


def _common_annotations(
    budget: Budget, out: dict[str, str], options: ExportOptions, settings: AlertSettings
) -> tuple[tuple[str, str], ...]:
    if budget.description:
        out["description"] = literal(budget.description)
    link = options.links.get(budget.name)
    if link:
        out["dashboard"] = literal(link)
    out.update(settings.annotations)
    return tuple(out.items())


# --- burn rates --------------------------------------------------------------------------------


def _burn_rules(
    budget: Budget, slug: str, goal: Objective, options: ExportOptions
) -> list[Recording | Alerting]:
    catalogue, period = options.catalogue, options.period_of(budget.name)
    kind_label = _kind_label(budget, options)
    windows = sorted({w for bw in options.burn_windows for w in (bw.long, bw.short)})
    share = {w: f"castiel_budget:{slug}:bad_share_{promql_duration(w)}" for w in windows}
    rules: list[Recording | Alerting] = [
        Recording(share[w], goal.bad_share(w, catalogue), (kind_label,)) for w in windows
    ]
    settings = options.settings(budget.name)
    for level in THRESHOLD_LEVELS:
        mine = [bw for bw in options.burn_windows if bw.level is level]
        if not mine:
            continue
        parts, said = [], []
        for bw in mine:
            limit = number(bw.factor(period) * goal.error_budget)
            parts.append(f"({share[bw.long]} > {limit} and {share[bw.short]} > {limit})")
            long, short = promql_duration(bw.long), promql_duration(bw.short)
            said.append(f"{bw.factor(period):.3g}x over {long} and {short}")
        budget_pct = f"{goal.error_budget * 100:.3g}%"
        summary = (
            f"{literal(budget.name)}{_where(budget)}: burning its error budget ({budget_pct} "
            f"{literal(goal.what)} per {promql_duration(period)}) at {' or '.join(said)}"
        )
        rules.append(
            Alerting(
                alert=f"{slug}_error_budget_burn",
                expr=" or ".join(parts),
                labels=_labels(budget, level, options, settings),
                annotations=_common_annotations(
                    budget,
                    {
                        "summary": summary,
                        "error_budget": budget_pct,
                        "period": promql_duration(period),
                    },
                    options,
                    settings,
                ),
            )
        )
    return rules


# --- rendering ---------------------------------------------------------------------------------


def _rule_dict(rule: Recording | Alerting) -> dict[str, Any]:
    if isinstance(rule, Recording):
        out: dict[str, Any] = {"record": rule.record, "expr": rule.expr}
        if rule.labels:
            out["labels"] = dict(rule.labels)
        return out
    out = {"alert": rule.alert, "expr": rule.expr}
    if rule.for_ > 0:
        out["for"] = promql_duration(rule.for_)
    if rule.keep_firing_for > 0:
        out["keep_firing_for"] = promql_duration(rule.keep_firing_for)
    out["labels"] = dict(rule.labels)
    out["annotations"] = dict(rule.annotations)
    return out


def header(source: str, window: float, notes: Sequence[Note], tool: str) -> list[str]:
    lines = [
        f"Generated by `castiel budgets export {tool}` from {source}.",
        "Regenerate instead of editing: the budget file is the source of truth (docs/oncall.md).",
        f"Budgets that judge a whole run are evaluated over the trailing "
        f"{promql_duration(window)}; window budgets over their window, ending now.",
    ]
    if notes:
        lines += ["", "Not expressed (also printed on stderr):"]
        lines += [f"  - {n}" for n in grouped(notes)]
    return [f"# {line}".rstrip() for line in lines]


def grouped(notes: Sequence[Note]) -> list[str]:
    """One line per distinct (what, why), naming every budget it concerns, in file order."""
    seen: dict[tuple[str, str], list[str]] = {}
    for n in notes:
        seen.setdefault((n.what, n.why), []).append(n.budget)
    return [f"{what} ({', '.join(names)}): {why}" for (what, why), names in seen.items()]


def render(rules: RuleFile) -> str:
    data = {
        "groups": [
            {"name": g.name, "rules": [_rule_dict(r) for r in g.rules]} for g in rules.groups
        ]
    }
    body = yaml.safe_dump(data, sort_keys=False, width=10**6, allow_unicode=True)
    return "\n".join(header(rules.source, rules.window, rules.notes, "prometheus")) + "\n" + body

"""Budgets -> an ARM template of Azure Monitor log alert rules
(`Microsoft.Insights/scheduledQueryRules`, one per budget level) and a workbook with one tile
per budget. Each rule's KQL starts from the rows the Azure Monitor collector reads
(collectors.azure_kql: same tables, columns, weights and labels) and computes the budget's
aggregation per group over the rule's window.

Azure cannot express what Prometheus cannot (baselines, ramp-up, no-data policies), and
burn-rate alerts are exported for Prometheus only; budgets on series that Application
Insights does not have (queue depth, jobs, cache) are notes too."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from budgets.evaluate import budget_unit
from budgets.export.options import ExportOptions
from budgets.export.prometheus import Note, slugs, unexpressed
from budgets.export.promql import Unexpressible, glob_regex
from budgets.model import Budget, Condition, Level, Op
from budgets.selectors import Matcher, MatchKind, Selector
from budgets.units import format_quantity
from collectors.azure_kql import (
    FAMILIES,
    SCHEMAS,
    Family,
    LabelFilter,
    Schema,
    all_of,
    family_rows,
    kql_number,
    percentile_of,
)
from collectors.promql import promql_duration

SCHEDULED_QUERY_RULES_API = "2023-12-01"
WORKBOOKS_API = "2022-04-01"
TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
# Azure Monitor accepts these evaluation frequencies and window sizes (minutes).
FREQUENCIES = (1, 5, 10, 15, 30, 45, 60)
WINDOWS = (1, 5, 10, 15, 30, 45, 60, 120, 180, 240, 300, 360, 1440, 2880)
MAX_PERIODS = 6
SEVERITY = {"critical": 0, "error": 1, "warning": 2, "info": 3}
_ARM_NAME = re.compile(r"[*<>%{}&:\\?/#|\s]+")


@dataclass(frozen=True)
class AzureOptions:
    schema: Schema = Schema.WORKSPACE
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """A budget as KQL: one row per group with `value` (and `n`, the samples)."""

    budget: Budget
    kql: str
    """Per window bin (`TimeGenerated`): the alert rule's query."""
    tile: str
    """Over the whole time range: the workbook tile's query."""
    window_minutes: int
    dimensions: tuple[str, ...]


@dataclass(frozen=True)
class AzureExport:
    template: dict[str, Any]
    workbook: dict[str, Any]
    queries: tuple[Query, ...] = ()
    notes: tuple[Note, ...] = field(default=())

    def template_json(self) -> str:
        return json.dumps(self.template, indent=2) + "\n"

    def workbook_json(self) -> str:
        return json.dumps(self.workbook, indent=2) + "\n"


# --- KQL per budget ----------------------------------------------------------------------------


def _family(selector: Selector) -> Family:
    name = selector.name
    if name.kind is not MatchKind.EXACT or name.negate:
        raise Unexpressible(f"the metric name {name.pattern!r} is a pattern")
    found = FAMILIES.get(name.pattern)
    if found is None:
        raise Unexpressible(
            f"{name.pattern} is not in Application Insights (the Azure collector builds "
            f"{', '.join(sorted(FAMILIES))} from requests, dependencies and exceptions)"
        )
    return found


def _filter(label: str, m: Matcher) -> LabelFilter:
    if m.kind is MatchKind.EXACT:
        return LabelFilter(label, m.pattern, negate=m.negate)
    pattern = glob_regex(m.pattern) if m.kind is MatchKind.GLOB else m.pattern
    return LabelFilter(label, pattern, regex=True, negate=m.negate)


def _filters(selector: Selector, family: Family, options: AzureOptions) -> list[LabelFilter]:
    known = family.label_names(SCHEMAS[options.schema])
    for label, _ in selector.labels:
        if label not in known:
            raise Unexpressible(f"{family.name} has no label {label!r} ({', '.join(known)})")
    return [_filter(label, m) for label, m in selector.labels]


def _summary(budget: Budget, family: Family, window: float) -> str:
    agg = budget.aggregation
    form = agg.kind.azure.durations if family.durations else agg.kind.azure.events
    if form is None:
        what = "a histogram" if family.durations else "a count of events"
        raise Unexpressible(f"{agg} of {what} has no equivalent over one alert window")
    percentile = percentile_of(agg.q) if agg.q is not None else ""
    return form.format(percentile=percentile, window=kql_number(window))


def budget_query(budget: Budget, window: float, options: AzureOptions, binned: bool) -> str:
    """KQL computing `budget` per group over the caller's time range; `binned`: per `window`
    as well, in a `TimeGenerated` column (what a log alert rule aggregates and counts failing
    periods over). Raises Unexpressible."""
    if budget.promql is not None:
        raise Unexpressible("a PromQL expression has no KQL equivalent")
    family = _family(budget.selector)
    columns = SCHEMAS[options.schema]
    known = family.label_names(columns)
    missing = [g for g in budget.group_by if g not in known]
    if missing:
        raise Unexpressible(f"{family.name} has no label {missing[0]!r} ({', '.join(known)})")
    lines = family_rows(options.schema, family, options.roles)
    keys = list(budget.group_by)
    if binned:
        keys.insert(0, f"TimeGenerated = bin({columns.time}, {iso_kql(window)})")
    by = f" by {', '.join(keys)}" if keys else ""
    guard = budget.min_samples > 1
    if budget.aggregation.kind.denominator:
        num = all_of(_filters(budget.selector, family, options))
        dens = []
        for d in budget.denominator:
            if _family(d) is not family:
                raise Unexpressible("numerator and denominator come from different tables")
            dens.append(f"sumif(w, {all_of(_filters(d, family, options))})")
        lines.append(f"| summarize num = sumif(w, {num}), n = {' + '.join(dens)}{by}")
        lines.append("| where n > 0")
        lines.append("| extend value = todouble(num) / n")
    else:
        lines += [f"| where {f.kql()}" for f in _filters(budget.selector, family, options)]
        lines.append(f"| summarize value = {_summary(budget, family, window)}, n = sum(w){by}")
        guard = guard and family.durations
    if guard:
        lines.append(f"| where n >= {budget.min_samples}")
    return "\n".join(lines)


# --- the template ------------------------------------------------------------------------------


def _minutes(seconds: float, allowed: Sequence[int]) -> int:
    """The shortest allowed length that covers `seconds`."""
    need = math.ceil(seconds / 60 - 1e-9)
    return next((m for m in allowed if m >= need), allowed[-1])


def iso_kql(seconds: float) -> str:
    """A KQL timespan literal: `5m`, `1h`, `90s`."""
    return promql_duration(seconds)


def iso_minutes(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"P{minutes // 1440}D"
    if minutes % 60 == 0:
        return f"PT{minutes // 60}H"
    return f"PT{minutes}M"


_VIOLATED = {
    Op.LT: "GreaterThanOrEqual",
    Op.LE: "GreaterThan",
    Op.GT: "LessThanOrEqual",
    Op.GE: "LessThan",
}


def arm_name(text: str) -> str:
    return _ARM_NAME.sub("-", text).strip(" .-")[:200] or "budget"


def _rule(
    q: Query, level: Level, cond: Condition, slug: str, options: ExportOptions
) -> tuple[dict[str, Any], list[Note]]:
    budget, notes = q.budget, []
    frequency = next((f for f in reversed(FREQUENCIES) if f <= q.window_minutes), 1)
    periods = 1
    held = budget.scope.sustained or 0.0
    held += options.settings(budget.name).for_
    if held > 0:
        periods = math.ceil(held / (frequency * 60) - 1e-9) + 1
        if periods > MAX_PERIODS:
            notes.append(
                Note(
                    budget.name,
                    f"for {held:g}s",
                    f"Azure holds at most {MAX_PERIODS} evaluations of {frequency} min; "
                    f"the rule fires after {MAX_PERIODS}",
                )
            )
            periods = MAX_PERIODS
    threshold = f"{cond.op.value} {format_quantity(cond.value, budget_unit(budget))}"
    severity = options.severity_of(level)
    custom = {"budget": budget.name, "level": level.label, "severity": severity}
    custom["threshold"] = threshold
    link = options.links.get(budget.name)
    if link:
        custom["dashboard"] = link
    custom.update(dict(options.labels))
    resource = {
        "type": "Microsoft.Insights/scheduledQueryRules",
        "apiVersion": SCHEDULED_QUERY_RULES_API,
        "name": arm_name(f"castiel-{slug}-{level.label}"),
        "location": "[parameters('location')]",
        "kind": "LogAlert",
        "properties": {
            "displayName": f"{budget.name} ({level.label})",
            "description": (budget.description + " " if budget.description else "")
            + f"{budget.aggregation} must be {threshold} (Castiel budget, {level.label}).",
            "severity": SEVERITY.get(severity, 1),
            "enabled": True,
            "scopes": ["[parameters('scope')]"],
            "evaluationFrequency": iso_minutes(frequency),
            "windowSize": iso_minutes(q.window_minutes),
            "criteria": {
                "allOf": [
                    {
                        "query": q.kql,
                        "timeAggregation": "Maximum",
                        "metricMeasureColumn": "value",
                        "operator": _VIOLATED[cond.op],
                        "threshold": cond.value,
                        "dimensions": [
                            {"name": d, "operator": "Include", "values": ["*"]}
                            for d in q.dimensions
                        ],
                        "failingPeriods": {
                            "numberOfEvaluationPeriods": periods,
                            "minFailingPeriodsToAlert": periods,
                        },
                    }
                ]
            },
            "autoMitigate": True,
            "actions": {
                "actionGroups": ["[parameters('actionGroupId')]"],
                "customProperties": custom,
            },
        },
    }
    return resource, notes


def export_azure(
    budgets: Sequence[Budget],
    options: ExportOptions,
    azure: AzureOptions = AzureOptions(),
    source: str = "budgets",
) -> AzureExport:
    names = slugs(b.name for b in budgets)
    notes: list[Note] = []
    queries: list[Query] = []
    resources: list[dict[str, Any]] = []
    for budget in budgets:
        notes.extend(unexpressed(budget))
        window = budget.scope.window or options.window
        minutes = _minutes(window, WINDOWS)
        try:
            kql = budget_query(budget, minutes * 60.0, azure, binned=True)
            tile = budget_query(budget, minutes * 60.0, azure, binned=False)
        except Unexpressible as exc:
            notes.append(Note(budget.name, "not exported", str(exc)))
            continue
        if minutes * 60 != window:
            notes.append(
                Note(
                    budget.name,
                    f"window {window:g}s",
                    f"Azure log alerts evaluate windows of {', '.join(map(str, WINDOWS))} "
                    f"minutes; evaluated over {minutes} min",
                )
            )
        q = Query(budget, kql, tile, minutes, budget.group_by)
        queries.append(q)
        if not options.settings(budget.name).enabled:
            notes.append(Note(budget.name, "alerts", "disabled in the alerts config"))
            continue
        for level, cond in budget.thresholds:
            resource, found = _rule(q, level, cond, names[budget.name], options)
            resources.append(resource)
            notes.extend(found)
    workbook = _workbook(queries, azure, source)
    resources.append(_workbook_resource(workbook, source))
    return AzureExport(_template(resources, source), workbook, tuple(queries), tuple(notes))


def _template(resources: list[dict[str, Any]], source: str) -> dict[str, Any]:
    return {
        "$schema": TEMPLATE_SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {
            "description": f"Generated by `castiel budgets export azure` from {source}; "
            "regenerate instead of editing (docs/oncall.md)."
        },
        "parameters": {
            "scope": {
                "type": "string",
                "metadata": {
                    "description": "Resource id of the Log Analytics workspace (workspace "
                    "schema) or Application Insights component (classic schema)"
                },
            },
            "actionGroupId": {
                "type": "string",
                "metadata": {"description": "Resource id of the action group to notify"},
            },
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
        },
        "resources": resources,
    }


# --- the workbook ------------------------------------------------------------------------------


def _workbook(queries: Sequence[Query], azure: AzureOptions, source: str) -> dict[str, Any]:
    resource_type = (
        "microsoft.operationalinsights/workspaces"
        if azure.schema is Schema.WORKSPACE
        else "microsoft.insights/components"
    )
    items: list[dict[str, Any]] = [
        {
            "type": 1,
            "content": {
                "json": f"## Castiel budgets\nOne tile per budget of `{source}`, computed like "
                "its alert rule (generated by `castiel budgets export azure`)."
            },
            "name": "castiel-intro",
        }
    ]
    for q in queries:
        title = q.budget.name
        if q.budget.description:
            title += f": {q.budget.description}"
        items.append(
            {
                "type": 3,
                "content": {
                    "version": "KqlItem/1.0",
                    "query": q.tile,
                    "size": 4,
                    "title": title,
                    "timeContext": {"durationMs": q.window_minutes * 60_000},
                    "queryType": 0,
                    "resourceType": resource_type,
                    "visualization": "tiles",
                    "tileSettings": {
                        "titleContent": {"columnMatch": q.dimensions[0] if q.dimensions else "n"},
                        "leftContent": {"columnMatch": "value", "formatter": 12},
                        "showBorder": True,
                    },
                },
                "name": f"budget-{arm_name(q.budget.name)}",
            }
        )
    return {"version": "Notebook/1.0", "items": items, "isLocked": False}


def _workbook_resource(workbook: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "type": "Microsoft.Insights/workbooks",
        "apiVersion": WORKBOOKS_API,
        "name": f"[guid(resourceGroup().id, 'castiel-budgets', '{arm_name(source)}')]",
        "location": "[parameters('location')]",
        "kind": "shared",
        "properties": {
            "displayName": f"Castiel budgets ({source})",
            "category": "workbook",
            "version": "Notebook/1.0",
            "sourceId": "[parameters('scope')]",
            "serializedData": json.dumps(workbook),
        },
    }

"""Lighthouse CI's `budget.json`, read as is and turned into Castiel budgets with the same
meaning, so a frontend team's file gates `castiel browse`, `castiel run --browse` and
`castiel check` without a rewrite.

The format (github.com/GoogleChrome/budget.json; Lighthouse's `core/config/budget.js`): an
array of budget objects, each with an optional `path` (robots.txt style: a prefix, one `*`
wildcard, `$` to anchor the end), `resourceSizes` and `resourceCounts` (`{resourceType,
budget}`) and `timings` (`{metric, budget}`). Sizes are KiB of transfer size, timings
milliseconds (CLS a unitless score). A page gets the *last* budget object whose path matches.

Each entry becomes one fail-level budget, grouped by page, over the cold loads (Lighthouse
loads a page with an empty cache), with aggregation `max`: LHCI fails an assertion when any
run is over budget. An entry that matches no loaded page, and the Lighthouse metrics Castiel
cannot measure headless (`interactive`, `first-meaningful-paint`, `speed-index`), report
missing data at level warn: visible in every report, never silently passing, and not failing
a gate for pages nobody loaded. Timings are measured, not simulated: Lighthouse's default
throttling simulation is not reproduced (docs/frontend.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from yaml.nodes import Node, SequenceNode

from budgets.aggregations import MAX, Aggregation
from budgets.model import (
    Budget,
    BudgetFile,
    Condition,
    Level,
    Location,
    MissingPolicy,
    Op,
)
from budgets.selectors import Matcher, Selector
from collectors.browser import series
from collectors.yamlspec import Invalid, SpecContext, SpecError, SpecIssue, compose, suggest

RESOURCE_TYPES = (
    "total",
    "document",
    "script",
    "stylesheet",
    "image",
    "media",
    "font",
    "other",
    "third-party",
)
MEASURED_TIMINGS = {
    "first-contentful-paint": series.FCP,
    "largest-contentful-paint": series.LCP,
    "total-blocking-time": series.TBT,
    "cumulative-layout-shift": series.CLS,
    "max-potential-fid": series.LONGEST_TASK,
}
UNMEASURED_TIMINGS = {
    "interactive": "Time to Interactive needs a 5 s quiet window after every load",
    "first-meaningful-paint": "Lighthouse itself retired First Meaningful Paint",
    "speed-index": "Speed Index needs a filmstrip of screenshots",
}
TIMING_METRICS = (*MEASURED_TIMINGS, *UNMEASURED_TIMINGS)
_BUDGET_KEYS = ("path", "options", "resourceSizes", "resourceCounts", "timings")
KIB = 1024


def is_lighthouse_budget(text: str) -> bool:
    """A budget.json is a JSON array; a Castiel budget file is a mapping."""
    return text.lstrip("\ufeff \t\r\n").startswith("[")


def robots_regex(path: str) -> str:
    """The anchored regex of a robots.txt-style path, matched against a page's path and
    query as Lighthouse matches it (`/blog` is a prefix, `/*.js$` ends in .js)."""
    anchored = path.endswith("$")
    body = path[:-1] if anchored else path
    before, star, after = body.partition("*")
    regex = re.escape(before) + (".*" + re.escape(after) if star else "")
    return regex if anchored or regex.endswith(".*") else regex + ".*"


def check_path(path: Any) -> str:
    if not isinstance(path, str):
        raise ValueError("path should be a string")
    if not path.startswith("/"):
        raise ValueError("path should start with '/'")
    if path.count("*") > 1:
        raise ValueError("path should only contain one '*'")
    if path.count("$") > 1 or ("$" in path and not path.endswith("$")):
        raise ValueError("'$' may only end the path")
    return path


@dataclass(frozen=True)
class _Entry:
    index: int
    section: str
    key: str
    """A resource type or a timing metric."""
    budget: float
    node: Node


def parse_lighthouse_budgets(text: str, filename: str) -> BudgetFile:
    """Raises SpecError with every problem located (file:line:col: key: message)."""
    try:
        json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        issue = SpecIssue(filename, exc.lineno, exc.colno, "", f"not valid JSON: {exc.msg}")
        raise SpecError([issue]) from None
    except ValueError as exc:
        raise SpecError([SpecIssue(filename, 0, 0, "", f"not valid JSON: {exc}")]) from None
    root, problem = compose(text, filename)
    if problem is not None:
        raise SpecError([problem])
    if not isinstance(root, SequenceNode):
        raise SpecError([SpecIssue(filename, 1, 1, "", "budget.json must be an array of budgets")])
    ctx = SpecContext(filename)
    paths: list[str | None] = []
    entries: list[_Entry] = []
    try:
        for i, node in enumerate(root.value):
            with contextlib.suppress(Invalid):
                path, found = _budget_object(ctx, node, i)
                paths.append(path)
                entries.extend(found)
        if not entries and not ctx.issues:
            ctx.error(
                root, "", "no budgets defined", "add resourceSizes, resourceCounts or timings"
            )
    except Invalid:
        pass
    if ctx.issues:
        raise SpecError(sorted(ctx.issues, key=lambda i: (i.line, i.column)))
    budgets = tuple(_budget(ctx, e, paths) for e in entries)
    return BudgetFile(filename, budgets)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _budget_object(ctx: SpecContext, node: Node, i: int) -> tuple[str | None, list[_Entry]]:
    where = f"[{i}]"
    m = ctx.mapping(node, where, _BUDGET_KEYS)
    path = None
    if "path" in m:
        path = ctx.convert(m["path"][1], f"{where}.path", check_path, "e.g. /*, /blog or /*.html$")
    if "options" in m:
        ctx.error(
            m["options"][0],
            f"{where}.options",
            "options (firstPartyHostnames) is not supported",
            "third-party means another site than the page's; see docs/frontend.md",
        )
    entries: list[_Entry] = []
    for section, field, allowed in (
        ("resourceSizes", "resourceType", RESOURCE_TYPES),
        ("resourceCounts", "resourceType", RESOURCE_TYPES),
        ("timings", "metric", TIMING_METRICS),
    ):
        if section in m:
            key = f"{where}.{section}"
            found = ctx.guard(_section, ctx, m[section][1], key, i, section, field, allowed)
            entries.extend(found or [])
    return path, entries


def _section(
    ctx: SpecContext,
    node: Node,
    key: str,
    index: int,
    section: str,
    field: str,
    allowed: tuple[str, ...],
) -> list[_Entry]:
    out: list[_Entry] = []
    seen: set[str] = set()
    for j, item in enumerate(ctx.items(node, key)):
        path = f"{key}[{j}]"
        try:
            m = ctx.mapping(item, path, (field, "budget"))
            for needed in (field, "budget"):
                if needed not in m:
                    raise ctx.error(item, f"{path}.{needed}", f"missing {needed}")
            name = ctx.text(m[field][1], f"{path}.{field}")
            if name not in allowed:
                what = "resource type" if field == "resourceType" else "timing metric"
                raise ctx.error(
                    m[field][1],
                    f"{path}.{field}",
                    f"unknown {what} {name!r}",
                    suggest(name, allowed),
                )
            if name in seen:
                raise ctx.error(m[field][1], f"{path}.{field}", f"{name!r} is given twice")
            seen.add(name)
            budget = ctx.convert(m["budget"][1], f"{path}.budget", _number)
        except Invalid:
            continue
        out.append(_Entry(index, section, name, budget, item))
    return out


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"budget must be a number, got {value!r}")
    return float(value)


def _budget(ctx: SpecContext, e: _Entry, paths: list[str | None]) -> Budget:
    """One Castiel budget; pages a later budget object claims are excluded (Lighthouse
    applies the last matching object)."""
    labels: list[tuple[str, Matcher]] = [("cache", Matcher.exact("cold"))]
    own = paths[e.index] or "/"
    labels.append(("page", Matcher.regex(robots_regex(own))))
    for later in paths[e.index + 1 :]:
        labels.append(("page", Matcher.regex(robots_regex(later or "/"), negate=True)))
    description = ""
    if e.section == "timings":
        name = MEASURED_TIMINGS.get(e.key) or f"castiel_page_{e.key.replace('-', '_')}_seconds"
        value = e.budget if e.key == "cumulative-layout-shift" else e.budget / 1000.0
        unit = "" if e.key == "cumulative-layout-shift" else " ms"
        what = f"{e.key} <= {e.budget:g}{unit}"
        if e.key in UNMEASURED_TIMINGS:
            description = (
                f"Castiel does not measure {e.key} ({UNMEASURED_TIMINGS[e.key]}); this "
                "budget stays a missing-data warning"
            )
    else:
        labels.append(("type", Matcher.exact(e.key)))
        sizes = e.section == "resourceSizes"
        name = series.TRANSFER_BYTES if sizes else series.REQUESTS
        value = e.budget * KIB if sizes else e.budget
        what = f"{e.key} {'size' if sizes else 'requests'} <= {e.budget:g}{' KiB' if sizes else ''}"
    loc = e.node.start_mark
    return Budget(
        name=f"budget.json[{e.index}] {own} {what}",
        selector=Selector(Matcher.exact(name), tuple(labels)),
        aggregation=Aggregation(MAX),
        thresholds=((Level.FAIL, Condition(Op.LE, value)),),
        group_by=("page",),
        on_missing=MissingPolicy.WARN,
        description=description,
        location=Location(ctx.file, loc.line + 1, loc.column + 1),
    )

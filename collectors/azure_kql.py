"""KQL for Application Insights data, shared by the Azure Monitor collector
(collectors.azure_monitor) and the budget export to Azure Monitor alert rules
(budgets.export.azure): one place knows the tables and columns of both schemas, how durations
become seconds weighted by `ItemCount` (sampling), how an operation name splits into method
and route, and which Castiel series each table yields (`FAMILIES`), so an alert rule computes a
budget from the same rows, with the same labels, as the collector that feeds `castiel run`.
Pure: every function returns KQL text."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from collectors.model import GAMMA, MIN_TRACKABLE

LN_GAMMA = math.log(GAMMA)
DEFAULT_QUANTILES = (50.0, 95.0, 99.0)
DB_TYPES = frozenset({"sql", "sqlite", "postgresql", "mysql", "mssql", "oracle", "db2"})
OPERATION = r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(\S.*)$"
"""An operation name `GET /orders/{id}`: method and route (RE2 and Python alike)."""
_METHOD = re.compile(OPERATION)


class Schema(StrEnum):
    WORKSPACE = "workspace"
    CLASSIC = "classic"


@dataclass(frozen=True)
class Columns:
    """Table and column names of one schema."""

    requests: str
    dependencies: str
    exceptions: str
    time: str
    name: str
    duration_ms: str
    success: str
    result_code: str
    role: str
    item_count: str
    dependency_type: str
    target: str
    exception_type: str


SCHEMAS = {
    Schema.WORKSPACE: Columns(
        "AppRequests",
        "AppDependencies",
        "AppExceptions",
        "TimeGenerated",
        "Name",
        "DurationMs",
        "Success",
        "ResultCode",
        "AppRoleName",
        "ItemCount",
        "DependencyType",
        "Target",
        "ExceptionType",
    ),
    Schema.CLASSIC: Columns(
        "requests",
        "dependencies",
        "exceptions",
        "timestamp",
        "name",
        "duration",
        "success",
        "resultCode",
        "cloud_RoleName",
        "itemCount",
        "type",
        "target",
        "type",
    ),
}


# --- pure: KQL ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """What one collection reads. `step=None`: records ingested in `(start, end]`, all stamped
    `end` (live). A step: records whose event time is in `[start, end)`, in bins of `step`
    stamped with the end of their bin (a finished period)."""

    start: datetime
    end: datetime
    step: timedelta | None = None


def kql_string(value: str) -> str:
    """A KQL string literal; control characters are refused (they only come from mistakes)."""
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"control characters are not allowed in KQL values: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kql_datetime(at: datetime) -> str:
    return f"datetime({at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')})"


def kql_timespan(delta: timedelta) -> str:
    ms = round(delta.total_seconds() * 1000)
    return f"{ms}ms"


def _select(
    table: str, c: Columns, w: Window | None, roles: Sequence[str], measure: bool = True
) -> list[str]:
    """The rows of `table` in `w` (None: no time filter, the caller's time range applies, as
    in an alert rule or a workbook tile), with `t` their time stamp and, with `measure`,
    `d` the duration in seconds and `w` the number of requests each row stands for."""
    lines = [table]
    if w is not None and w.step is None:
        lines.append(
            f"| where ingestion_time() > {kql_datetime(w.start)}"
            f" and ingestion_time() <= {kql_datetime(w.end)}"
        )
    elif w is not None:
        lines.append(
            f"| where {c.time} >= {kql_datetime(w.start)} and {c.time} < {kql_datetime(w.end)}"
        )
    if roles:
        lines.append(f"| where {c.role} in ({', '.join(kql_string(r) for r in roles)})")
    if w is not None and w.step is None:
        lines.append(f"| extend t = {kql_datetime(w.end)}")
    elif w is not None and w.step is not None:
        step = kql_timespan(w.step)
        lines.append(f"| extend t = bin_at({c.time}, {step}, {kql_datetime(w.start)}) + {step}")
    if measure:
        lines.append(f"| extend d = todouble({c.duration_ms}) / 1000.0, w = toint({c.item_count})")
    return lines


def _histogram_summary(by: str) -> str:
    """Counts per store log bucket `b` (null: the zero bucket), plus exact sum, min, max."""
    return (
        f"| extend b = iff(d <= {MIN_TRACKABLE!r}, long(null), "
        f"tolong(ceiling(log(d) / {LN_GAMMA!r})))\n"
        f"| summarize n = sum(w), total = sum(d * w), lo = min(d), hi = max(d) by t, {by}, b"
    )


def percentile_of(q: float) -> str:
    """The `q`th percentile (0-100) of the durations `d`, weighted by `w`."""
    return f"percentilew(d, w, {q:g})"


def _percentile_summary(by: str, quantiles: Sequence[float]) -> str:
    parts = ", ".join(f"p{q:g} = {percentile_of(q)}" for q in quantiles)
    return f"| summarize {parts} by t, {by}"


def requests_histogram_kql(schema: Schema, w: Window, roles: Sequence[str] = ()) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.requests, c, w, roles)
    return "\n".join([*lines, _histogram_summary(f"operation = {c.name}")])


def requests_count_kql(schema: Schema, w: Window, roles: Sequence[str] = ()) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.requests, c, w, roles)
    by = f"operation = {c.name}, status = tostring({c.result_code}), ok = tobool({c.success})"
    return "\n".join([*lines, f"| summarize n = sum(w) by t, {by}"])


def requests_percentiles_kql(
    schema: Schema,
    w: Window,
    roles: Sequence[str] = (),
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.requests, c, w, roles)
    return "\n".join([*lines, _percentile_summary(f"operation = {c.name}", quantiles)])


def _dependency_by(c: Columns) -> str:
    return f"dep_type = tostring({c.dependency_type}), dep_target = tostring({c.target})"


def dependencies_histogram_kql(schema: Schema, w: Window, roles: Sequence[str] = ()) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.dependencies, c, w, roles)
    by = f"{_dependency_by(c)}, dep_name = tostring({c.name})"
    return "\n".join([*lines, _histogram_summary(by)])


def dependencies_count_kql(schema: Schema, w: Window, roles: Sequence[str] = ()) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.dependencies, c, w, roles)
    by = f"{_dependency_by(c)}, ok = tobool({c.success})"
    return "\n".join([*lines, f"| summarize n = sum(w) by t, {by}"])


def dependencies_percentiles_kql(
    schema: Schema,
    w: Window,
    roles: Sequence[str] = (),
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.dependencies, c, w, roles)
    return "\n".join([*lines, _percentile_summary(_dependency_by(c), quantiles)])


def exceptions_kql(schema: Schema, w: Window, roles: Sequence[str] = ()) -> str:
    c = SCHEMAS[schema]
    lines = _select(c.exceptions, c, w, roles, measure=False)
    lines.append(
        f"| summarize n = sum(toint({c.item_count})) by t, exc_type = tostring({c.exception_type})"
    )
    return "\n".join(lines)


def split_operation(operation: str) -> tuple[str, str]:
    """`GET /orders/{id}` → (`GET`, `/orders/{id}`); anything else is a route without method."""
    m = _METHOD.match(operation.strip())
    return (m.group(1), m.group(2)) if m else ("", operation)


# --- the series each table yields, for budgets ---------------------------------------------------


def _operation_labels(c: Columns) -> tuple[tuple[str, str], ...]:
    # split_operation in KQL: the same pattern, the same fallback (the whole name as route).
    # `route` reads `method`, which family_rows defines first.
    op = f'trim(@"\\s+", tostring({c.name}))'
    return (
        ("method", f"extract(@'{OPERATION}', 1, {op})"),
        ("route", f"iff(method == \"\", tostring({c.name}), extract(@'{OPERATION}', 2, {op}))"),
    )


@dataclass(frozen=True)
class Family:
    """A Castiel series family the collector builds from one Application Insights table: its
    rows, and each label as a KQL expression over them."""

    name: str
    table: Callable[[Columns], str]
    durations: bool
    """True: a histogram of `d` (seconds); False: events counted by `w`."""
    labels: Callable[[Columns], tuple[tuple[str, str], ...]]
    where: Callable[[Columns], str] | None = None

    def label_names(self, c: Columns) -> tuple[str, ...]:
        return tuple(name for name, _ in self.labels(c))


def _db_where(c: Columns) -> str:
    types = ", ".join(kql_string(t) for t in sorted(DB_TYPES))
    return f"tolower(tostring({c.dependency_type})) in ({types})"


def _dependency_labels(c: Columns) -> tuple[tuple[str, str], ...]:
    return (
        ("type", f"tostring({c.dependency_type})"),
        ("target", f"tostring({c.target})"),
        ("name", f"tostring({c.name})"),
    )


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "castiel_http_request_duration_seconds",
            lambda c: c.requests,
            True,
            _operation_labels,
        ),
        Family(
            "castiel_http_requests_total",
            lambda c: c.requests,
            False,
            lambda c: (*_operation_labels(c), ("status", f"tostring({c.result_code})")),
        ),
        Family(
            "castiel_dependency_duration_seconds",
            lambda c: c.dependencies,
            True,
            _dependency_labels,
        ),
        Family(
            "castiel_dependency_calls_total",
            lambda c: c.dependencies,
            False,
            lambda c: (
                *_dependency_labels(c)[:2],
                ("success", f'iff(tobool({c.success}), "true", "false")'),
            ),
        ),
        Family(
            "castiel_db_query_duration_seconds",
            lambda c: c.dependencies,
            True,
            lambda c: (("query", f"tostring({c.name})"),),
            _db_where,
        ),
        Family(
            "castiel_exceptions_total",
            lambda c: c.exceptions,
            False,
            lambda c: (("type", f"tostring({c.exception_type})"),),
        ),
    )
}


def family_rows(schema: Schema, family: Family, roles: Sequence[str] = ()) -> list[str]:
    """The family's rows with `d`, `w` and every label as a column, over the caller's time
    range: the start of a budget's query (filters and a summary follow)."""
    c = SCHEMAS[schema]
    lines = _select(family.table(c), c, None, roles)
    if family.where is not None:
        lines.append(f"| where {family.where(c)}")
    # One extend per label: a label may read the one before it.
    lines += [f"| extend {k} = {v}" for k, v in family.labels(c)]
    return lines


@dataclass(frozen=True)
class LabelFilter:
    """A label matcher as a KQL predicate; regexes are fully anchored (RE2, as in PromQL)."""

    label: str
    pattern: str
    regex: bool = False
    negate: bool = False

    def kql(self) -> str:
        if not self.regex:
            return f"{self.label} {'!=' if self.negate else '=='} {kql_string(self.pattern)}"
        test = f"{self.label} matches regex {kql_string(f'^(?:{self.pattern})$')}"
        return f"not({test})" if self.negate else test


def all_of(filters: Sequence[LabelFilter]) -> str:
    """A KQL predicate true when every filter holds (`true` for none)."""
    return " and ".join(f.kql() for f in filters) or "true"


def kql_number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(float(value))

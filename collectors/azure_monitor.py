"""Azure Monitor / Application Insights as a Castiel source: KQL through azure-monitor-query's
`LogsQueryClient`, platform metrics (e.g. Azure Cache for Redis server load) through
azure-monitor-querymetrics' `MetricsClient`.

Series carry the names the other collectors use, so one budget file serves every source:

* requests (by operation; `GET /orders/{id}` becomes method + route):
  `castiel_http_request_duration_seconds{route,method}` interval histograms and
  `...:p50/p95/p99` gauges; `castiel_http_requests_total{route,method,status}` increments;
  `castiel_http_error_ratio{route}` (the share with `Success == false`);
* dependencies (by type and target): `castiel_dependency_duration_seconds{type,target,name}`
  histograms and `...:p95` gauges, `castiel_dependency_calls_total{type,target,success}`;
  SQL-like types also as `castiel_db_query_duration_seconds{query}` for database budgets;
* exceptions: `castiel_exceptions_total{type}`.

Durations become histograms without losing more than the store's own 1 %: KQL puts each
duration in the store's log bucket (`ceiling(log(d) / log(GAMMA))`, the index
`collectors.model.bucket_index` computes) and counts per bucket, so the interval histograms
are the ones an in-process recorder would have built, and merge with them. Counts and
percentiles are weighted by `ItemCount` (Application Insights sampling).

Two schemas: `workspace` (workspace-based resources: `AppRequests`, `DurationMs`,
`TimeGenerated`...) queried with `query_workspace`, and `classic` (`requests`, `duration`,
`timestamp`...) queried on the Application Insights resource id with `query_resource`.

Live collection (`collect(now)`) selects records by `ingestion_time()`, not by event time:
Application Insights ingests minutes late, and windows by ingestion time follow each other
without overlap, so every record is counted once, when it arrives. `collect_range` reads a
finished period by event time (`bin_at(TimeGenerated, step, start)`), once ingestion is done.

Failures are never silent: throttling (429, honouring Retry-After without blocking the
monitor loop), access (401/403), bad queries (400) and unreachable endpoints raise
`CollectorError` with a clear message, and the window is kept so the next successful call
covers it. A partial result raises too (`PartialPolicy.ERROR`), or with `NO_DATA` drops that
query's series for the interval and records why in `problems` and
`castiel_source_query_ok{source,query} = 0`.

The azure packages are imported lazily: azure.core imports `requests`, which must not be
imported before locust in a process that runs both (docs/fleet.md).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np

from collectors.azure_kql import (
    DB_TYPES,
    DEFAULT_QUANTILES,
    SCHEMAS,
    Schema,
    Window,
    dependencies_count_kql,
    dependencies_histogram_kql,
    dependencies_percentiles_kql,
    exceptions_kql,
    requests_count_kql,
    requests_histogram_kql,
    requests_percentiles_kql,
    split_operation,
)
from collectors.base import CollectorError
from collectors.model import Batch, Histogram, SeriesKey

log = logging.getLogger("castiel.collectors.azure")


class PartialPolicy(StrEnum):
    ERROR = "error"
    """A partial result fails the whole collection (CollectorError with the service's text)."""
    NO_DATA = "no-data"
    """A partial result drops that query's series for the interval (budgets see no data)."""


class AzureMonitorError(CollectorError):
    """Azure Monitor did not answer usefully; the message says why and what to do."""


class AzureThrottled(AzureMonitorError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- pure: rows -> Batch -------------------------------------------------------------------------

Row = Mapping[str, Any]


def _http_labels(operation: str) -> dict[str, str]:
    method, route = split_operation(str(operation))
    return {"route": route, "method": method} if method else {"route": route}


def _when(row: Row) -> float:
    t = row["t"]
    return t.timestamp() if isinstance(t, datetime) else float(t)


def histograms_from_rows(
    rows: Iterable[Row], labels: Callable[[Row], dict[str, str]]
) -> dict[tuple[float, SeriesKey], Histogram]:
    """Rows of `_histogram_summary` → one Histogram per (time, series)."""
    groups: dict[tuple[float, str, tuple[tuple[str, str], ...]], list[Row]] = {}
    for row in rows:
        key = SeriesKey.of("", labels(row))
        groups.setdefault((_when(row), key.name, key.labels), []).append(row)
    out: dict[tuple[float, SeriesKey], Histogram] = {}
    for (t, _, lbl), group in groups.items():
        buckets = {int(r["b"]): int(r["n"] or 0) for r in group if r["b"] is not None}
        zero = sum(int(r["n"] or 0) for r in group if r["b"] is None)
        if buckets:
            offset = min(buckets)
            counts = np.zeros(max(buckets) - offset + 1, dtype=np.int64)
            for b, n in buckets.items():
                counts[b - offset] += n
        else:
            offset, counts = 0, np.zeros(0, dtype=np.int64)
        h = Histogram(
            offset,
            counts,
            zero,
            float(sum(float(r["total"] or 0.0) for r in group)),
            min(float(r["lo"]) for r in group),
            max(float(r["hi"]) for r in group),
        )
        if h.count:
            out[(t, SeriesKey("", lbl))] = h
    return out


def add_request_histograms(batch: Batch, rows: Iterable[Row], step: float) -> None:
    found = histograms_from_rows(rows, lambda r: _http_labels(r["operation"]))
    for (t, key), h in sorted(found.items(), key=lambda kv: kv[0]):
        name = SeriesKey.of("castiel_http_request_duration_seconds", key.label_dict)
        batch.add_histogram(name, t - step, t, h)


def add_request_counts(batch: Batch, rows: Iterable[Row]) -> None:
    """Increments per route/method/status and the failed share per route (`Success`)."""
    counts: dict[tuple[float, SeriesKey], float] = {}
    per_route: dict[tuple[float, str], list[float]] = {}
    for r in rows:
        t, n = _when(r), float(r["n"] or 0)
        labels = {**_http_labels(r["operation"]), "status": str(r["status"])}
        key = SeriesKey.of("castiel_http_requests_total", labels)
        counts[(t, key)] = counts.get((t, key), 0.0) + n
        tally = per_route.setdefault((t, labels["route"]), [0.0, 0.0])
        tally[0] += n
        tally[1] += 0.0 if r["ok"] else n
    for (t, key), n in sorted(counts.items(), key=lambda kv: kv[0]):
        batch.add_increment(key, t, n)
    for (t, route), (total, failed) in sorted(per_route.items()):
        if total > 0:
            batch.add_gauge(
                SeriesKey.of("castiel_http_error_ratio", {"route": route}), t, failed / total
            )


def add_percentiles(
    batch: Batch,
    rows: Iterable[Row],
    family: str,
    labels: Callable[[Row], dict[str, str]],
    quantiles: Sequence[float],
) -> None:
    for r in rows:
        for q in quantiles:
            v = r.get(f"p{q:g}")
            if v is not None and math.isfinite(float(v)):
                batch.add_gauge(SeriesKey.of(f"{family}:p{q:g}", labels(r)), _when(r), float(v))


def _dep_labels(r: Row) -> dict[str, str]:
    return {"type": str(r["dep_type"]), "target": str(r["dep_target"])}


def add_dependency_histograms(
    batch: Batch, rows: Iterable[Row], step: float, db_types: frozenset[str] = DB_TYPES
) -> None:
    found = histograms_from_rows(rows, lambda r: {**_dep_labels(r), "name": str(r["dep_name"])})
    for (t, key), h in sorted(found.items(), key=lambda kv: kv[0]):
        labels = key.label_dict
        batch.add_histogram(
            SeriesKey.of("castiel_dependency_duration_seconds", labels), t - step, t, h
        )
        if labels["type"].lower() in db_types:
            db = SeriesKey.of("castiel_db_query_duration_seconds", {"query": labels["name"]})
            batch.add_histogram(db, t - step, t, h)


def add_dependency_counts(batch: Batch, rows: Iterable[Row]) -> None:
    for r in rows:
        labels = {**_dep_labels(r), "success": "true" if r["ok"] else "false"}
        batch.add_increment(
            SeriesKey.of("castiel_dependency_calls_total", labels), _when(r), float(r["n"] or 0)
        )


def add_exceptions(batch: Batch, rows: Iterable[Row]) -> None:
    for r in rows:
        key = SeriesKey.of("castiel_exceptions_total", {"type": str(r["exc_type"])})
        batch.add_increment(key, _when(r), float(r["n"] or 0))


def rows_of(tables: Sequence[Any]) -> list[dict[str, Any]]:
    """The first table of a LogsQueryResult as dicts (column name → value)."""
    if not tables:
        return []
    table = tables[0]
    return [dict(zip(table.columns, list(row), strict=False)) for row in table.rows]


# --- errors --------------------------------------------------------------------------------------


def explain(exc: Exception, target: str, now: float | None = None) -> AzureMonitorError:
    """An azure-core exception → one clear message (never a token or a traceback)."""
    from azure.core.exceptions import (  # noqa: PLC0415 - azure stays out of locust processes
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return AzureMonitorError(f"Azure Monitor at {target} does not answer: {_first_line(exc)}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        detail = _service_detail(exc)
        if status == 429:
            retry = _retry_after(exc)
            return AzureThrottled(
                f"Azure Monitor throttled queries to {target} (429 Too Many Requests); "
                f"next try in {retry:.0f} s (Retry-After). Collect less often or query fewer "
                f"series. {detail}".rstrip(),
                retry,
            )
        if status == 403:
            return AzureMonitorError(
                f"Azure Monitor refused access to {target} (403 Forbidden): the identity needs "
                f"the 'Log Analytics Reader' (or 'Monitoring Reader') role there. {detail}".rstrip()
            )
        if status == 401 or isinstance(exc, ClientAuthenticationError):
            return AzureMonitorError(
                f"Azure Monitor did not accept the credential for {target}: "
                f"{detail or _first_line(exc)} "
                "(check `az login`, the managed identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/"
                "AZURE_CLIENT_SECRET)"
            )
        if status == 404:
            return AzureMonitorError(f"Azure Monitor does not know {target} (404): {detail}")
        if status == 400:
            return AzureMonitorError(
                f"Azure Monitor rejected the query to {target} (400): {detail}"
            )
        if status:
            return AzureMonitorError(f"Azure Monitor answered {status} for {target}: {detail}")
    return AzureMonitorError(f"Azure Monitor query to {target} failed: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _service_detail(exc: Any) -> str:
    model = getattr(exc, "model", None)
    code = getattr(model, "code", None)
    message = getattr(model, "message", None)
    if code or message:
        return f"{code}: {message}" if code else str(message)
    return _first_line(exc)


def _retry_after(exc: Any, default: float = 60.0) -> float:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(1.0, float(raw)) if raw is not None else default
    except ValueError:
        return default


def partial_text(error: Any) -> str:
    code = getattr(error, "code", "") or ""
    message = getattr(error, "message", "") or str(error)
    return f"{code}: {message}" if code else message


# --- the collectors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    name: str
    kql: str
    add: Callable[[Batch, list[dict[str, Any]]], None]


@dataclass
class AzureMonitorCollector:
    """`AzureMonitorCollector(logs_client(), workspace_id="...")` (workspace schema) or
    `AzureMonitorCollector(logs_client(), resource_id="/subscriptions/.../components/app",
    schema=Schema.CLASSIC)`. `call_kwargs` go to every query call (tests against a local
    endpoint pass `{"enforce_https": False}`)."""

    client: Any
    workspace_id: str | None = None
    resource_id: str | None = None
    schema: Schema = Schema.WORKSPACE
    roles: tuple[str, ...] = ()
    on_partial: PartialPolicy = PartialPolicy.ERROR
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    db_types: frozenset[str] = DB_TYPES
    ingestion_lookback: float = 3600.0
    """How old (event time) a record arriving now may be; bounds the scanned data."""
    max_catch_up: float = 3600.0
    """After failures, the next window reaches back at most this far."""
    server_timeout: int | None = 60
    call_kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str = "azure-monitor"
    problems: list[str] = field(default_factory=list)
    """Why the last collection lacks some series (partial results under NO_DATA)."""
    _last: float | None = None
    _retry_at: float | None = None

    def __post_init__(self) -> None:
        if (self.workspace_id is None) == (self.resource_id is None):
            raise ValueError("give exactly one of workspace_id and resource_id")

    @property
    def target(self) -> str:
        return (
            f"workspace {self.workspace_id}"
            if self.workspace_id
            else f"resource {self.resource_id}"
        )

    def collect(self, now: float) -> Batch:
        """Records ingested since the previous successful call, stamped `now`. The first call
        only sets where the next window starts."""
        if self._retry_at is not None and now < self._retry_at:
            raise AzureThrottled(
                f"Azure Monitor throttled queries to {self.target}; next try in "
                f"{self._retry_at - now:.0f} s",
                self._retry_at - now,
            )
        if self._last is None:
            self._last = now
            return Batch()
        start = max(self._last, now - self.max_catch_up)
        window = Window(_dt(start), _dt(now))
        timespan = (_dt(start - self.ingestion_lookback), _dt(now))
        batch = self._run(window, timespan, step=now - start, now=now, when=lambda _: now)
        self._last = now
        return batch

    def collect_range(self, start: float, end: float, step: float) -> Batch:
        """A finished period by event time, in bins of `step` stamped with their end."""
        if step <= 0 or end - start < step:
            raise ValueError(f"collect_range needs 0 < step <= end - start, got step={step}")
        window = Window(_dt(start), _dt(end), timedelta(seconds=step))
        return self._run(window, (_dt(start), _dt(end)), step=step, now=end, when=None)

    def queries(self, window: Window) -> list[_Query]:
        """The KQL this collector sends for `window` (pure, so tests and docs can show it)."""
        s, r, q = self.schema, self.roles, self.quantiles
        dur = "castiel_http_request_duration_seconds"
        dep = "castiel_dependency_duration_seconds"
        step = (window.step or (window.end - window.start)).total_seconds()
        return [
            _Query(
                "requests-histogram",
                requests_histogram_kql(s, window, r),
                lambda b, rows: add_request_histograms(b, rows, step),
            ),
            _Query("requests-count", requests_count_kql(s, window, r), add_request_counts),
            _Query(
                "requests-percentiles",
                requests_percentiles_kql(s, window, r, q),
                lambda b, rows: add_percentiles(
                    b, rows, dur, lambda row: _http_labels(row["operation"]), q
                ),
            ),
            _Query(
                "dependencies-histogram",
                dependencies_histogram_kql(s, window, r),
                lambda b, rows: add_dependency_histograms(b, rows, step, self.db_types),
            ),
            _Query(
                "dependencies-count", dependencies_count_kql(s, window, r), add_dependency_counts
            ),
            _Query(
                "dependencies-percentiles",
                dependencies_percentiles_kql(s, window, r, q),
                lambda b, rows: add_percentiles(b, rows, dep, _dep_labels, q),
            ),
            _Query("exceptions", exceptions_kql(s, window, r), add_exceptions),
        ]

    def check(self) -> str:
        """One tiny query: what `castiel sources check` prints. Raises AzureMonitorError."""
        table = SCHEMAS[self.schema].requests
        rows = self._query(f"{table} | take 1 | count", timedelta(hours=1), 0.0)
        n = rows[0].get("Count") if rows and rows[0] is not None else None
        return f"Log Analytics answers ({self.schema} schema, {table}: {n} sampled rows in 1 h)"

    def _run(
        self,
        window: Window,
        timespan: tuple[datetime, datetime],
        *,
        step: float,
        now: float,
        when: Callable[[Any], float] | None,
    ) -> Batch:
        batch = Batch()
        self.problems = []
        for query in self.queries(window):
            rows = self._query(query.kql, timespan, now, query.name)
            ok = rows is not None
            if rows is not None:
                if when is not None:
                    for row in rows:
                        row["t"] = when(row["t"])
                query.add(batch, rows)
            batch.add_gauge(
                SeriesKey.of("castiel_source_query_ok", {"source": self.name, "query": query.name}),
                now,
                1.0 if ok else 0.0,
            )
        return batch

    def _query(
        self, kql: str, timespan: Any, now: float, name: str = "check"
    ) -> list[dict[str, Any]] | None:
        """Rows of the first table; None when a partial result is dropped (NO_DATA)."""
        from azure.core.exceptions import AzureError  # noqa: PLC0415 - see module docstring

        kwargs: dict[str, Any] = {"timespan": timespan, **self.call_kwargs}
        if self.server_timeout:
            kwargs["server_timeout"] = self.server_timeout
        try:
            if self.workspace_id is not None:
                result = self.client.query_workspace(self.workspace_id, kql, **kwargs)
            else:
                result = self.client.query_resource(self.resource_id, kql, **kwargs)
        except AzureError as exc:
            err = explain(exc, self.target)
            if isinstance(err, AzureThrottled):
                self._retry_at = now + err.retry_after
            raise err from None
        self._retry_at = None
        partial = getattr(result, "partial_error", None)
        if partial is not None or hasattr(result, "partial_data"):
            text = (
                f"Azure Monitor returned a partial result for the {name} query on "
                f"{self.target}: {partial_text(partial)}"
            )
            if self.on_partial is PartialPolicy.ERROR:
                raise AzureMonitorError(text + " (on_partial: error)")
            log.warning("%s; its series have no data this interval (on_partial: no-data)", text)
            self.problems.append(text)
            return None
        return rows_of(getattr(result, "tables", []) or [])


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def logs_client(
    endpoint: str = "https://api.loganalytics.io", credential: Any = None, **kwargs: Any
) -> Any:
    """A `LogsQueryClient`; without a credential, `DefaultAzureCredential` (environment,
    workload/managed identity, Azure CLI ...). Retries are off by default: a throttled or
    failing query must not block the monitor loop, which retries on its next interval."""
    from azure.monitor.query import LogsQueryClient  # noqa: PLC0415 - see module docstring

    kwargs.setdefault("retry_total", 0)
    return LogsQueryClient(credential or default_credential(), endpoint=endpoint, **kwargs)


def default_credential() -> Any:
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - see module docstring

    return DefaultAzureCredential()


# --- platform metrics (azure-monitor-querymetrics) -----------------------------------------------


def snake(name: str) -> str:
    """`serverLoad` → `server_load`, `Percentage CPU` → `percentage_cpu`."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def resource_name(metric_id: str) -> str:
    """`/subscriptions/s/.../Redis/cache1/providers/Microsoft.Insights/metrics/serverLoad` →
    `cache1`."""
    resource = re.split(r"/providers/microsoft\.insights/metrics", metric_id, flags=re.I)[0]
    return resource.rstrip("/").rsplit("/", 1)[-1]


def metrics_batch(results: Iterable[Any], now: float, aggregation: str) -> Batch:
    """MetricsQueryResults → gauges `azure_<metric>{resource, aggregation, dimensions...}`
    holding each time series' latest value (points without a value are no data)."""
    batch = Batch()
    field_name = aggregation.lower()
    for result in results:
        for metric in getattr(result, "metrics", []) or []:
            resource = resource_name(str(metric.id or ""))
            for series in metric.timeseries or []:
                raw = [getattr(p, field_name, None) for p in series.data or []]
                values = [float(v) for v in raw if v is not None]
                if not values:
                    continue
                labels = {
                    **{snake(k): str(v) for k, v in (series.metadata_values or {}).items()},
                    "resource": resource,
                    "aggregation": field_name,
                }
                batch.add_gauge(
                    SeriesKey.of(f"azure_{snake(metric.name)}", labels), now, values[-1]
                )
    return batch


@dataclass
class AzureMetricsCollector:
    """Platform metrics of Azure resources, e.g. Azure Cache for Redis:
    `AzureMetricsCollector(metrics_client("https://westeurope.metrics.monitor.azure.com"),
    resource_ids=[...], namespace="Microsoft.Cache/redis", metric_names=("serverLoad",))`."""

    client: Any
    resource_ids: tuple[str, ...]
    namespace: str
    metric_names: tuple[str, ...]
    aggregation: str = "Maximum"
    granularity: float = 60.0
    lookback: float = 600.0
    call_kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str = "azure-metrics"

    def collect(self, now: float) -> Batch:
        from azure.core.exceptions import AzureError  # noqa: PLC0415 - see module docstring

        try:
            results = self.client.query_resources(
                resource_ids=list(self.resource_ids),
                metric_namespace=self.namespace,
                metric_names=list(self.metric_names),
                timespan=(_dt(now - self.lookback), _dt(now)),
                granularity=timedelta(seconds=self.granularity),
                aggregations=[self.aggregation],
                **self.call_kwargs,
            )
        except AzureError as exc:
            raise explain(exc, f"metrics of {self.namespace}") from None
        return metrics_batch(results, now, self.aggregation)

    def check(self) -> str:
        batch = self.collect(datetime.now(UTC).timestamp())
        return f"Azure metrics answer ({len(batch)} series of {self.namespace})"


def metrics_client(endpoint: str, credential: Any = None, **kwargs: Any) -> Any:
    """A `MetricsClient` (package azure-monitor-querymetrics) for a regional endpoint."""
    from azure.monitor.querymetrics import MetricsClient  # noqa: PLC0415 - see module docstring

    kwargs.setdefault("retry_total", 0)
    return MetricsClient(endpoint, credential or default_credential(), **kwargs)

"""PromQLCollector: Castiel series from a Prometheus server (fleet scale), over its HTTP API
(`/api/v1/query`, `/api/v1/query_range`, `/api/v1/label/__name__/values`).

The series it produces have the names the scrape and runtime collectors produce, so the same
budgets run against either source:

* every metric family matching `metrics` (default `castiel_.+`), mapped like a scrape
  (`collectors.exposition`): `*_total` counters become increments, classic histograms become
  interval histograms via `Histogram.from_cumulative_buckets` (so a percentile is merged from
  histograms exactly like the other collectors'), anything else is a gauge. How counts are
  taken is the `CountMethod`: `exact` differences the stored cumulative series here, per
  instance, and equals a direct scrape; `increase` asks the server for
  `sum without (instance, job) (increase(x[W]))` per series and per `le`, which scales to
  large fleets but is an estimate (PromQL extrapolates each window);
* derived gauges for comparison and dashboards: `histogram_quantile` of every histogram family
  (`<family>:p95` ...), `castiel_http_requests_per_second` and `castiel_http_error_ratio{route}`;
* `castiel_scrape_up{instance}` from Prometheus' own `up`;
* user-supplied named expressions (`NamedQuery`), mapped to a series name of their choosing;
  `expression_series` evaluates one over a period for budgets that name PromQL directly.

`W` is the interval since the previous `collect` (windows follow each other without overlap)
or the `step` of `collect_range`; collect at least two scrape intervals apart. docs/fleet.md
gives the tolerances measured against a direct scrape.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from collectors.base import CollectorError
from collectors.exposition import IntervalTracker, Sample
from collectors.model import (
    Batch,
    Histogram,
    HistogramPoint,
    MetricKind,
    Point,
    SeriesData,
    SeriesKey,
)

log = logging.getLogger("castiel.collectors.promql")

DEFAULT_METRICS = "castiel_.+"
DEFAULT_WITHOUT = ("instance", "job")
DEFAULT_QUANTILES = (0.5, 0.95, 0.99)
HTTP_REQUESTS = "castiel_http_requests_total"
MAX_GAUGES = frozenset({"castiel_queue_jobs", "castiel_workers"})
"""Gauges every instance reports alike (queue depth read from Redis): combined with `max`,
not `sum`, across instances."""


class PrometheusError(CollectorError):
    """Prometheus did not answer, or answered with something that is not its API."""


class PromQLQueryError(PrometheusError):
    """Prometheus rejected an expression (bad syntax, unknown function, too many points)."""


class QueryKind(StrEnum):
    GAUGE = "gauge"
    """Each result is a reading at the evaluation time."""
    COUNTER = "counter"
    """Each result is an increase during the window (write `increase(x[$__interval])`)."""
    HISTOGRAM = "histogram"
    """Results carry `le`: per-bucket increases during the window
    (`sum by (le, route) (increase(x_bucket[$__interval]))`)."""


INTERVAL_PLACEHOLDER = "$__interval"


@dataclass(frozen=True)
class NamedQuery:
    """A user-supplied PromQL expression producing the series `name` (labels from the
    result). `$__interval` in `expr` is replaced by the window (`15s`)."""

    name: str
    expr: str
    kind: QueryKind = QueryKind.GAUGE


@dataclass(frozen=True)
class PromSeries:
    """One result series: labels (without `__name__`) and `(timestamp, value)` points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


# --- pure: expressions -----------------------------------------------------------------------


_DURATION_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def promql_duration(seconds: float) -> str:
    """A PromQL (and Alertmanager) duration in the largest exact unit: `15s`, `1500ms`, `5m`,
    `6h`, `3d` (never below 1ms)."""
    ms = max(1, round(seconds * 1000))
    unit, size = next((u, n) for u, n in _DURATION_UNITS if ms % n == 0)
    return f"{ms // size}{unit}"


def vector_selector(metric: str, matchers: str = "", extra: str = "") -> str:
    """`metric{matchers,extra}`; `matchers` is the body of a label selector (`job="shop"`)."""
    body = ",".join(m for m in (matchers.strip(), extra.strip()) if m)
    return f"{metric}{{{body}}}" if body else metric


def _without(labels: Sequence[str]) -> str:
    return f"without ({', '.join(labels)})"


def increase_expr(
    metric: str, window: float, matchers: str = "", without: Sequence[str] = DEFAULT_WITHOUT
) -> str:
    sel = vector_selector(metric, matchers)
    return f"sum {_without(without)} (increase({sel}[{promql_duration(window)}]))"


def gauge_expr(
    metric: str, matchers: str = "", without: Sequence[str] = DEFAULT_WITHOUT, agg: str = "sum"
) -> str:
    return f"{agg} {_without(without)} ({vector_selector(metric, matchers)})"


def quantile_expr(
    family: str,
    q: float,
    window: float,
    matchers: str = "",
    without: Sequence[str] = DEFAULT_WITHOUT,
) -> str:
    sel = vector_selector(f"{family}_bucket", matchers)
    inner = f"sum {_without(without)} (rate({sel}[{promql_duration(window)}]))"
    return f"histogram_quantile({q:g}, {inner})"


def rate_expr(
    metric: str, window: float, matchers: str = "", without: Sequence[str] = DEFAULT_WITHOUT
) -> str:
    sel = vector_selector(metric, matchers)
    return f"sum {_without(without)} (rate({sel}[{promql_duration(window)}]))"


def error_ratio_expr(
    window: float, matchers: str = "", error_status: str = "5..", by: str = "route"
) -> str:
    """Share of requests per route whose status matches `error_status`; routes without errors
    read 0 (not absent), routes without traffic are absent (no data, not 0)."""
    w = promql_duration(window)
    errors = vector_selector(HTTP_REQUESTS, matchers, f'status=~"{_escape(error_status)}"')
    every = vector_selector(HTTP_REQUESTS, matchers)
    total = f"sum by ({by}) (rate({every}[{w}]))"
    return f"(sum by ({by}) (rate({errors}[{w}])) or {total} * 0) / {total}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def names_matcher(metrics: str, matchers: str = "") -> str:
    """The series selector that finds the metric names to collect."""
    return vector_selector("", matchers, f'__name__=~"{_escape(metrics)}"')


def quantile_name(family: str, q: float) -> str:
    """`castiel_http_request_duration_seconds:p95` (`:p99.9` for 0.999)."""
    return f"{family}:p{q * 100:g}"


def substitute_interval(expr: str, window: float) -> str:
    return expr.replace(INTERVAL_PLACEHOLDER, promql_duration(window))


@dataclass(frozen=True)
class Families:
    counters: tuple[str, ...] = ()
    histograms: tuple[str, ...] = ()
    gauges: tuple[str, ...] = ()


def classify(names: Iterable[str]) -> Families:
    """Sort metric names into families the way a scrape is sorted (collectors.exposition):
    `x_bucket` makes `x` a histogram (its `_sum`/`_count` belong to it), `_total` a counter,
    `_created` is dropped, the rest are gauges."""
    names = set(names)
    histograms = {n[: -len("_bucket")] for n in names if n.endswith("_bucket")}
    parts = {f"{h}{suffix}" for h in histograms for suffix in ("_bucket", "_sum", "_count")}
    counters: list[str] = []
    gauges: list[str] = []
    for n in sorted(names - parts):
        if n.endswith("_created"):
            continue
        (counters if n.endswith("_total") else gauges).append(n)
    return Families(tuple(counters), tuple(sorted(histograms)), tuple(gauges))


# --- pure: results -> Batch ------------------------------------------------------------------


def _key(name: str, labels: Mapping[str, str], drop: Iterable[str] = ()) -> SeriesKey:
    skip = {"__name__", *drop}
    return SeriesKey.of(name, {k: v for k, v in labels.items() if k not in skip})


def add_gauges(batch: Batch, name: str, series: Iterable[PromSeries]) -> None:
    """NaN/Inf readings (`histogram_quantile` or a ratio without traffic) are no data."""
    for s in series:
        key = _key(name, s.labels)
        for t, v in s.points:
            if math.isfinite(v):
                batch.add_gauge(key, t, v)


def add_increments(batch: Batch, name: str, series: Iterable[PromSeries]) -> None:
    for s in series:
        key = _key(name, s.labels)
        for t, v in s.points:
            if math.isfinite(v):
                batch.add_increment(key, t, max(0.0, v))


def _le(text: str) -> float:
    return math.inf if text in ("+Inf", "Inf", "inf") else float(text)


def add_histograms(
    batch: Batch,
    name: str,
    buckets: Iterable[PromSeries],
    sums: Iterable[PromSeries] = (),
    window: float = 0.0,
) -> None:
    """Per-`le` window increases → one interval histogram per label set and timestamp,
    covering `(t - window, t]`. Extrapolated increases are fractional and their rounding can
    break monotonicity across `le`, so cumulative counts are made monotonic first (as
    PromQL's `histogram_quantile` does)."""
    grouped: dict[tuple[SeriesKey, float], list[tuple[float, float]]] = {}
    for s in buckets:
        if "le" not in s.labels:
            continue
        le = _le(s.labels["le"])
        key = _key(name, s.labels, ("le",))
        for t, v in s.points:
            if math.isfinite(v):
                grouped.setdefault((key, t), []).append((le, max(0.0, v)))
    totals: dict[tuple[SeriesKey, float], float] = {}
    for s in sums:
        key = _key(name, s.labels)
        for t, v in s.points:
            if math.isfinite(v):
                totals[(key, t)] = max(0.0, v)
    for (key, t), pairs in sorted(grouped.items()):
        cumulative: list[tuple[float, float]] = []
        running = 0.0
        for le, count in sorted(pairs):
            running = max(running, count)
            cumulative.append((le, running))
        h = Histogram.from_cumulative_buckets(cumulative, totals.get((key, t), 0.0))
        if h.count:
            batch.add_histogram(key, t - window, t, h)


def batch_series(batch: Batch) -> list[SeriesData]:
    """A Batch as the evaluator reads series (sorted by time)."""
    scalars: dict[SeriesKey, tuple[MetricKind, list[Point]]] = {}
    for s in batch.scalars:
        scalars.setdefault(s.key, (s.kind, []))[1].append(s.point)
    hists: dict[SeriesKey, list[HistogramPoint]] = {}
    for h in batch.histograms:
        hists.setdefault(h.key, []).append(h.point)
    out = [
        SeriesData(k, kind, tuple(sorted(points, key=lambda p: p.timestamp)))
        for k, (kind, points) in scalars.items()
    ]
    out += [
        SeriesData(k, MetricKind.HISTOGRAM, histograms=tuple(sorted(pts, key=lambda p: p.end)))
        for k, pts in hists.items()
    ]
    return sorted(out, key=lambda s: s.key)


def parse_response(payload: Any) -> list[PromSeries]:
    """The `data` of an instant or range query → series. Raises PrometheusError."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        raise PrometheusError(f"not a Prometheus API answer: {str(payload)[:200]}")
    data = payload.get("data") or {}
    kind = data.get("resultType")
    result: Any = data.get("result") or []
    try:
        if kind == "vector":
            return [
                PromSeries(dict(r["metric"]), ((float(r["value"][0]), float(r["value"][1])),))
                for r in result
            ]
        if kind == "matrix":
            return [
                PromSeries(dict(r["metric"]), tuple((float(t), float(v)) for t, v in r["values"]))
                for r in result
            ]
        if kind == "scalar":
            return [PromSeries({}, ((float(result[0]), float(result[1])),))]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PrometheusError(f"malformed Prometheus {kind} result: {exc}") from None
    raise PrometheusError(f"unsupported PromQL result type {kind!r} (expected a vector)")


# --- I/O: the HTTP API -----------------------------------------------------------------------


def redact(url: str) -> str:
    """A URL fit for messages: no user info, no query string."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]  # several host:port pairs for a Redis Cluster
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class PrometheusClient:
    """A small client of the Prometheus HTTP API. `headers` carry authentication (e.g.
    `Authorization: Bearer ...`); they never appear in messages."""

    url: str
    timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def query(self, expr: str, at: float | None = None) -> list[PromSeries]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return parse_response(self._call("/api/v1/query", params, expr))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[PromSeries]:
        params = {
            "query": expr,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": promql_duration(step),
        }
        return parse_response(self._call("/api/v1/query_range", params, expr))

    def metric_names(
        self, match: str, start: float | None = None, end: float | None = None
    ) -> list[str]:
        params = {"match[]": match}
        if start is not None and end is not None:
            params |= {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        payload = self._call("/api/v1/label/__name__/values", params, match, method="GET")
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise PrometheusError(f"not a Prometheus label-values answer: {str(payload)[:200]}")
        return [str(n) for n in data]

    def build_info(self) -> dict[str, str]:
        payload = self._call("/api/v1/status/buildinfo", {}, "", method="GET")
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise PrometheusError(f"not a Prometheus buildinfo answer: {str(payload)[:200]}")
        return {str(k): str(v) for k, v in data.items()}

    def _call(self, path: str, params: Mapping[str, str], expr: str, method: str = "POST") -> Any:
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise PrometheusError(
                f"Prometheus URL {redact(self.url)!r} must be http:// or https://"
            )
        encoded = urllib.parse.urlencode(params)
        base = self.url.rstrip("/") + path
        headers = {"Accept": "application/json", **self.headers}
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = urllib.request.Request(base, encoded.encode(), headers, method="POST")  # noqa: S310
        else:
            url = f"{base}?{encoded}" if encoded else base
            req = urllib.request.Request(url, None, headers)  # noqa: S310
        where = redact(self.url)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise _http_error(err, where, expr) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"Prometheus at {where} does not answer: {reason}") from None
        try:
            payload = json.loads(raw)
        except ValueError:
            raise PrometheusError(
                f"Prometheus at {where} answered {path} with something that is not JSON "
                f"(is the URL a Prometheus server?): {raw[:120]!r}"
            ) from None
        warnings = payload.get("warnings") if isinstance(payload, dict) else None
        for warning in warnings or ():
            log.warning("Prometheus at %s warns about %r: %s", where, expr, warning)
        return payload


def _http_error(err: urllib.error.HTTPError, where: str, expr: str) -> PrometheusError:
    try:
        body = json.loads(err.read() or b"{}")
    except (ValueError, OSError):
        body = {}
    detail = body.get("error") if isinstance(body, dict) else None
    kind = body.get("errorType", "") if isinstance(body, dict) else ""
    if err.code in (400, 422) and detail:
        return PromQLQueryError(f"Prometheus at {where} rejected {expr!r}: {kind}: {detail}")
    if err.code in (401, 403):
        return PrometheusError(
            f"Prometheus at {where} refused access ({err.code} {err.reason}): check the "
            "headers (credentials) configured for it"
        )
    return PrometheusError(
        f"Prometheus at {where} answered {err.code} {err.reason}"
        + (f": {detail}" if detail else "")
    )


# --- the collector ---------------------------------------------------------------------------


class CountMethod(StrEnum):
    EXACT = "exact"
    """Read the cumulative series as stored (one query for all of them) and difference them
    here, per instance, exactly as a scrape is: counts and histograms equal what a direct
    scrape at the same instants gives. Series keep an `instance` label."""
    INCREASE = "increase"
    """`sum without (instance, job) (increase(...[W]))` on the server: one aggregated series
    per label set however many instances, so it scales to large fleets, but PromQL
    extrapolates each window and misses counts between the last sample of one window and the
    first of the next, so counts are estimates (docs/fleet.md)."""


def readings_by_time(
    series: Iterable[PromSeries], drop: Iterable[str] = ("job",)
) -> dict[float, dict[str, list[Sample]]]:
    """Raw series (with `__name__`) → {evaluation time: {instance: samples}}, the shape
    `IntervalTracker` reads scrapes in."""
    skip = {"__name__", "instance", *drop}
    out: dict[float, dict[str, list[Sample]]] = {}
    for s in series:
        name = s.labels.get("__name__")
        if not name:
            continue
        source = s.labels.get("instance", "")
        labels = {k: v for k, v in s.labels.items() if k not in skip}
        for t, v in s.points:
            out.setdefault(t, {}).setdefault(source, []).append((name, labels, v))
    return out


Runner = Callable[[str], list[PromSeries]]


@dataclass
class PromQLCollector:
    """`PromQLCollector(PrometheusClient("http://127.0.0.1:9090"), matchers='job="shop"')`.

    `matchers` restricts every default query (label matchers, PromQL syntax). `method` chooses
    how counters and histograms are counted (`CountMethod`). With `increase`, `without` are
    the labels summed away (the fleet view) and `max_gauges` are gauges every instance
    reports alike (queue depth read from Redis), aggregated with `max` instead of `sum`."""

    client: PrometheusClient
    matchers: str = ""
    metrics: str = DEFAULT_METRICS
    method: CountMethod = CountMethod.EXACT
    without: tuple[str, ...] = DEFAULT_WITHOUT
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    error_status: str = "5.."
    max_gauges: frozenset[str] = MAX_GAUGES
    queries: tuple[NamedQuery, ...] = ()
    defaults: bool = True
    """False: only the named `queries` (and `castiel_scrape_up`)."""
    min_window: float = 10.0
    """Rates and quantiles look back at least this long (they may overlap); counts PromQL
    computes (`increase` method, counter and histogram queries) are taken every this long,
    each over the time since the previous ones, so windows never overlap and always hold
    the two samples `increase` needs. Make it at least two scrape intervals."""
    name: str = "promql"
    _last: float | None = None
    _counts_from: float | None = None
    _tracker: IntervalTracker = field(default_factory=lambda: IntervalTracker("instance"))

    def collect(self, now: float) -> Batch:
        """Gauges at `now`; increments and histograms for `(previous now, now]` (none on the
        first call: it only sets where the next window starts). Counts computed by the
        server (method `increase`, counter and histogram queries) come every `min_window`
        instead, covering the time since their previous evaluation."""
        first = self._last is None
        window = now - self._last if self._last is not None else self.min_window
        if window <= 0:
            return Batch()

        def run(expr: str) -> list[PromSeries]:
            return retime(self.client.query(expr, at=now), lambda _: now)

        lookback = max(window, self.min_window)
        counts_from = now if self._counts_from is None else self._counts_from
        count_window = now - counts_from
        # Server-side increases over one tick (often shorter than a scrape interval) would
        # see fewer than two samples and return nothing: gather them every min_window.
        counts = count_window >= self.min_window
        batch = self._common(run, count_window if counts else window, lookback, counts=counts)
        if self.defaults and self.method is CountMethod.EXACT:
            readings = readings_by_time(run(self._raw_selector()))
            merged: dict[str, list[Sample]] = {}
            for by_source in readings.values():
                for source, samples in by_source.items():
                    merged.setdefault(source, []).extend(samples)
            batch.extend(self._tracker.batch(merged, now - window, now))
        elif self.defaults:
            names = self.client.metric_names(names_matcher(self.metrics, self.matchers))
            self._increase(batch, run, classify(names), count_window, counts=counts)
        self._last = now
        if first or counts:
            self._counts_from = now
        return batch

    def collect_range(self, start: float, end: float, step: float) -> Batch:
        """A whole period at once (e.g. a finished run): one point per `step` ending in
        `(start, end]`; each count and histogram covers its own step."""
        if step <= 0 or end - start < step:
            raise ValueError(f"collect_range needs 0 < step <= end - start, got step={step}")

        def snap(t: float) -> float:
            return start + round((t - start) / step) * step

        def run(expr: str) -> list[PromSeries]:
            return retime(self.client.query_range(expr, start + step, end, step), snap)

        lookback = max(step, self.min_window)
        batch = self._common(run, step, lookback, counts=True)
        if self.defaults and self.method is CountMethod.EXACT:
            raw = retime(self.client.query_range(self._raw_selector(), start, end, step), snap)
            tracker = IntervalTracker("instance")
            for i, (t, readings) in enumerate(sorted(readings_by_time(raw).items())):
                interval = tracker.batch(readings, t - step, t)
                if i > 0 or t > start + step / 2:  # the reading at `start` is the baseline
                    batch.extend(interval)
        elif self.defaults:
            names = self.client.metric_names(names_matcher(self.metrics, self.matchers), start, end)
            self._increase(batch, run, classify(names), step, counts=True)
        return batch

    def check(self) -> str:
        """What `castiel sources check` prints: version and targets up. Raises PrometheusError."""
        info = self.client.build_info()
        up = self.client.query(vector_selector("up", self.matchers))
        alive = sum(1 for s in up if s.points and s.points[-1][1] == 1.0)
        return f"Prometheus {info.get('version', '?')}, {alive}/{len(up)} targets up"

    def _raw_selector(self) -> str:
        return names_matcher(self.metrics, self.matchers)

    def _common(self, run: Runner, window: float, lookback: float, counts: bool) -> Batch:
        """`castiel_scrape_up`, the derived gauges and the named queries."""
        batch = Batch()
        up = run(vector_selector("up", self.matchers))
        add_gauges(batch, "castiel_scrape_up", [_only(s, ("instance",)) for s in up])
        if self.defaults:
            self._derived(batch, run, lookback)
        for q in self.queries:
            expr = substitute_interval(q.expr, lookback if q.kind is QueryKind.GAUGE else window)
            if q.kind is QueryKind.GAUGE:
                add_gauges(batch, q.name, run(expr))
            elif counts and q.kind is QueryKind.COUNTER:
                add_increments(batch, q.name, run(expr))
            elif counts:
                add_histograms(batch, q.name, run(expr), window=window)
        return batch

    def _derived(self, batch: Batch, run: Runner, lookback: float) -> None:
        """Quantiles of every histogram family, request rate and error ratio, computed by
        PromQL: for dashboards and for comparison with the merged histograms."""
        m, wo = self.matchers, self.without
        names = run(f"count by (__name__) ({names_matcher(self.metrics + '_bucket', m)})")
        families = sorted(
            s.labels["__name__"][: -len("_bucket")] for s in names if "__name__" in s.labels
        )
        for h in sorted(set(families)):
            for q in self.quantiles:
                add_gauges(batch, quantile_name(h, q), run(quantile_expr(h, q, lookback, m, wo)))
        add_gauges(
            batch,
            "castiel_http_requests_per_second",
            run(rate_expr(HTTP_REQUESTS, lookback, m, wo)),
        )
        add_gauges(
            batch,
            "castiel_http_error_ratio",
            run(error_ratio_expr(lookback, m, self.error_status)),
        )

    def _increase(
        self, batch: Batch, run: Runner, families: Families, window: float, counts: bool
    ) -> None:
        m, wo = self.matchers, self.without
        for g in families.gauges:
            agg = "max" if g in self.max_gauges else "sum"
            add_gauges(batch, g, run(gauge_expr(g, m, wo, agg)))
        if not counts:
            return
        for h in families.histograms:
            buckets = run(increase_expr(f"{h}_bucket", window, m, wo))
            sums = run(increase_expr(f"{h}_sum", window, m, wo))
            add_histograms(batch, h, buckets, sums, window)
        for c in families.counters:
            add_increments(batch, c, run(increase_expr(c, window, m, wo)))


def retime(series: list[PromSeries], when: Callable[[float], float]) -> list[PromSeries]:
    """Prometheus answers with millisecond timestamps; samples carry the caller's instants
    (`now`, or the exact step grid) so that series from every source line up."""
    return [PromSeries(s.labels, tuple((when(t), v) for t, v in s.points)) for s in series]


def _only(series: PromSeries, keep: Sequence[str]) -> PromSeries:
    return PromSeries({k: v for k, v in series.labels.items() if k in keep}, series.points)


# --- for budgets that name a PromQL expression -----------------------------------------------


def expression_series(
    client: PrometheusClient,
    expr: str,
    *,
    name: str,
    start: float,
    end: float,
    step: float,
    kind: QueryKind = QueryKind.GAUGE,
) -> list[SeriesData]:
    """Evaluate one PromQL expression over `(start, end]` every `step` into series named
    `name` (labels from the result), ready for the budget evaluator. `$__interval` in `expr`
    becomes `step`. Raises PromQLQueryError for a bad expression, PrometheusError when the
    server does not answer."""
    collector = PromQLCollector(
        client, defaults=False, queries=(NamedQuery(name, expr, kind),), min_window=step
    )
    batch = collector.collect_range(start, end, step)
    return [s for s in batch_series(batch) if s.key.name == name]

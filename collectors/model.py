"""The time-series model every source writes and every consumer reads.

* A **series** is a metric name plus labels (`SeriesKey`) and a `MetricKind`.
* **Points** are `(timestamp, value)`. For a `GAUGE` the value is an instantaneous reading;
  for a `COUNTER` it is the *increase during the interval ending at the timestamp* (collectors
  turn cumulative counters into increments with `CumulativeCounter`, which also handles resets),
  so sums over any window need no reset logic downstream.
* **Interval histograms** (`Histogram` inside a `HistogramPoint`) hold the distribution of the
  values observed in one interval. They are mergeable, so a percentile over any window comes from
  merging that window's interval histograms; no sample is ever kept.

Timestamps are float seconds since the Unix epoch (UTC).

Histogram buckets are logarithmic (the DDSketch mapping): bucket `i` covers
`(GAMMA**(i-1), GAMMA**i]` and reports the value `2 * GAMMA**i / (GAMMA + 1)`, so any value
read back from a bucket is within `RELATIVE_ACCURACY` (1%) of every value that went into it.
Consequences, which the docs promise:

* A percentile of values recorded with `record` is within 1% (relative) of the exact
  nearest-rank percentile of those values (clamped to the exact min and max). Every caller
  computes it with `collectors.percentile` (one rank rule, exact rank arithmetic).
* Values at or below `MIN_TRACKABLE` (1e-9, including 0) share an exact zero bucket.
  Negative values are rejected: histograms are for durations and sizes.
* Memory is bounded by the value range, not by the number of observations: about 115 buckets
  per decade, so 1 microsecond to 1 hour is at most ~1,100 buckets.
* Histograms ingested from Prometheus classic `le` buckets (`from_cumulative_buckets`) cannot be
  more precise than those buckets. Counts are spread over each `(lower, le]` range in
  proportion to its width, the same linear interpolation PromQL's `histogram_quantile` uses, so
  a percentile agrees with `histogram_quantile` to within 1% plus one observation's share of
  its classic bucket (PromQL interpolates to rank q*n, this model uses the nearest rank).
  Observations in the `+Inf` bucket are placed at the highest finite bound (as PromQL does):
  percentiles that land there are lower bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from collectors.percentile import histogram_percentiles

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
MIN_TRACKABLE = 1e-9

CountArray = npt.NDArray[np.int64]


class MetricKind(StrEnum):
    GAUGE = "gauge"
    """Points are instantaneous readings (queue depth, healthy workers)."""
    COUNTER = "counter"
    """Points are increases during the interval that ends at the point's timestamp."""
    HISTOGRAM = "histogram"
    """Interval histograms (latencies, sizes)."""


@dataclass(frozen=True, order=True)
class SeriesKey:
    """A metric name plus its labels. Labels are kept sorted so equal keys hash equally.

    Build one with `SeriesKey.of("castiel_jobs_total", {"queue": "email"})`.
    """

    name: str
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str] | None = None) -> SeriesKey:
        return cls(name, tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items())))

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def label(self, name: str, default: str = "") -> str:
        for k, v in self.labels:
            if k == name:
                return v
        return default

    def __str__(self) -> str:
        if not self.labels:
            return self.name
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}}"


@dataclass(frozen=True)
class Point:
    timestamp: float
    value: float


# --- log buckets ---------------------------------------------------------------------------


def bucket_index(value: float) -> int:
    """Index of the bucket `(GAMMA**(i-1), GAMMA**i]` holding `value` (> MIN_TRACKABLE)."""
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The value a bucket reports: within RELATIVE_ACCURACY of anything inside it."""
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


def bucket_bounds(index: int) -> tuple[float, float]:
    return GAMMA ** (index - 1), GAMMA**index


def bucket_values(offset: int, size: int) -> npt.NDArray[np.float64]:
    """Reported values of `size` consecutive buckets starting at `offset` (vectorised)."""
    idx = np.arange(offset, offset + size, dtype=np.float64)
    values: npt.NDArray[np.float64] = 2.0 * np.power(GAMMA, idx) / (GAMMA + 1.0)
    return values


# --- histograms ----------------------------------------------------------------------------


_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Histogram:
    """An immutable, mergeable distribution of non-negative values.

    `counts[k]` is the number of values in bucket `offset + k`; `zero_count` counts values
    <= MIN_TRACKABLE. `total` is the exact sum of the values (Prometheus `_sum`), `min`/`max`
    the exact extremes when recorded directly (bucket bounds when ingested from `le` buckets).
    Build with `HistogramBuilder`, `Histogram.of(values)` or `from_cumulative_buckets`.
    """

    offset: int = 0
    counts: CountArray = field(default_factory=lambda: _EMPTY)
    zero_count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @property
    def count(self) -> int:
        return int(self.counts.sum()) + self.zero_count

    @property
    def mean(self) -> float | None:
        n = self.count
        return self.total / n if n else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            self.zero_count == other.zero_count
            and self.total == other.total
            and self.min == other.min
            and self.max == other.max
            and self.sparse() == other.sparse()
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        b = HistogramBuilder()
        for v in values:
            b.record(v)
        return b.build()

    def sparse(self) -> dict[int, int]:
        """{bucket index: count} of the non-empty buckets."""
        nz = np.nonzero(self.counts)[0]
        return {int(self.offset + k): int(self.counts[k]) for k in nz}

    def merge(self, other: Histogram) -> Histogram:
        return merge_histograms((self, other))

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile, `q` in [0, 100]; None when empty. See the module docstring
        for the error bound."""
        return percentile_of(self.offset, self.counts, self.zero_count, q, lo=self.min, hi=self.max)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (sparse buckets), the inverse of `from_json`."""
        return {
            "offset": self.offset,
            "counts": [int(c) for c in self.counts],
            "zero": self.zero_count,
            "sum": self.total,
            "min": None if self.count == 0 else self.min,
            "max": None if self.count == 0 else self.max,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        counts = np.asarray(data.get("counts", []), dtype=np.int64)
        lo = data.get("min")
        hi = data.get("max")
        return cls(
            offset=int(data.get("offset", 0)),
            counts=counts,
            zero_count=int(data.get("zero", 0)),
            total=float(data.get("sum", 0.0)),
            min=math.inf if lo is None else float(lo),
            max=-math.inf if hi is None else float(hi),
        )

    @classmethod
    def from_cumulative_buckets(
        cls, buckets: Sequence[tuple[float, float]], total: float = 0.0
    ) -> Histogram:
        """Ingest Prometheus classic buckets: `[(le, cumulative_count), ...]` (any order,
        `le` may be `math.inf`), e.g. the per-interval *differences* of two scrapes (see
        `cumulative_delta`). Raises ValueError on decreasing cumulative counts."""
        ordered = sorted((float(le), float(c)) for le, c in buckets)
        builder = HistogramBuilder()
        prev_le, prev_c = 0.0, 0.0
        highest_finite = max((le for le, _ in ordered if math.isfinite(le)), default=0.0)
        lo_seen, hi_seen = math.inf, -math.inf
        for le, cum in ordered:
            n = round(cum - prev_c)
            if cum < prev_c - 1e-9:
                raise ValueError(f"cumulative bucket counts decrease at le={le}")
            if n > 0:
                if math.isfinite(le):
                    builder.record_spread(prev_le, le, n)
                    lo_seen = min(lo_seen, prev_le)
                    hi_seen = max(hi_seen, le)
                else:
                    builder.record(highest_finite, n)
                    lo_seen = min(lo_seen, highest_finite)
                    hi_seen = max(hi_seen, highest_finite)
            prev_c = max(prev_c, cum)
            if math.isfinite(le):
                prev_le = le
        h = builder.build()
        if h.count == 0:
            return Histogram(total=float(total))
        return Histogram(h.offset, h.counts, h.zero_count, float(total), lo_seen, hi_seen)


def percentile_of(
    offset: int,
    counts: CountArray,
    zero_count: int,
    q: float,
    lo: float = 0.0,
    hi: float = math.inf,
) -> float | None:
    """Nearest-rank percentile of one dense bucket array (`collectors.percentile`, the one
    implementation every caller shares)."""
    n = int(counts.sum()) + zero_count
    if n == 0:
        return None
    cum = np.cumsum(counts)
    value = histogram_percentiles(
        q,
        np.array([n], np.int64),
        np.array([zero_count], np.int64),
        np.array([lo], np.float64),
        np.array([hi], np.float64),
        lambda k: cum[k],
        int(counts.size),
        bucket_values(offset, int(counts.size)),
    )
    return float(value[0])


def merge_histograms(histograms: Iterable[Histogram]) -> Histogram:
    """One histogram holding every observation of the inputs (associative, commutative)."""
    items = [h for h in histograms if h.counts.size or h.zero_count or h.total]
    if not items:
        return Histogram()
    nonempty = [h for h in items if h.counts.size]
    zero = sum(h.zero_count for h in items)
    total = math.fsum(h.total for h in items)
    lo = min(h.min for h in items)
    hi = max(h.max for h in items)
    if not nonempty:
        return Histogram(0, _EMPTY, zero, total, lo, hi)
    start = min(h.offset for h in nonempty)
    end = max(h.offset + h.counts.size for h in nonempty)
    out = np.zeros(end - start, dtype=np.int64)
    for h in nonempty:
        out[h.offset - start : h.offset - start + h.counts.size] += h.counts
    return Histogram(start, out, zero, total, lo, hi)


class HistogramBuilder:
    """Mutable recorder for one interval: `record(v)`, then `build()` an immutable Histogram.
    Cost per record is one log and one dict update; memory is one int per occupied bucket."""

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._zero = 0
        self._total = 0.0
        self._min = math.inf
        self._max = -math.inf

    def record(self, value: float, count: int = 1) -> None:
        if count <= 0:
            if count < 0:
                raise ValueError("count must be >= 0")
            return
        if not value >= 0.0 or math.isinf(value):  # catches NaN too
            raise ValueError(f"histogram values must be finite and >= 0, got {value!r}")
        if value <= MIN_TRACKABLE:
            self._zero += count
        else:
            i = bucket_index(value)
            self._buckets[i] = self._buckets.get(i, 0) + count
        self._total += value * count
        self._min = min(self._min, value)
        self._max = max(self._max, value)

    def record_counts(self, value_counts: Mapping[float, int], scale: float = 1.0) -> None:
        """Record a `{value: count}` dict, e.g. Locust's `response_times` (milliseconds, use
        `scale=0.001` for seconds)."""
        for v, c in value_counts.items():
            self.record(v * scale, int(c))

    def record_spread(self, lower: float, upper: float, count: int) -> None:
        """Record `count` values assumed evenly spread over `(lower, upper]` (classic-bucket
        ingestion), so each log bucket gets a share proportional to its overlap.
        `total`/`min`/`max` are not touched."""
        if count <= 0:
            return
        if upper <= MIN_TRACKABLE:
            self._zero += count
            return
        if upper <= lower:
            i = bucket_index(upper)
            self._buckets[i] = self._buckets.get(i, 0) + count
            return
        # Linear spreading puts a vanishing share next to 0; below upper/1e3 it goes to zero.
        floor = max(lower, upper / 1e3, MIN_TRACKABLE)
        first, last = bucket_index(floor), bucket_index(upper)
        idx = np.arange(first, last + 1)
        edges = np.minimum(np.power(GAMMA, idx.astype(np.float64)), upper)
        edges[-1] = upper
        # Round the cumulative count at each bucket edge, not each bucket's share: the total
        # stays exact and small counts land where linear interpolation puts them instead of
        # piling into the widest buckets.
        span = upper - lower
        cum = np.rint(count * (np.concatenate(([floor], edges)) - lower) / span).astype(np.int64)
        cum[-1] = count
        per_bucket = np.diff(cum)
        for i, c in zip(idx.tolist(), per_bucket.tolist(), strict=True):
            if c:
                self._buckets[i] = self._buckets.get(i, 0) + int(c)
        self._zero += int(cum[0])

    def build(self) -> Histogram:
        if not self._buckets:
            return Histogram(0, _EMPTY, self._zero, self._total, self._min, self._max)
        start = min(self._buckets)
        counts = np.zeros(max(self._buckets) - start + 1, dtype=np.int64)
        for i, c in self._buckets.items():
            counts[i - start] = c
        return Histogram(start, counts, self._zero, self._total, self._min, self._max)


def cumulative_delta(
    previous: Sequence[tuple[float, float]] | None, current: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Per-interval cumulative `le` buckets from two scrapes of the same classic histogram.
    A counter reset (any bucket went down, or the bounds changed) returns `current` as is:
    the process restarted, so everything it counts happened since."""
    if previous is None:
        return list(current)
    prev = dict(previous)
    if set(prev) != {le for le, _ in current}:
        return list(current)
    out = [(le, c - prev[le]) for le, c in current]
    if any(c < 0 for _, c in out):
        return list(current)
    return out


@dataclass
class CumulativeCounter:
    """Turns cumulative readings (Prometheus counters) into per-interval increments.
    The first reading yields nothing (no interval yet); a reading lower than the previous
    one is a reset and counts in full."""

    _last: dict[SeriesKey, float] = field(default_factory=dict)

    def increment(self, key: SeriesKey, value: float) -> float | None:
        prev = self._last.get(key)
        self._last[key] = value
        if prev is None:
            return None
        return value - prev if value >= prev else value


# --- what collectors produce and consumers read --------------------------------------------


@dataclass(frozen=True)
class HistogramPoint:
    """The distribution observed during `(start, end]`."""

    start: float
    end: float
    histogram: Histogram


@dataclass(frozen=True)
class ScalarSample:
    key: SeriesKey
    kind: MetricKind
    point: Point


@dataclass(frozen=True)
class HistogramSample:
    key: SeriesKey
    point: HistogramPoint


@dataclass
class Batch:
    """Everything one `collect(now)` call produced. Use the add_* helpers."""

    scalars: list[ScalarSample] = field(default_factory=list)
    histograms: list[HistogramSample] = field(default_factory=list)

    def add_gauge(self, key: SeriesKey, timestamp: float, value: float) -> None:
        self.scalars.append(ScalarSample(key, MetricKind.GAUGE, Point(timestamp, value)))

    def add_increment(self, key: SeriesKey, timestamp: float, increase: float) -> None:
        """A counter's increase during the interval ending at `timestamp`."""
        self.scalars.append(ScalarSample(key, MetricKind.COUNTER, Point(timestamp, increase)))

    def add_histogram(self, key: SeriesKey, start: float, end: float, histogram: Histogram) -> None:
        self.histograms.append(HistogramSample(key, HistogramPoint(start, end, histogram)))

    def extend(self, other: Batch) -> None:
        self.scalars.extend(other.scalars)
        self.histograms.extend(other.histograms)

    def __len__(self) -> int:
        return len(self.scalars) + len(self.histograms)


@dataclass(frozen=True)
class SeriesData:
    """One series of one run, as the store returns it and the evaluator reads it. `points`
    (GAUGE/COUNTER) and `histograms` (HISTOGRAM) are sorted by time."""

    key: SeriesKey
    kind: MetricKind
    points: tuple[Point, ...] = ()
    histograms: tuple[HistogramPoint, ...] = ()

    def __iter__(self) -> Iterator[Point]:
        return iter(self.points)


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run. `environment` is a fingerprint (host, python, versions...)."""

    id: str
    started_at: float
    ended_at: float | None = None
    scenario: str = ""
    git_commit: str | None = None
    git_branch: str | None = None
    config_hash: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    status: str = "running"
    """running, finished or broken."""
    verdict: str | None = None
    """pass, warn or fail once `castiel check` evaluated the run's budgets."""
    phases: Mapping[str, float] = field(default_factory=dict)
    """When the run's phases began, as the load generator reported them (e.g.
    `spawning_complete`): ramp-up exclusion uses them instead of a guess."""

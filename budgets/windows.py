"""Aggregations over windows of a Timeline, vectorised with prefix sums and a sparse table, so
a sliding window over an hour at 1-second resolution costs a few array passes, not a loop.

Semantics per series kind (docs/budgets.md repeats them for users):

| aggregation | histogram              | counter (increments)          | gauge (readings)        |
|-------------|------------------------|-------------------------------|-------------------------|
| pNN         | merged histogram       | over per-interval increments  | over readings           |
| avg         | sum / observations     | mean increment per interval   | mean reading            |
| min, max    | smallest/largest value | smallest/largest increment    | lowest/highest reading  |
| rate        | observations / second  | increase / second             | undefined               |
| count       | observations           | total increase                | number of readings      |
| sum         | sum of values          | total increase                | sum of readings         |
| last        | undefined              | last increment                | last reading            |
| ratio       | numerator / denominator, each summed (histograms: observations)       |

Samples (for `min_samples`): observations for histograms, readings (points) for counters
and gauges, and the denominator's total for ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgets.model import AggKind, Aggregation
from budgets.timeline import F64, I64, Timeline
from collectors.model import MetricKind, bucket_values
from collectors.percentile import histogram_percentiles, value_percentile

EPS = 1e-9


class Undefined(ValueError):
    """The aggregation has no meaning for this kind of series."""


@dataclass(frozen=True)
class Windows:
    """Windows over a timeline's rows: rows `[s, e)`, covering `(start, end]` seconds."""

    s: I64
    e: I64
    start: F64
    end: F64

    @property
    def duration(self) -> F64:
        d: F64 = self.end - self.start
        return d

    def __len__(self) -> int:
        return int(self.s.size)


def whole(tl: Timeline, start: float, end: float) -> Windows:
    return Windows(
        np.array([0], np.int64),
        np.array([len(tl)], np.int64),
        np.array([start]),
        np.array([end]),
    )


def sliding(tl: Timeline, length: float) -> Windows:
    """A window of `length` seconds ending at every row, complete windows only."""
    ts = tl.ts
    if ts.size == 0:
        return _empty()
    first_start = ts[0] - tl.step
    ends = np.arange(ts.size, dtype=np.int64)
    complete = ts - length >= first_start - EPS
    e_rows = ends[complete]
    s = np.searchsorted(ts, ts[e_rows] - length + EPS, side="left").astype(np.int64)
    return Windows(s, e_rows + 1, ts[e_rows] - length, ts[e_rows].astype(np.float64))


def tumbling(tl: Timeline, length: float, start: float) -> Windows:
    """Consecutive windows of `length` seconds from `start` (the last may be shorter)."""
    ts = tl.ts
    if ts.size == 0:
        return _empty()
    k = np.floor((ts - start - EPS) / length).astype(np.int64)
    k = np.maximum(k, 0)
    uniq, first = np.unique(k, return_index=True)
    s = first.astype(np.int64)
    e = np.append(first[1:], ts.size).astype(np.int64)
    w_start = start + uniq * length
    w_end = w_start + length
    w_end[-1] = min(w_end[-1], ts[-1])  # the run may end mid-chunk
    return Windows(s, e, w_start.astype(np.float64), w_end.astype(np.float64))


def _empty() -> Windows:
    z = np.zeros(0, np.int64)
    return Windows(z, z, np.zeros(0), np.zeros(0))


def _prefix(a: F64 | I64) -> F64:
    out: F64 = np.concatenate(([0.0], np.cumsum(a, dtype=np.float64)))
    return out


def range_reduce(a: F64, s: I64, e: I64, fn: np.ufunc, identity: float) -> F64:
    """fn (np.minimum or np.maximum) over a[s:e] for every window; `identity` when empty."""
    n = a.size
    if len(s) == 0:
        return np.zeros(0)
    if n == 0:
        return np.full(len(s), identity)
    levels = [a]
    j = 1
    while (1 << j) <= n:
        prev = levels[-1]
        half = 1 << (j - 1)
        levels.append(fn(prev[:-half], prev[half:]))
        j += 1
    length = e - s
    out = np.full(len(s), identity)
    ok = length > 0
    k = np.zeros(len(s), np.int64)
    k[ok] = np.floor(np.log2(length[ok])).astype(np.int64)
    for lvl in np.unique(k[ok]):
        sel = ok & (k == lvl)
        table = levels[int(lvl)]
        out[sel] = fn(table[s[sel]], table[e[sel] - (1 << int(lvl))])
    return out


def reduce(agg: Aggregation, tl: Timeline, w: Windows) -> tuple[F64, F64]:
    """(value, samples) per window; NaN where the value is undefined (no data)."""
    if agg.kind is AggKind.RATIO:
        raise Undefined("ratio is computed by ratio(), not reduce()")
    if tl.kind is MetricKind.HISTOGRAM:
        return _hist(agg, tl, w)
    return _scalar(agg, tl, w)


def _hist(agg: Aggregation, tl: Timeline, w: Windows) -> tuple[F64, F64]:
    assert tl.cum is not None and tl.zero is not None
    assert tl.total is not None and tl.mins is not None and tl.maxs is not None
    obs_prefix = _prefix(tl.observations)
    obs = obs_prefix[w.e] - obs_prefix[w.s]
    kind = agg.kind
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind is AggKind.COUNT:
            values = obs.copy()
        elif kind is AggKind.SUM:
            tp = _prefix(tl.total)
            values = tp[w.e] - tp[w.s]
        elif kind is AggKind.AVG:
            tp = _prefix(tl.total)
            values = np.where(obs > 0, (tp[w.e] - tp[w.s]) / obs, np.nan)
        elif kind is AggKind.RATE:
            values = obs / w.duration
        elif kind is AggKind.MIN:
            values = range_reduce(tl.mins, w.s, w.e, np.minimum, np.inf)
        elif kind is AggKind.MAX:
            values = range_reduce(tl.maxs, w.s, w.e, np.maximum, -np.inf)
        elif kind is AggKind.PERCENTILE:
            assert agg.q is not None
            values = _hist_percentiles(tl, w, agg.q, obs)
        else:
            raise Undefined(f"{agg} is not defined for histogram series")
    values = np.where(np.isfinite(values), values, np.nan)
    values[obs <= 0] = np.nan if kind not in (AggKind.COUNT, AggKind.SUM, AggKind.RATE) else 0.0
    return values, obs


def _hist_percentiles(tl: Timeline, w: Windows, q: float, obs: F64) -> F64:
    """Nearest-rank percentile of every window at once (`collectors.percentile`): the
    bucket search runs on the 2-D prefix sums, never a windows x buckets matrix."""
    assert tl.cum is not None and tl.zero is not None
    assert tl.mins is not None and tl.maxs is not None
    cum = tl.cum
    zp = _prefix(tl.zero)
    return histogram_percentiles(
        q,
        np.rint(obs).astype(np.int64),
        np.rint(zp[w.e] - zp[w.s]).astype(np.int64),
        range_reduce(tl.mins, w.s, w.e, np.minimum, np.inf),
        range_reduce(tl.maxs, w.s, w.e, np.maximum, -np.inf),
        lambda k: cum[w.e, k] - cum[w.s, k],
        tl.width,
        bucket_values(tl.base, tl.width),
    )


def _scalar(agg: Aggregation, tl: Timeline, w: Windows) -> tuple[F64, F64]:
    np_prefix = _prefix(tl.npoints)
    points = np_prefix[w.e] - np_prefix[w.s]
    has = tl.npoints > 0
    kind = agg.kind
    gauge = tl.kind is MetricKind.GAUGE
    vp = _prefix(tl.values)
    sums = vp[w.e] - vp[w.s]
    rows_prefix = _prefix(has.astype(np.int64))
    rows = rows_prefix[w.e] - rows_prefix[w.s]
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind is AggKind.SUM:
            values = sums
        elif kind is AggKind.COUNT:
            values = points if gauge else sums
        elif kind is AggKind.RATE:
            if gauge:
                raise Undefined("rate is not defined for gauge series (readings, not events)")
            values = sums / w.duration
        elif kind is AggKind.AVG:
            values = sums / rows
        elif kind is AggKind.MIN:
            values = range_reduce(np.where(has, tl.values, np.inf), w.s, w.e, np.minimum, np.inf)
        elif kind is AggKind.MAX:
            values = range_reduce(np.where(has, tl.values, -np.inf), w.s, w.e, np.maximum, -np.inf)
        elif kind is AggKind.LAST:
            idx = np.where(has, np.arange(len(tl)), -1)
            last = np.maximum.accumulate(idx) if idx.size else idx
            at = last[np.maximum(w.e - 1, 0)] if last.size else np.zeros(len(w), np.int64)
            ok = (w.e > w.s) & (at >= w.s)
            values = np.where(ok, tl.values[np.maximum(at, 0)] if last.size else 0.0, np.nan)
        elif kind is AggKind.PERCENTILE:
            assert agg.q is not None
            values = _scalar_percentiles(tl, w, agg.q)
        else:
            raise Undefined(f"{agg} is not defined for {tl.kind.value} series")
    values = np.where(np.isfinite(values), values, np.nan)
    values[rows <= 0] = np.nan if kind not in (AggKind.SUM, AggKind.COUNT) else 0.0
    return values.astype(np.float64), points


def _scalar_percentiles(tl: Timeline, w: Windows, q: float) -> F64:
    out = np.full(len(w), np.nan)
    has = tl.npoints > 0
    for i in range(len(w)):
        value = value_percentile(q, tl.values[w.s[i] : w.e[i]][has[w.s[i] : w.e[i]]])
        if value is not None:
            out[i] = value
    return out


def ratio(num: Timeline, den: Timeline, w: Windows) -> tuple[F64, F64]:
    """sum(numerator) / sum(denominator) per window (histograms count observations). Both
    timelines must share an axis. Samples are the denominator's total."""
    n = _total(num, w)
    d = _total(den, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(d > 0, n / d, np.nan)
    return values, d


def _total(tl: Timeline, w: Windows) -> F64:
    src = tl.observations if tl.kind is MetricKind.HISTOGRAM else tl.values
    p = _prefix(src)
    out: F64 = p[w.e] - p[w.s]
    return out

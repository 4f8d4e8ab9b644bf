"""Series of one budget group, aligned on one time axis as numpy arrays.

Several series in a group add up at each timestamp (two processes' latency histograms merge,
two gauges sum). Timestamps are interval ends (collectors stamp every sample of one round with
the same `now`, see collectors.base), so aligning is exact matching, not resampling.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from collectors.model import MetricKind, SeriesData, SeriesKey

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]
T = TypeVar("T")
INT = npt.NDArray[np.signedinteger[Any]]


@dataclass(frozen=True)
class HistRows:
    """One histogram series as flat arrays (built once per series, shared by budgets)."""

    starts: F64
    ends: F64
    offsets: I64
    lens: I64
    flat: I64
    zero: I64
    total: F64
    mins: F64
    maxs: F64

    @classmethod
    def of(cls, series: SeriesData) -> HistRows:
        hp = series.histograms
        lens = np.fromiter((p.histogram.counts.size for p in hp), np.int64, len(hp))
        flat = np.concatenate([p.histogram.counts for p in hp]) if hp else np.zeros(0, np.int64)
        return cls(
            starts=np.fromiter((p.start for p in hp), np.float64, len(hp)),
            ends=np.fromiter((p.end for p in hp), np.float64, len(hp)),
            offsets=np.fromiter((p.histogram.offset for p in hp), np.int64, len(hp)),
            lens=lens,
            flat=flat.astype(np.int64, copy=False),
            zero=np.fromiter((p.histogram.zero_count for p in hp), np.int64, len(hp)),
            total=np.fromiter((p.histogram.total for p in hp), np.float64, len(hp)),
            mins=np.fromiter((p.histogram.min for p in hp), np.float64, len(hp)),
            maxs=np.fromiter((p.histogram.max for p in hp), np.float64, len(hp)),
        )


@dataclass(frozen=True)
class ScalarRows:
    ts: F64
    values: F64

    @classmethod
    def of(cls, series: SeriesData) -> ScalarRows:
        n = len(series.points)
        return cls(
            np.fromiter((p.timestamp for p in series.points), np.float64, n),
            np.fromiter((p.value for p in series.points), np.float64, n),
        )


class RowsCache:
    """Per-evaluation cache of the small array forms of series (scalar points, histogram
    interval ends), least recently used out."""

    def __init__(self, max_series: int = 256) -> None:
        self._rows: OrderedDict[SeriesKey, F64 | ScalarRows] = OrderedDict()
        self._max = max_series

    def _get(self, s: SeriesData, make: Callable[[SeriesData], T]) -> T:
        found = self._rows.get(s.key)
        if found is not None:
            self._rows.move_to_end(s.key)
            return cast(T, found)
        rows = make(s)
        self._rows[s.key] = cast(F64 | ScalarRows, rows)
        if len(self._rows) > self._max:
            self._rows.popitem(last=False)
        return rows

    def hist(self, s: SeriesData) -> HistRows:
        """Not cached: histogram rows are as large as the data and are only read while a
        group's timeline is built; timelines are what get shared (TimelineCache)."""
        return HistRows.of(s)

    def ends(self, s: SeriesData) -> F64:
        return self._get(s, _ends)

    def scalar(self, s: SeriesData) -> ScalarRows:
        return self._get(s, ScalarRows.of)


class TimelineCache:
    """Timelines of recently evaluated groups: budgets that read the same series over the
    same range (p95 and p99 of one endpoint) share one. The evaluator visits groups in order,
    so a handful of entries is enough."""

    def __init__(self, rows: RowsCache, size: int = 3) -> None:
        self.rows = rows
        self._cache: OrderedDict[tuple[object, ...], Timeline] = OrderedDict()
        self._size = size
        self._axis: tuple[tuple[object, ...], F64] | None = None

    def get(
        self,
        series: Sequence[SeriesData],
        t0: float,
        t1: float,
        axis_series: Sequence[SeriesData] | None = None,
    ) -> Timeline:
        """`axis_series`: align on the union of these series' timestamps (ratios)."""
        axis_keys = None if axis_series is None else tuple(s.key for s in axis_series)
        key = (tuple(s.key for s in series), t0, t1, axis_keys)
        tl = self._cache.get(key)
        if tl is not None:
            self._cache.move_to_end(key)
            return tl
        axis = None
        if axis_series is not None:
            akey = (axis_keys, t0, t1)
            if self._axis is None or self._axis[0] != akey:
                self._axis = (akey, axis_of(axis_series, self.rows, t0, t1))
            axis = self._axis[1]
        tl = build_timeline(series, self.rows, t0, t1, axis)
        self._cache[key] = tl
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return tl


@dataclass(frozen=True)
class Timeline:
    """A group's data on the axis `ts` (interval ends). Scalar kinds fill `values` (sum over
    series) and `npoints`. Histograms fill `cum`, the 2-D prefix sum of bucket counts:
    `cum[t, b]` = observations in rows `< t` falling in buckets `base .. base + b`, so any
    window's count up to any bucket is two lookups; plus per-row `zero`, `total`, `mins`,
    `maxs`."""

    kind: MetricKind
    ts: F64
    step: float
    nseries: int
    values: F64
    npoints: I64
    base: int = 0
    cum: INT | None = None
    zero: I64 | None = None
    total: F64 | None = None
    mins: F64 | None = None
    maxs: F64 | None = None

    def __len__(self) -> int:
        return int(self.ts.size)

    @property
    def width(self) -> int:
        return 0 if self.cum is None else int(self.cum.shape[1])

    @property
    def observations(self) -> I64:
        """Per-row observation count (histograms) or point count (scalars)."""
        if self.cum is None or self.zero is None:
            return self.npoints
        if self.cum.shape[1] == 0:
            return self.zero
        total: I64 = np.diff(self.cum[:, -1]) + self.zero
        return total


class MixedKinds(ValueError):
    pass


def _ends(s: SeriesData) -> F64:
    return np.fromiter((p.end for p in s.histograms), np.float64, len(s.histograms))


def axis_of(series: Sequence[SeriesData], cache: RowsCache, t0: float, t1: float) -> F64:
    parts = []
    for s in series:
        ts = cache.ends(s) if s.kind is MetricKind.HISTOGRAM else cache.scalar(s).ts
        parts.append(ts[(ts > t0) & (ts <= t1)])
    if not parts:
        return np.zeros(0, np.float64)
    first = parts[0]
    if all(p.size == first.size and np.array_equal(p, first) for p in parts[1:]) and bool(
        np.all(first[1:] > first[:-1])
    ):
        # The common case: one collector round stamps every series alike, in order. A
        # distributed run's worker slices arrive when they arrive (5 after 6, two at 6).
        return first
    return np.unique(np.concatenate(parts))


def build_timeline(
    series: Sequence[SeriesData],
    cache: RowsCache,
    t0: float,
    t1: float,
    axis: F64 | None = None,
) -> Timeline:
    """Align `series` (all of one kind) on `axis` (default: all their timestamps in (t0, t1])."""
    kinds = {s.kind for s in series}
    if len(kinds) > 1:
        names = ", ".join(sorted(f"{s.key} ({s.kind.value})" for s in series)[:4])
        raise MixedKinds(f"the selector matches series of different kinds: {names}")
    kind = kinds.pop() if kinds else MetricKind.GAUGE
    ts = axis_of(series, cache, t0, t1) if axis is None else axis
    n = ts.size
    if kind is MetricKind.HISTOGRAM:
        return _hist_timeline(series, cache, ts, t0, t1)
    values = np.zeros(n, np.float64)
    npoints = np.zeros(n, np.int64)
    for s in series:
        rows = cache.scalar(s)
        keep = (rows.ts > t0) & (rows.ts <= t1)
        idx = np.searchsorted(ts, rows.ts[keep])
        values += np.bincount(idx, weights=rows.values[keep], minlength=n)[:n]
        npoints += np.bincount(idx, minlength=n)[:n]
    step = float(np.median(np.diff(ts))) if n > 1 else 1.0
    return Timeline(kind, ts, step, len(series), values, npoints)


def _hist_timeline(
    series: Sequence[SeriesData], cache: RowsCache, ts: F64, t0: float, t1: float
) -> Timeline:
    n = ts.size
    selected = []
    steps = []
    lo, hi = None, None
    for s in series:
        rows = cache.hist(s)
        keep = np.nonzero((rows.ends > t0) & (rows.ends <= t1))[0]
        if keep.size == 0:
            continue
        selected.append((rows, keep))
        steps.append(float(np.median(rows.ends[keep] - rows.starts[keep])))
        nonempty = keep[rows.lens[keep] > 0]
        if nonempty.size:
            a = int(rows.offsets[nonempty].min())
            b = int((rows.offsets[nonempty] + rows.lens[nonempty]).max())
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
    base = lo or 0
    width = 0 if lo is None or hi is None else hi - lo
    everything = sum(int(rows.flat.sum()) for rows, _ in selected)
    # The prefix sums are the largest array of an evaluation: half the size when they fit.
    cum: INT = np.zeros((n + 1) * width, np.int32 if everything < 2**31 else np.int64)
    zero = np.zeros(n, np.int64)
    total = np.zeros(n, np.float64)
    mins = np.full(n, np.inf)
    maxs = np.full(n, -np.inf)
    for rows, keep in selected:
        row_of = np.searchsorted(ts, rows.ends[keep])
        zero += np.bincount(row_of, weights=rows.zero[keep], minlength=n)[:n].astype(np.int64)
        total += np.bincount(row_of, weights=rows.total[keep], minlength=n)[:n]
        np.minimum.at(mins, row_of, rows.mins[keep])
        np.maximum.at(maxs, row_of, rows.maxs[keep])
        lens = rows.lens[keep]
        m = int(lens.sum())
        if width == 0 or m == 0:
            continue
        # Scatter every kept row's dense bucket slice into cum[row + 1, offset - base + k].
        starts_in_flat = np.cumsum(rows.lens) - rows.lens
        within = np.arange(m) - np.repeat(np.cumsum(lens) - lens, lens)
        src = np.repeat(starts_in_flat[keep], lens) + within
        dest = np.repeat((row_of + 1) * width + rows.offsets[keep] - base, lens) + within
        if np.unique(row_of).size == row_of.size:
            cum[dest] += rows.flat[src].astype(cum.dtype)  # one histogram per row: distinct
        else:
            np.add.at(cum, dest, rows.flat[src].astype(cum.dtype))
    grid = cum.reshape(n + 1, width)
    np.cumsum(grid, axis=1, out=grid)
    np.cumsum(grid, axis=0, out=grid)
    step = float(np.median(steps)) if steps else 1.0
    npoints = np.zeros(n, np.int64)
    return Timeline(
        MetricKind.HISTOGRAM,
        ts,
        step,
        len(series),
        np.zeros(n, np.float64),
        npoints,
        base=base,
        cum=grid,
        zero=zero,
        total=total,
        mins=mins,
        maxs=maxs,
    )

"""The one percentile of Castiel: nearest rank over merged log-bucket histograms.

Every caller (the budget evaluator's windows, `Histogram.percentile`, the dashboard, the live
view and so every report) goes through `nearest_rank` and `histogram_percentiles`, so the same
data gives the same number everywhere.

* **Rank.** The p-th percentile of n values is the value of rank `ceil(p/100 * n)` (at least
  1). The rank is computed exactly: `p` is read as the decimal it was written as (`7` is 7,
  `99.9` is 999/10, never 99.900000000000006), and `ceil` is integer arithmetic on that
  fraction. Floating point `0.07 * 100` is 7.000000000000001 and would pick rank 8.
* **Value.** The rank's bucket reports `2 * GAMMA**i / (GAMMA + 1)` (within 1 % of every value
  in the bucket, see collectors.model), clamped to the exact minimum and maximum; rank 1 is
  the exact minimum and rank n the exact maximum; a rank inside the zero bucket is 0.

Rows are vectorised: one call answers many windows or display buckets at once. The caller
gives, for a bucket column `k` per row, how many non-zero observations lie in buckets `0..k`
(`below(k)`), which is a prefix-sum difference for windows and a cumulative sum for dense
matrices; a binary search over columns finds the rank's bucket in log2(width) vector steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
INT = npt.NDArray[np.signedinteger[Any]]


@lru_cache(maxsize=256)
def _fraction(q: float) -> Fraction:
    """`q` as the decimal a person wrote (shortest repr), divided by 100, exactly."""
    if not (math.isfinite(q) and 0.0 <= q <= 100.0):
        raise ValueError(f"percentile must be between 0 and 100, got {q!r}")
    return Fraction(Decimal(repr(float(q)))) / 100


def nearest_rank(q: float, n: npt.ArrayLike) -> I64:
    """`max(1, ceil(q/100 * n))` for each count in `n`, exactly (integer arithmetic)."""
    frac = _fraction(q)
    counts = np.asarray(n, dtype=np.int64)
    num, den = frac.numerator, frac.denominator
    if counts.size and int(counts.max()) * num >= 2**62:
        # Astronomically many observations: Python integers instead of int64.
        ranks = [max(1, -((-int(c) * num) // den)) for c in counts.ravel()]
        return np.asarray(ranks, dtype=np.int64).reshape(counts.shape)
    rank: I64 = -((-counts * num) // den)
    return np.maximum(rank, 1)


def histogram_percentiles(
    q: float,
    n: I64,
    zero: I64,
    lo: F64,
    hi: F64,
    below: Callable[[I64], INT],
    width: int,
    reported: F64,
) -> F64:
    """Nearest-rank percentile of each row; NaN for an empty row.

    `n`: observations per row (zero bucket included), `zero`: the zero bucket's count,
    `lo`/`hi`: exact extremes (inf/-inf when unknown), `below(k)`: per row, the non-zero
    observations in bucket columns `0..k[row]`, `width`: the number of bucket columns,
    `reported`: the value each column reports (`collectors.model.bucket_values`)."""
    return values_at_ranks(nearest_rank(q, n), n, zero, lo, hi, below, width, reported)


def values_at_ranks(
    rank: I64,
    n: I64,
    zero: I64,
    lo: F64,
    hi: F64,
    below: Callable[[I64], INT],
    width: int,
    reported: F64,
) -> F64:
    """The value of each row's observation of rank `rank` (1-based, from `nearest_rank`),
    as `histogram_percentiles` reads it. Many ranks of one histogram (a whole CDF) are many
    rows that share its counts: one binary search answers them all."""
    rows = n.size
    out = np.zeros(rows)
    if width:
        need = rank - zero
        left = np.zeros(rows, np.int64)
        right = np.full(rows, width - 1, np.int64)
        while True:
            open_ = left < right
            if not open_.any():
                break
            mid = (left + right) // 2
            reached = below(mid) >= need
            right = np.where(open_ & reached, mid, right)
            left = np.where(open_ & ~reached, mid + 1, left)
        out = reported[left].astype(np.float64)
    lo_ok, hi_ok = np.isfinite(lo), np.isfinite(hi)
    out = np.where(lo_ok, np.maximum(out, lo), out)
    out = np.where(hi_ok, np.minimum(out, hi), out)
    # The extremes are known exactly (applied in this order: the last one wins).
    out = np.where((rank == 1) & lo_ok, lo, out)
    out = np.where((rank >= n) & hi_ok, hi, out)
    out = np.where(rank <= zero, np.where(lo_ok, np.maximum(0.0, lo), 0.0), out)
    result: F64 = np.where(n > 0, out, np.nan)
    return result


def value_percentile(q: float, values: npt.ArrayLike) -> float | None:
    """Nearest-rank percentile of plain values (gauge readings, counter increments): the
    same rank rule, read off the sorted values. None when there are none."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return None
    k = int(nearest_rank(q, arr.size)) - 1
    return float(np.partition(arr, k)[k])

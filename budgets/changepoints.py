"""Change points in a series of runs: where a budget's observed value moved and stayed moved.

The algorithm is Apache Otava's (formerly Hunter: Fleming et al. 2023,
https://doi.org/10.1145/3578244.3583719), built on E-Divisive means (Matteson & James 2014):

* **Split.** Slide a window of `window` runs over the series, half a window at a time. In each
  window, repeatedly take the split that maximises the energy statistic Q-hat of its two sides
  (over every split point and every end of the interval that holds it) and keep it while
  Student's t-test of those two sides gives p <= 10 x `max_p`: the "weak" change points.
* **Merge.** Drop the weakest change point (the largest p, recomputed against its neighbours)
  until every one left has p <= `max_p` and a relative shift above `min_magnitude`.

Castiel's departures from Otava, each measured (docs/budgets.md):
* each side of a change point holds at least `min_runs` runs, and the test must still pass
  without the shorter side's most shifted run: one slow run (a busy machine) is never a change
  point on its own, at the start, in the middle or at the end of the history;
* a candidate split is tested on the two sides the statistic chose (Otava tests everything
  after the split, which a step up followed by a step back down dilutes);
* `max_p` defaults to 1e-4, not 1e-3: over 500 flat histories of 50 runs (Gaussian,
  log-normal and Student-t(3) noise) 1e-3 found change points in 0.4-0.8 % and 1e-4 in none.
  A step of 5 standard deviations is found after 3 runs 96 % of the time, after 4 always;
  one of 3 standard deviations after 5 runs 78 % of the time, after 8 runs 97 %.

Why not the libraries themselves (measured on this platform, docs/benchmarks.md):
apache-otava 0.8 pins numpy 2.2.* and scipy < 1.17 (Castiel runs numpy 2.4 and scipy 1.17,
so installing it downgrades both for every package) and brings BigQuery, gRPC, Slack and
PostgreSQL clients for its command line; MongoDB's signal-processing-algorithms 2.1 requires
numpy < 2 and gevent < 25, which Locust 2.47 and pandas 3 rule out. This module is the part of
the algorithm they share, on numpy and scipy; `bench/changepoints.py` runs Otava's own code
beside it on the same series and compares the change points found.

Pure functions. The whole history is recomputed on every call (50 runs take about 3 ms,
500 runs 10 ms), so nothing derived has to be stored, pruned or invalidated when runs are
pruned, checked again or a budget changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from types import ModuleType

import numpy as np

from budgets.timeline import F64

WINDOW = 50
MAX_P = 1e-4
MIN_RUNS = 2


@dataclass(frozen=True)
class ChangePoint:
    index: int
    """The first value after the change."""
    p_value: float
    """Student's t-test of the values between the neighbouring change points."""
    mean_before: float
    mean_after: float

    @property
    def magnitude(self) -> float:
        """Otava's size of a change: the larger relative change, forwards or backwards."""
        return max(_rel(self.mean_after, self.mean_before), _rel(self.mean_before, self.mean_after))


def detect(
    values: Sequence[float] | F64,
    *,
    window: int = WINDOW,
    max_p: float = MAX_P,
    min_magnitude: float = 0.0,
    min_runs: int = MIN_RUNS,
) -> list[ChangePoint]:
    """The change points of `values` (in run order, no gaps), oldest first."""
    if window < 2 * min_runs or min_runs < 1:
        raise ValueError(f"window {window} must hold two sides of at least {min_runs} runs")
    x = np.asarray(values, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("change points need finite values (leave runs without a value out)")
    if x.size < 2 * min_runs:
        return []
    # Run-to-run noise of a latency or a rate is proportional to its level (a few per cent of
    # it), so shifts are tested on the log scale, where that noise is even: a step from 3 ms to
    # 400 ms with one 625 ms run after it is then as clear as it looks (on the linear scale the
    # one slow run's spread outweighed a 130-fold step). Means and sizes stay in the budget's
    # own unit.
    y = np.log(x) if bool((x > 0).all()) else x
    first_pass = max_p * 10 if max_p < 0.05 else (max_p * 2 if max_p < 0.5 else max_p)
    weak = _split(y, window, first_pass, min_runs)
    return _merge(y, x, weak, max_p, min_magnitude)


def _split(x: F64, window: int, max_p: float, min_runs: int) -> list[int]:
    start, step, weak = 0, window // 2, set[int]()
    while start < x.size:
        end = min(start + window, x.size)
        found = _divide(x[start:end], max_p, min_runs)
        weak.update(start + i for i in found)
        start = max(start + found[-1] if found else 0, start + step)
    return sorted(weak)


def _divide(x: F64, max_p: float, min_runs: int) -> list[int]:
    """E-Divisive on one window: split the interval whose best split has the largest Q-hat
    while that split is significant."""
    cps: list[int] = []
    while True:
        best: tuple[float, int, int, int] | None = None
        for a, b in pairwise([0, *cps, x.size]):
            found = _best_split(x[a:b], min_runs)
            if found is not None and (best is None or found[2] > best[0]):
                best = (found[2], a, a + found[0], a + found[1])
        if best is None:
            return cps
        _, a, at, end = best
        if _p_value(x[a:at], x[at:end]) > max_p:
            return cps
        cps = sorted([*cps, at])


def _best_split(x: F64, min_runs: int) -> tuple[int, int, float] | None:
    """(tau, kappa, Q-hat): the split of x into x[:tau] and x[tau:kappa] with the largest
    energy statistic, both sides holding at least `min_runs` values. The split is tested on
    exactly those two sides (Otava tests x[:tau] against all of x[tau:], which a step up
    followed by a step back down dilutes)."""
    n = x.size
    if n < 2 * min_runs:
        return None
    dist = np.abs(x[:, None] - x[None, :])
    # prefix[i, j] = sum of dist[:i, :j]: every block sum in O(1).
    prefix = np.zeros((n + 1, n + 1))
    prefix[1:, 1:] = dist.cumsum(axis=0).cumsum(axis=1)
    t = np.arange(n + 1)[:, None]
    k = np.arange(n + 1)[None, :]
    cross = prefix[t, k] - prefix[t, t]
    within_x = prefix[t, t] / 2
    within_y = (prefix[k, k] - prefix[t, k] - prefix[k, t] + prefix[t, t]) / 2
    nx = t.astype(np.float64)
    ny = (k - t).astype(np.float64)
    valid = (t >= min_runs) & (ny >= min_runs)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = nx + ny
        q = (
            2 / total * cross
            - np.where(nx > 1, 2 * ny / (total * (nx - 1)), 0.0) * within_x
            - np.where(ny > 1, 2 * nx / (total * (ny - 1)), 0.0) * within_y
        )
    q = np.where(valid, q, -np.inf)
    i, j = np.unravel_index(int(np.argmax(q)), q.shape)
    if not math.isfinite(q[i, j]):
        return None
    return int(i), int(j), float(q[i, j])


def _merge(
    y: F64, x: F64, weak: list[int], max_p: float, min_magnitude: float
) -> list[ChangePoint]:
    """`y`: the values as tested, `x`: as measured."""
    cps = list(weak)
    while cps:
        points = _stats(y, x, cps)
        weakest = max(range(len(points)), key=lambda i: points[i].p_value)
        if points[weakest].p_value <= max_p:
            weakest = min(range(len(points)), key=lambda i: points[i].magnitude)
            if points[weakest].magnitude > min_magnitude:
                return points
        del cps[weakest]
    return []


def _stats(y: F64, x: F64, cps: list[int]) -> list[ChangePoint]:
    bounds = [0, *cps, x.size]
    out = []
    for i, at in enumerate(cps):
        lo, hi = bounds[i], bounds[i + 2]
        p = _p_value(y[lo:at], y[at:hi])
        out.append(ChangePoint(at, p, float(x[lo:at].mean()), float(x[at:hi].mean())))
    return out


def _p_value(left: F64, right: F64) -> float:
    """The t-test's p, and again without the shorter side's most shifted run: a change must
    not rest on one run (one slow run beside a normal one otherwise looks like a shift)."""
    p = _t_p(left, right)
    short, long_ = (left, right) if left.size < right.size else (right, left)
    if short.size < 2:
        return p
    drop = int(np.argmax(np.abs(short - long_.mean())))
    rest = np.delete(short, drop)
    return max(p, _t_p(rest, long_) if short is left else _t_p(long_, rest))


def _t_p(left: F64, right: F64) -> float:
    """Two-sided Student's t-test with pooled variance, as Otava's (scipy's `ttest_ind`,
    written out: its per-call overhead was most of the detection time); 1 when undefined."""
    n1, n2 = left.size, right.size
    df = n1 + n2 - 2
    if df <= 0:
        return 1.0
    diff = float(right.mean() - left.mean())
    squares = float(((left - left.mean()) ** 2).sum() + ((right - right.mean()) ** 2).sum())
    if squares == 0:
        return 1.0 if diff == 0 else 0.0
    t = diff / math.sqrt(squares / df * (1 / n1 + 1 / n2))
    return float(2 * _special().stdtr(df, -abs(t)))


def _rel(a: float, b: float) -> float:
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return abs(a / b - 1.0)


def _special() -> ModuleType:
    """scipy.special, imported when a t-test runs (~0.25 s, paid by every `castiel check`
    that imports this module otherwise, most of which test nothing)."""
    from scipy import special  # noqa: PLC0415 - see above

    return special

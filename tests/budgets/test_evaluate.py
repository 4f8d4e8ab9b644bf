"""The pure evaluator, with hand-computed expectations.

Conventions: the run spans (0, 100] unless said otherwise; a histogram point at t holds the
values observed in (t-1, t]; counters are increments; percentiles are nearest-rank and within
1% (the histogram's documented accuracy), everything else is exact."""

from __future__ import annotations

import pytest

from budgets.evaluate import BaselineRun, evaluate
from budgets.model import Condition, Level, Op
from budgets.timeline import RowsCache, build_timeline
from budgets.units import Unit
from budgets.verdict import BaselineOutcome, Window
from collectors.model import RunInfo

from .helpers import RUN, budgets, counter, every, gauge, hist, one

SECONDS = range(1, 101)
LAT = "http_seconds"


def verdict(body: str, series: list, run: RunInfo = RUN, **kw):  # type: ignore[no-untyped-def]
    vs = evaluate([one(body)], series, run, **kw)
    assert len(vs) == 1
    return vs[0]


# --- aggregations over a whole run ---------------------------------------------------------

# every second: 0.1, 0.2, 0.3, 0.4 -> 400 values, 100 of each
FOUR = [hist(LAT, every(SECONDS, [0.1, 0.2, 0.3, 0.4]))]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("p50", 0.2),  # rank 200 of 400 -> last of the 0.2s
        ("p75", 0.3),  # rank 300
        ("p90", 0.4),  # rank 360
        ("p99.9", 0.4),
        ("med", 0.2),
    ],
)
def test_percentiles_of_merged_histograms(agg: str, expected: float) -> None:
    v = verdict(f"    metric: {LAT}\n    aggregation: {agg}\n    fail: '< 1s'\n", FOUR)
    assert v.observed == pytest.approx(expected, rel=0.01)
    assert v.sample_count == 400 and v.status is Level.PASS and v.series == 1


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("avg", 0.25),  # (0.1+0.2+0.3+0.4)/4
        ("min", 0.1),
        ("max", 0.4),
        ("count", 400.0),
        ("sum", 100.0),  # 100 seconds x 1.0
        ("rate", 4.0),  # 400 observations over 100 s
    ],
)
def test_exact_histogram_aggregations(agg: str, expected: float) -> None:
    v = verdict(f"    metric: {LAT}\n    aggregation: {agg}\n    fail: '< 1000s'\n", FOUR)
    assert v.observed == pytest.approx(expected)


def test_two_series_in_one_group_merge() -> None:
    # process A sees 0.1 x3 per second, process B 0.5 x1: p75 = rank 300 of 400 = 0.1,
    # p76 = rank 304 -> 0.5
    a = hist(LAT, every(SECONDS, [0.1, 0.1, 0.1]), {"pid": "a"})
    b = hist(LAT, every(SECONDS, [0.5]), {"pid": "b"})
    body = f"    metric: {LAT}\n    aggregation: p75\n    fail: '< 1s'\n"
    assert verdict(body, [a, b]).observed == pytest.approx(0.1, rel=0.01)
    v = verdict(body.replace("p75", "p76"), [a, b])
    assert v.observed == pytest.approx(0.5, rel=0.01) and v.series == 2


COUNTER = [counter("reqs_total", {t: 5 if t <= 50 else 15 for t in SECONDS})]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("sum", 1000.0),  # 50x5 + 50x15
        ("count", 1000.0),  # a counter's count is its total increase
        ("rate", 10.0),  # 1000 over 100 s
        ("avg", 10.0),  # mean increment per interval
        ("min", 5.0),
        ("max", 15.0),
        ("last", 15.0),
        ("p50", 5.0),  # increments: 50 fives then 50 fifteens, rank 50
        ("p51", 15.0),
    ],
)
def test_counter_aggregations(agg: str, expected: float) -> None:
    v = verdict(f"    metric: reqs_total\n    aggregation: {agg}\n    fail: '< 1e9'\n", COUNTER)
    assert v.observed == pytest.approx(expected)
    assert v.sample_count == 100  # readings


GAUGE = [
    gauge("depth", {t: t for t in SECONDS}, {"queue": "a"}),
    gauge("depth", {t: 10 for t in SECONDS}, {"queue": "b"}),
]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("max", 110.0),  # gauges in one group add up per reading: 100 + 10
        ("min", 11.0),
        ("avg", 60.5),  # mean of (t + 10)
        ("last", 110.0),
        ("sum", 6050.0),
        ("count", 200.0),  # readings
        ("p90", 100.0),  # rank 90 of t + 10
    ],
)
def test_gauge_aggregations(agg: str, expected: float) -> None:
    v = verdict(f"    metric: depth\n    aggregation: {agg}\n    fail: '< 1e9'\n", GAUGE)
    assert v.observed == pytest.approx(expected)


def test_rate_of_a_gauge_is_an_explicit_failure_not_a_number() -> None:
    v = verdict("    metric: depth\n    aggregation: rate\n    fail: '< 5'\n", GAUGE)
    assert v.status is Level.FAIL and v.observed is None
    assert "rate is not defined for gauge" in v.message


def test_last_of_a_histogram_is_an_explicit_failure() -> None:
    v = verdict(f"    metric: {LAT}\n    aggregation: last\n    fail: '< 5s'\n", FOUR)
    assert v.status is Level.FAIL and "not defined for histogram" in v.message


def test_series_of_different_kinds_under_one_selector_fail_clearly() -> None:
    series = [*FOUR, counter(LAT, {1: 1}, {"x": "y"})]
    v = verdict(f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 5s'\n", series)
    assert v.status is Level.FAIL and "different kinds" in v.message


def test_ratio_of_counters() -> None:
    series = [
        counter("reqs_total", every(SECONDS, 98), {"status": "200"}),  # type: ignore[arg-type]
        counter("reqs_total", every(SECONDS, 2), {"status": "503"}),  # type: ignore[arg-type]
    ]
    body = (
        '    metric: reqs_total{status=~"5.."}\n    denominator: reqs_total\n'
        "    aggregation: ratio\n    warn: '< 1%'\n    fail: '< 5%'\n"
    )
    v = verdict(body, series)
    assert v.observed == pytest.approx(0.02)  # 200 / 10000
    assert v.status is Level.WARN and v.breached == (Level.WARN, Condition(Op.LT, 0.01))
    assert v.sample_count == 10_000  # the denominator's events


def test_ratio_with_no_numerator_series_is_zero_not_missing() -> None:
    series = [counter("reqs_total", every(SECONDS, 10), {"route": "/a"})]  # type: ignore[arg-type]
    body = (
        '    metric: reqs_total{status=~"5.."}\n    denominator: reqs_total\n'
        "    aggregation: ratio\n    fail: '< 1%'\n"
    )
    v = verdict(body, series)
    assert v.observed == 0.0 and v.status is Level.PASS and not v.missing


def test_cache_hit_ratio_with_a_two_selector_denominator() -> None:
    series = [
        counter("hits_total", every(SECONDS, 7)),  # type: ignore[arg-type]
        counter("misses_total", every(SECONDS, 3)),  # type: ignore[arg-type]
    ]
    body = (
        "    metric: hits_total\n    denominator: [hits_total, misses_total]\n"
        "    aggregation: ratio\n    warn: '>= 0.9'\n    fail: '>= 0.8'\n"
    )
    v = verdict(body, series)
    assert v.observed == pytest.approx(0.7)
    assert v.status is Level.FAIL and v.breached == (Level.FAIL, Condition(Op.GE, 0.8))


# --- levels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed_ms", "status"),
    [(100, Level.PASS), (200, Level.WARN), (300, Level.FAIL), (600, Level.ABORT)],
)
def test_levels(observed_ms: int, status: Level) -> None:
    series = [hist(LAT, every(SECONDS, [observed_ms / 1000]))]
    body = (
        f"    metric: {LAT}\n    aggregation: max\n"
        "    warn: '< 200ms'\n    fail: '< 300ms'\n    abort: '< 500ms'\n"
    )
    v = verdict(body, series)
    assert v.status is status
    assert v.observed == pytest.approx(observed_ms / 1000)
    assert {lv: str(c) for lv, c in v.thresholds} == {
        Level.WARN: "< 0.2",
        Level.FAIL: "< 0.3",
        Level.ABORT: "< 0.5",
    }
    assert v.unit is Unit.SECONDS
    assert (v.breached is None) == (status is Level.PASS)


def test_floor_thresholds() -> None:
    series = [counter("reqs_total", every(SECONDS, 30))]  # type: ignore[arg-type]
    body = "    metric: reqs_total\n    aggregation: rate\n    warn: '> 40'\n    fail: '> 20'\n"
    v = verdict(body, series)
    assert v.observed == pytest.approx(30.0) and v.status is Level.WARN


# --- scopes --------------------------------------------------------------------------------

# 0.1 s everywhere, 0.9 s in seconds 41-45 (five seconds), 10 values per second
SPIKE = [hist(LAT, {t: [0.9] * 10 if 41 <= t <= 45 else [0.1] * 10 for t in SECONDS})]


def test_whole_run_hides_a_short_spike() -> None:
    # p95 of 1000 values, 50 of them 0.9: rank 950 -> 0.1
    v = verdict(f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 0.5s'\n", SPIKE)
    assert v.observed == pytest.approx(0.1, rel=0.01) and v.status is Level.PASS
    assert v.window == Window(0.0, 100.0)
    # the worst chunk of the trace is reported as evidence
    assert v.worst is not None and v.worst.end >= 40 and v.worst.start <= 45


def test_sliding_window_finds_the_spike_and_says_where() -> None:
    body = (
        f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 0.5s'\n    scope: {{window: 10s}}\n"
    )
    v = verdict(body, SPIKE)
    # a 10 s window holding >= 5 spike values of its 100 has p95 = 0.9; the first such
    # window, (31, 41], holds second 41's ten values and is reported as the worst
    assert v.observed == pytest.approx(0.9, rel=0.01) and v.status is Level.FAIL
    assert v.worst == Window(31.0, 41.0)
    assert v.sample_count == 100


def test_sustained_ignores_a_spike_shorter_than_for() -> None:
    body = f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 0.5s'\n    scope: {{for: 10s}}\n"
    v = verdict(body, SPIKE)
    # per-second p95 is 0.9 for only 5 s: the worst value held for 10 s is 0.1
    assert v.observed == pytest.approx(0.1, rel=0.01) and v.status is Level.PASS


def test_sustained_breach_when_it_holds_long_enough() -> None:
    body = f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 0.5s'\n    scope: {{for: 5s}}\n"
    v = verdict(body, SPIKE)
    assert v.observed == pytest.approx(0.9, rel=0.01) and v.status is Level.FAIL
    assert v.worst == Window(40.0, 45.0)
    assert v.sample_count == 50


def test_sustained_value_is_the_least_bad_of_the_stretch() -> None:
    # per-second max: 0.6, 0.8, 0.7 in seconds 11-13, else 0.1: held for 3 s = 0.6
    values = {t: [0.1] for t in SECONDS}
    values.update({11: [0.6], 12: [0.8], 13: [0.7]})
    body = (
        f"    metric: {LAT}\n    aggregation: max\n    warn: '< 0.5s'\n    fail: '< 0.65s'\n"
        "    scope: {for: 3s}\n"
    )
    v = verdict(body, [hist(LAT, values)])
    assert v.observed == pytest.approx(0.6) and v.status is Level.WARN


def test_sustained_over_sliding_windows() -> None:
    # window 2 s then for 3 s: 2-s maxima are 0.6 (t=11), 0.8, 0.8, 0.7 (t=14) -> held 3 s: 0.7
    values = {t: [0.1] for t in SECONDS}
    values.update({11: [0.6], 12: [0.8], 13: [0.7]})
    body = (
        f"    metric: {LAT}\n    aggregation: max\n    fail: '< 1s'\n"
        "    scope: {window: 2s, for: 3s}\n"
    )
    v = verdict(body, [hist(LAT, values)])
    assert v.observed == pytest.approx(0.7)


def test_window_longer_than_the_run_evaluates_the_whole_run_and_says_so() -> None:
    short = RunInfo("r", 0.0, 10.0)
    series = [hist(LAT, every(range(1, 11), [0.2]))]
    body = f"    metric: {LAT}\n    aggregation: max\n    fail: '< 1s'\n    scope: {{window: 5m}}\n"
    v = verdict(body, series, short)
    assert v.observed == pytest.approx(0.2) and "shorter than the window 5m" in v.message


def test_sustained_longer_than_the_run_is_missing_data() -> None:
    short = RunInfo("r", 0.0, 10.0)
    series = [hist(LAT, every(range(1, 11), [0.9]))]
    body = f"    metric: {LAT}\n    aggregation: max\n    fail: '< 0.5s'\n    scope: {{for: 1m}}\n"
    v = verdict(body, series, short)
    assert v.missing and v.status is Level.FAIL and "shorter than for 1m" in v.message


def test_ramp_up_is_excluded() -> None:
    # slow during the first 20 s only
    series = [hist(LAT, {t: [2.0] if t <= 20 else [0.1] for t in SECONDS})]
    body = f"    metric: {LAT}\n    aggregation: max\n    fail: '< 1s'\n"
    assert verdict(body, series).status is Level.FAIL
    v = verdict(body + "    ramp_up: 20s\n", series)
    assert v.status is Level.PASS and v.observed == pytest.approx(0.1)
    assert v.window == Window(20.0, 100.0) and v.sample_count == 80


def test_rate_over_the_run_after_ramp_up() -> None:
    # 10 requests per second, ramp-up 50 s: 500 requests over 50 s
    series = [counter("reqs_total", every(SECONDS, 10))]  # type: ignore[arg-type]
    body = "    metric: reqs_total\n    aggregation: rate\n    fail: '> 1'\n    ramp_up: 50s\n"
    assert verdict(body, series).observed == pytest.approx(10.0)


# --- group_by ------------------------------------------------------------------------------


def test_group_by_gives_one_verdict_per_group_and_names_the_failing_one() -> None:
    series = [
        hist(LAT, every(SECONDS, [0.1]), {"route": "/fast", "method": "GET"}),
        hist(LAT, every(SECONDS, [0.1]), {"route": "/fast", "method": "POST"}),
        hist(LAT, every(SECONDS, [0.7]), {"route": "/slow", "method": "GET"}),
    ]
    body = f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 0.5s'\n    group_by: route\n"
    vs = evaluate([one(body)], series, RUN)
    assert [(v.group, v.status) for v in vs] == [
        ((("route", "/fast"),), Level.PASS),
        ((("route", "/slow"),), Level.FAIL),
    ]
    assert vs[0].series == 2 and vs[0].sample_count == 200
    assert vs[1].title == "b [route=/slow]"


def test_selector_label_matching() -> None:
    series = [
        hist(LAT, every(SECONDS, [0.1]), {"route": "/api/a"}),
        hist(LAT, every(SECONDS, [0.2]), {"route": "/api/b"}),
        hist(LAT, every(SECONDS, [0.9]), {"route": "/metrics"}),
    ]
    base = "    aggregation: max\n    fail: '< 1s'\n"
    glob = verdict(f'    metric: {LAT}{{route=*"/api/*"}}\n' + base, series)
    assert glob.observed == pytest.approx(0.2) and glob.series == 2
    regex = verdict(f'    metric: {LAT}{{route=~"/api/(a|c)"}}\n' + base, series)
    assert regex.observed == pytest.approx(0.1)
    neg = verdict(f"    metric: {LAT}\n    labels: {{route: {{not: /metrics}}}}\n" + base, series)
    assert neg.observed == pytest.approx(0.2)


# --- missing data --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "status"), [("fail", Level.FAIL), ("warn", Level.WARN), ("pass", Level.PASS)]
)
def test_missing_data_follows_the_policy_and_always_says_so(policy: str, status: Level) -> None:
    body = (
        f"    metric: nothing_here\n    aggregation: p95\n    fail: '< 1'\n"
        f"    on_missing: {policy}\n"
    )
    v = verdict(body, FOUR)
    assert v.status is status and v.missing and v.observed is None
    assert "missing data: no series match nothing_here" in v.message
    assert f"on_missing: {policy}" in v.message


def test_missing_data_defaults_to_fail() -> None:
    v = verdict("    metric: nothing_here\n    aggregation: p95\n    fail: '< 1'\n", FOUR)
    assert v.status is Level.FAIL and v.missing


def test_too_few_samples_is_missing_data() -> None:
    series = [hist(LAT, every(range(1, 4), [0.1]))]  # 3 observations
    body = f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 1s'\n    min_samples: 10\n"
    v = verdict(body, series)
    assert v.missing and v.status is Level.FAIL and "3 samples, min_samples is 10" in v.message


def test_data_only_during_ramp_up_is_missing() -> None:
    series = [hist(LAT, every(range(1, 10), [0.1]))]
    body = f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 1s'\n    ramp_up: 30s\n"
    v = verdict(body, series)
    assert v.missing and "after the 30s ramp-up" in v.message


def test_windows_with_too_few_samples_are_skipped() -> None:
    # one slow value alone in second 50, 10 fast values per second elsewhere
    values = {t: [0.1] * 10 for t in SECONDS}
    values[50] = [5.0]
    body = (
        f"    metric: {LAT}\n    aggregation: max\n    fail: '< 1s'\n"
        "    scope: {window: 1s}\n    min_samples: 5\n"
    )
    assert verdict(body, [hist(LAT, values)]).observed == pytest.approx(0.1)


def test_live_run_uses_now() -> None:
    live = RunInfo("live", 0.0, None)
    series = [counter("reqs_total", every(range(1, 51), 10))]  # type: ignore[arg-type]
    body = "    metric: reqs_total\n    aggregation: rate\n    fail: '> 1'\n"
    # 500 requests by t=50, evaluated at now=100: 5/s (the silence since counts)
    assert verdict(body, series, live, now=100.0).observed == pytest.approx(5.0)
    assert verdict(body, series, live).observed == pytest.approx(10.0)


# --- baselines -----------------------------------------------------------------------------

BASE_RUN = RunInfo("base-1", 0.0, 100.0, scenario="peak", git_branch="main")
BASELINE_BODY = (
    f"    metric: {LAT}\n    aggregation: p95\n    fail: '< 10s'\n"
    "    baseline: {max_regression: 10%, chunk: 10s}\n"
)


def latency(level: float, jitter: float = 0.0) -> list:
    # per-second values alternate around `level` so every 10 s chunk has the same p95
    return [hist(LAT, {t: [level + (jitter if t % 2 else -jitter)] * 10 for t in SECONDS})]


def with_baseline(current: list, baseline: list | None, label: str = "last passing run base-1"):  # type: ignore[no-untyped-def]
    br = BaselineRun(label, BASE_RUN if baseline is not None else None, baseline or [])
    return verdict(BASELINE_BODY, current, baselines={"last_passing": br})


def test_baseline_pass_within_the_limit() -> None:
    v = with_baseline(latency(0.105), latency(0.100))  # 5% worse
    assert v.baseline is not None and v.baseline.outcome is BaselineOutcome.PASS
    assert v.baseline.change == pytest.approx(0.05, abs=0.02)
    assert v.status is Level.PASS
    assert v.baseline.baseline == "last passing run base-1"
    assert v.baseline.baseline_run == "base-1"


def test_baseline_fail_on_a_clear_regression() -> None:
    v = with_baseline(latency(0.150, 0.005), latency(0.100, 0.005))  # 50% worse, every chunk
    assert v.baseline is not None and v.baseline.outcome is BaselineOutcome.FAIL
    assert v.baseline.p_value is not None and v.baseline.p_value < 0.05
    assert v.status is Level.FAIL
    assert v.breached is None  # the absolute threshold held; the baseline failed it


def test_baseline_inconclusive_when_the_difference_is_noise() -> None:
    # current p95 over the run is 15% worse, but only one 10-s chunk is slow: the per-chunk
    # distributions overlap, so the test cannot call it a regression
    base = latency(0.100, 0.002)
    cur_values = {t: [0.098 if t % 2 else 0.102] * 10 for t in SECONDS}
    for t in range(31, 41):
        cur_values[t] = [0.2] * 10
    v = with_baseline([hist(LAT, cur_values)], base)
    assert v.baseline is not None and v.baseline.outcome is BaselineOutcome.INCONCLUSIVE
    assert v.baseline.change is not None and v.baseline.change > 0.1
    assert "a transient, not a regression" in v.baseline.reason
    assert v.status is Level.WARN  # on_inconclusive defaults to warn: visible, not failing


def test_baseline_inconclusive_without_a_baseline_run() -> None:
    v = with_baseline(latency(0.1), None, "no passing run before this one on branch main")
    assert v.baseline is not None and v.baseline.outcome is BaselineOutcome.INCONCLUSIVE
    assert "no passing run" in v.baseline.reason and v.status is Level.WARN


def test_baseline_inconclusive_with_too_few_chunks() -> None:
    short = [hist(LAT, {t: [0.3] * 10 for t in range(1, 31)})]
    base = latency(0.1)
    br = BaselineRun("named", BASE_RUN, base)
    body = BASELINE_BODY.replace("chunk: 10s", "chunk: 10s, min_chunks: 5")
    v = evaluate([one(body)], short, RunInfo("c", 0.0, 30.0), {"last_passing": br})[0]
    assert v.baseline is not None and v.baseline.outcome is BaselineOutcome.INCONCLUSIVE
    assert "too few chunks" in v.baseline.reason


def test_baseline_for_a_floor_budget() -> None:
    body = (
        "    metric: reqs_total\n    aggregation: rate\n    fail: '> 1'\n"
        "    baseline: {max_regression: 10%}\n"
    )
    cur = [counter("reqs_total", {t: 50 + (t % 3) for t in SECONDS})]
    base = [counter("reqs_total", {t: 100 + (t % 3) for t in SECONDS})]
    br = BaselineRun("b", BASE_RUN, base)
    v = evaluate([one(body)], cur, RUN, {"last_passing": br})[0]
    assert v.baseline is not None and v.baseline.outcome is BaselineOutcome.FAIL
    assert v.baseline.change == pytest.approx(0.5, abs=0.01)  # half the throughput


def test_named_baseline_key_and_group_matching() -> None:
    text = (
        "budgets:\n  - name: b\n    metric: http_seconds\n    aggregation: p95\n"
        "    fail: '< 10s'\n    group_by: route\n"
        "    baseline: {against: release-1, max_regression: 10%}\n"
    )
    cur = [
        hist(LAT, every(SECONDS, [0.1]), {"route": "/a"}),
        hist(LAT, every(SECONDS, [0.1]), {"route": "/new"}),
    ]
    base = [hist(LAT, every(SECONDS, [0.1]), {"route": "/a"})]
    br = BaselineRun("baseline 'release-1' (run base-1)", BASE_RUN, base)
    vs = evaluate(budgets(text), cur, RUN, {"named:release-1": br})
    outcomes = {v.group_label: v.baseline.outcome for v in vs if v.baseline}
    assert outcomes == {
        "route=/a": BaselineOutcome.PASS,
        "route=/new": BaselineOutcome.INCONCLUSIVE,  # no such group in the baseline
    }


def test_evaluation_is_pure() -> None:
    bs = budgets(
        "budgets:\n"
        f"  - {{name: a, metric: {LAT}, aggregation: p95, fail: '<1s', scope: {{window: 10s}}}}\n"
        f"  - {{name: c, metric: {LAT}, aggregation: avg, fail: '< 0.5s'}}\n"
    )
    first = evaluate(bs, SPIKE, RUN)
    second = evaluate(bs, SPIKE, RUN)
    assert first == second
    assert [v.budget for v in first] == ["a", "c"]


def test_a_runs_baseline_comparisons_are_corrected_together() -> None:
    text = (
        "budgets:\n  - name: b\n    metric: http_seconds\n    aggregation: p95\n"
        "    fail: '< 10s'\n    group_by: route\n    baseline: {max_increase: 10%, chunk: 10s}\n"
    )
    routes = ("/a", "/b", "/c")
    base = [
        hist(LAT, {t: [0.1 + (t % 7) * 1e-3] * 5 for t in SECONDS}, {"route": r}) for r in routes
    ]
    cur = [
        hist(LAT, {t: [0.1 + (t % 5) * 1e-3] * 5 for t in SECONDS}, {"route": r}) for r in routes
    ]
    br = BaselineRun("b", BASE_RUN, base)
    vs = evaluate(budgets(text), cur, RUN, {"last_passing": br})
    comparisons = [v.baseline for v in vs if v.baseline is not None]
    assert len(comparisons) == 3
    for c in comparisons:
        assert c.family == 3 and c.p_value is not None and c.q_value is not None
        assert c.q_value >= c.p_value


def test_abort_after_holds_a_live_abort_until_the_run_is_old_enough() -> None:
    body = f"    metric: {LAT}\n    aggregation: max\n    abort: '< 500ms'\n    abort_after: 30s\n"
    series = [hist(LAT, every(range(1, 21), [0.9]))]
    live = RunInfo("live", 0.0, None)
    early = verdict(body, series, live, now=20.0)
    assert early.status is Level.FAIL and "abort held until 30s" in early.message
    late = verdict(body, series, live, now=31.0)
    assert late.status is Level.ABORT
    finished = verdict(body, series, RunInfo("done", 0.0, 20.0))
    assert finished.status is Level.ABORT  # the final verdict keeps the level reached


def test_intervals_that_arrive_out_of_order_are_all_counted() -> None:
    """A distributed run's workers report their per-second slices when they arrive, so a
    series can hold 5 after 6 (and two slices ending at the same second); every one counts."""
    from dataclasses import replace

    from collectors.model import Histogram, HistogramPoint

    (series,) = FOUR
    late = HistogramPoint(99.0, 100.0, Histogram.of([0.4]))
    shuffled = (*series.histograms[50:], *series.histograms[:50], late)
    v = verdict(
        f"    metric: {LAT}\n    aggregation: count\n    fail: '< 1000'\n",
        [replace(series, histograms=shuffled)],
    )
    assert v.observed == 401
    p = verdict(
        f"    metric: {LAT}\n    aggregation: max\n    fail: '< 1s'\n    scope: {{window: 10s}}\n",
        [replace(series, histograms=shuffled)],
    )
    assert p.observed == pytest.approx(0.4, rel=0.01)
    # The live monitor's timelines are built from the series as they arrived.
    timeline = build_timeline([replace(series, histograms=shuffled)], RowsCache(), 0.0, 100.0)
    assert list(timeline.ts) == [float(t) for t in SECONDS]
    assert int(timeline.observations.sum()) == 401 and timeline.observations[-1] == 5

"""k6 compatibility: k6's metric names, tag filters and threshold semantics mapped onto the
series Castiel collects from Locust (loadtest/stream.py, loadtest/reporter.py).

A k6 user pastes their `thresholds` block and gets what k6 would have decided:

| k6 metric | k6 type | methods | Castiel series |
|---|---|---|---|
| `http_req_duration` | trend (ms) | avg min max med p(N) | `locust_request_duration_seconds` |
| `http_req_failed` | rate | rate (fraction failed) | `locust_failures_total` / requests |
| `http_reqs` | counter | count, rate (per s) | `locust_requests_total` |
| `iterations` | counter | count, rate (per s) | `locust_iterations_total` (tasks run) |
| `vus` | gauge | value (last) | `locust_users` |
| `vus_max` | gauge | value (the peak) | `locust_users` |
| `checks` | rate | rate (fraction passed) | `locust_responses_total` by `expected_response` |

Tag filters: `name`, `method`, `status`, `expected_response` (a request Locust counted as a
success) and `scenario` (the run's scenario). In a k6 metric's threshold a bare number means
k6's unit: milliseconds for `http_req_duration`, a fraction for rates, a count for counters.

Anything k6 accepts that Castiel cannot honour (its other built-in metrics, other tags,
non-finite limits) is an error that says so, never a silently different check.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from budgets.aggregations import LAST, MAX, RATIO, Aggregation
from budgets.model import Condition
from budgets.selectors import Matcher, Selector
from budgets.shorthand import Expression

DURATION = "locust_request_duration_seconds"
REQUESTS = "locust_requests_total"
FAILURES = "locust_failures_total"
USERS = "locust_users"
ITERATIONS = "locust_iterations_total"
RESPONSES = "locust_responses_total"
"""Per status and outcome (`expected_response`): the reporter's per-request detail."""
RESPONSE_DURATION = "locust_response_duration_seconds"
"""Durations per status and outcome."""


class CannotHonour(ValueError):
    """k6 accepts it, but Castiel cannot evaluate it against Locust's data."""


class Kind(StrEnum):
    TREND = "trend"
    RATE = "rate"
    COUNTER = "counter"
    GAUGE = "gauge"


_METHODS = {
    Kind.TREND: "avg, min, max, med, p(N)",
    Kind.RATE: "rate",
    Kind.COUNTER: "count, rate",
    Kind.GAUGE: "value",
}
_KINDS = {
    "http_req_duration": Kind.TREND,
    "http_req_failed": Kind.RATE,
    "http_reqs": Kind.COUNTER,
    "iterations": Kind.COUNTER,
    "vus": Kind.GAUGE,
    "vus_max": Kind.GAUGE,
    "checks": Kind.RATE,
}
_TAGS = {
    "http_req_duration": ("name", "method", "status", "expected_response", "scenario"),
    "http_req_failed": ("name", "method", "status", "scenario"),
    "http_reqs": ("name", "method", "status", "expected_response", "scenario"),
    "iterations": ("scenario",),
    "vus": (),
    "vus_max": (),
    "checks": ("scenario",),
}
UNSUPPORTED = {
    "iteration_duration": "Locust does not time whole task iterations",
    "dropped_iterations": "Locust drops no iterations (arrival-rate runs report their "
    "achieved rate instead; see the validity check)",
    "data_received": "Locust does not count bytes received",
    "data_sent": "Locust does not count bytes sent",
    "http_req_blocked": "Locust does not split a request into phases",
    "http_req_connecting": "Locust does not split a request into phases",
    "http_req_tls_handshaking": "Locust does not split a request into phases",
    "http_req_sending": "Locust does not split a request into phases",
    "http_req_waiting": "Locust does not split a request into phases",
    "http_req_receiving": "Locust does not split a request into phases",
    "group_duration": "Locust has no groups",
}
"""k6 built-in metrics without a Locust equivalent."""
_K6_PREFIXES = ("ws_", "grpc_", "browser_")


def is_k6_metric(metric: str) -> bool:
    """Whether a `thresholds:` key names a k6 built-in metric (with or without tags)."""
    name = metric.split("{", 1)[0].strip()
    return name in _KINDS or name in UNSUPPORTED or name.startswith(_K6_PREFIXES)


def parse_metric_name(expr: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """k6's `name{tag:value,...}`: tag values may hold `:`, `{`, `}` and quotes; a tag needs a
    value. Raises ValueError as k6 would."""
    text = expr.strip()
    if "{" not in text and "}" not in text:
        return text, ()
    open_at = text.find("{")
    if open_at <= 0 or not text.endswith("}"):
        raise ValueError(f"malformed metric name {expr!r}: tags go in one trailing {{...}}")
    name, body = text[:open_at].strip(), text[open_at + 1 : -1]
    tags = []
    for part in body.split(","):
        key, colon, value = part.partition(":")
        key, value = _unquote(key.strip()), _unquote(value.strip())
        if not colon or not key or not value:
            raise ValueError(f"malformed tag {part.strip()!r} in {expr!r} (expected tag:value)")
        tags.append((key, value))
    return name, tuple(tags)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


@dataclass(frozen=True)
class Translation:
    """A k6 threshold as Castiel's budget parts."""

    selector: Selector
    aggregation: Aggregation
    condition: Condition
    denominator: tuple[Selector, ...] = ()
    run_scenario: str | None = None


def translate(metric: str, expression: Expression) -> Translation:
    """One k6 threshold (`metric` may carry tag filters). Raises ValueError for what k6
    rejects too and CannotHonour for what k6 accepts but Castiel cannot evaluate."""
    name, tags = parse_metric_name(metric)
    if name in UNSUPPORTED:
        raise CannotHonour(f"k6's {name} has no equivalent here: {UNSUPPORTED[name]}")
    if name not in _KINDS:
        raise CannotHonour(f"k6's {name} has no equivalent in Castiel's Locust data")
    kind = _KINDS[name]
    method = expression.method
    if method is None:
        raise ValueError(f"write the aggregation k6 uses on a {kind.value}: {_METHODS[kind]}")
    cond = expression.condition
    if not math.isfinite(cond.value):
        raise CannotHonour("k6 accepts a non-finite limit; Castiel compares finite numbers only")
    labels, scenario, detail = _filters(name, tags)
    if kind is Kind.TREND:
        return _trend(method, cond, expression.bare, labels, scenario, detail)
    if name == "http_req_failed":
        _only(method, ("rate",), kind)
        return _failed(cond, labels, scenario, detail)
    if name == "checks":
        _only(method, ("rate",), kind)
        passed = Selector(Matcher.exact(RESPONSES), (("expected_response", Matcher.exact("true")),))
        return Translation(
            passed,
            Aggregation(RATIO),
            cond,
            (Selector(Matcher.exact(RESPONSES)),),
            scenario,
        )
    if kind is Kind.COUNTER:
        _only(method, ("count", "rate"), kind)
        series = ITERATIONS if name == "iterations" else (RESPONSES if detail else REQUESTS)
        return Translation(_selector(series, labels), Aggregation.parse(method), cond, (), scenario)
    _only(method, ("value",), kind)
    agg = LAST if name == "vus" else MAX
    return Translation(Selector(Matcher.exact(USERS)), Aggregation(agg), cond, (), scenario)


_LABELS = {"name": "name", "method": "method", "status": "status"}


def _filters(
    name: str, tags: tuple[tuple[str, str], ...]
) -> tuple[tuple[tuple[str, Matcher], ...], str | None, bool]:
    """Label matchers, the scenario, and whether the per-status detail series are needed."""
    labels: list[tuple[str, Matcher]] = []
    scenario = None
    detail = False
    allowed = _TAGS[name]
    for tag, value in tags:
        if tag not in allowed:
            which = f"it filters by {', '.join(allowed)}" if allowed else "it has no tags here"
            raise CannotHonour(
                f"k6's tag filter {{{tag}:{value}}} on {name} cannot be honoured: {which}"
            )
        if tag == "scenario":
            scenario = value
        elif tag == "expected_response":
            if value not in ("true", "false"):
                raise ValueError(f"expected_response is true or false, not {value!r}")
            labels.append(("expected_response", Matcher.exact(value)))
            detail = True
        else:
            wanted = value.upper() if tag == "method" else value
            labels.append((_LABELS[tag], Matcher.exact(wanted)))
            detail = detail or tag == "status"
    return tuple(labels), scenario, detail


def _selector(series: str, labels: tuple[tuple[str, Matcher], ...]) -> Selector:
    return Selector(Matcher.exact(series), labels)


def _only(method: str, allowed: tuple[str, ...], kind: Kind) -> None:
    if method not in allowed:
        raise ValueError(
            f"{method!r} is not an aggregation k6 allows on a {kind.value} metric "
            f"(it allows {_METHODS[kind]})"
        )


_PERCENTILE = re.compile(r"^p\(\s*(\d+(?:\.\d+)?)\s*\)$")


def _trend(
    method: str,
    cond: Condition,
    bare: bool,
    labels: tuple[tuple[str, Matcher], ...],
    scenario: str | None,
    detail: bool,
) -> Translation:
    if method in ("avg", "min", "max", "med") or _PERCENTILE.match(method):
        agg = Aggregation.parse(method)
    else:
        _only(method, (), Kind.TREND)
        raise AssertionError(method)
    # k6 trends of time are in milliseconds: a bare 500 is half a second.
    value = cond.value / 1000.0 if bare else cond.value
    series = RESPONSE_DURATION if detail else DURATION
    return Translation(_selector(series, labels), agg, Condition(cond.op, value), (), scenario)


def _failed(
    cond: Condition,
    labels: tuple[tuple[str, Matcher], ...],
    scenario: str | None,
    detail: bool,
) -> Translation:
    if detail:
        failed = (*labels, ("expected_response", Matcher.exact("false")))
        return Translation(
            _selector(RESPONSES, failed),
            Aggregation(RATIO),
            cond,
            (_selector(RESPONSES, labels),),
            scenario,
        )
    return Translation(
        _selector(FAILURES, labels),
        Aggregation(RATIO),
        cond,
        (_selector(REQUESTS, labels),),
        scenario,
    )


def bare_seconds_hint(value: float) -> str:
    """The hint for a bare number on a metric in seconds."""
    if value >= 1:
        return f"did you mean {value:g}ms? (or {value:g}s)"
    return f"did you mean {value * 1000:g}ms? (= {value:g}s)"

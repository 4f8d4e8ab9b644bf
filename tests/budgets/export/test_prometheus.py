"""Budgets exported as Prometheus rules, checked by Prometheus' own `promtool`: every example
budget file and a corpus of every aggregation and scope load (`promtool check rules`), and
rule unit tests (`promtool test rules`: generated series in, expected alerts out) prove a
percentile, a ratio and a burn-rate budget fire where Castiel says they fail, and only there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from budgets.export.catalogue import Catalogue, MetricInfo
from budgets.export.config import OncallConfigError, parse_oncall
from budgets.export.options import ExportOptions
from budgets.export.prometheus import RuleFile, export_rules, slugs
from budgets.export.promql import Unexpressible, glob_regex, objective
from budgets.model import Level
from budgets.spec import load_budget_file, parse_budgets
from collectors.model import MetricKind
from collectors.promql import promql_duration
from tests.helpers import ROOT, need

HERE = Path(__file__).parent
BUDGET_FILES = [
    ROOT / "examples" / "budgets.yaml",
    ROOT / "examples" / "cache-comparison.yaml",
    HERE / "corpus.yaml",
]


def export(path: Path, options: ExportOptions | None = None) -> RuleFile:
    spec = load_budget_file(path)
    return export_rules(spec.budgets, options or ExportOptions(), str(path))


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("promtool"), *args], check=False, capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.mark.parametrize("path", BUDGET_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_export_of_every_budget_file(path: Path, tmp_path: Path) -> None:
    rules = export(path)
    out = tmp_path / "rules.yaml"
    out.write_text(rules.to_yaml())
    result = promtool("check", "rules", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    n = sum(len(g.rules) for g in rules.groups)
    assert f"SUCCESS: {n} rules found" in result.stdout


@pytest.mark.parametrize("path", BUDGET_FILES, ids=lambda p: p.name)
def test_no_budget_is_dropped_silently(path: Path) -> None:
    """Each budget with thresholds alerts, or a note says why not (and the note is in the
    file)."""
    spec = load_budget_file(path)
    rules = export_rules(spec.budgets, ExportOptions(), str(path))
    alerted = {dict(a.labels)["budget"] for a in rules.alerts()}
    text = rules.to_yaml()
    for b in spec.budgets:
        noted = [n for n in rules.notes if n.budget == b.name]
        if b.thresholds and b.name not in alerted:
            assert any(n.what == "not exported" for n in noted), b.name
        if b.baseline is not None:
            assert any(n.what == "baseline comparison" for n in noted), b.name
        for n in noted:
            assert n.why in text


def test_the_corpus_exports_what_promql_can_say_and_names_the_rest() -> None:
    rules = export(HERE / "corpus.yaml")
    not_exported = {n.budget for n in rules.notes if n.what == "not exported"}
    assert not_exported == {
        "h-min",
        "h-max",
        "c-avg",
        "c-p95",
        "c-max",
        "c-last",
        "g-rate",
        "g-unavailable",
        "g-glob-name",
        "q-counter-avg",
    }
    records = {r.record: r.expr for g in rules.groups for r in g.rules if hasattr(r, "record")}
    assert records["castiel_budget:h_p99_9_window:p99_9_1m"] == (
        "histogram_quantile(0.999, sum by (le, route, method) (rate("
        'castiel_http_request_duration_seconds_bucket{route=~"/api/.*",method!="HEAD"}[1m])))'
    )
    assert records["castiel_budget:c_ratio_two_denominators:ratio_5m"] == (
        "(sum by (cache) (rate(castiel_cache_hits_total[5m])) or sum by (cache) ("
        'label_replace(rate(castiel_cache_hits_total[5m]), "castiel_term", "0", "", "") or '
        'label_replace(rate(castiel_cache_misses_total{layer="redis"}[5m]), "castiel_term", '
        '"1", "", "")) * 0) / sum by (cache) (label_replace(rate(castiel_cache_hits_total[5m]), '
        '"castiel_term", "0", "", "") or label_replace(rate(castiel_cache_misses_total{layer='
        '"redis"}[5m]), "castiel_term", "1", "", ""))'
    )
    # A queue depth is read from Redis by every process alike: max across instances.
    assert records["castiel_budget:g_max:max_2m"] == (
        'max_over_time((sum (max without (instance, job) (castiel_queue_jobs{state="wait"})))[2m:])'
    )
    assert records["castiel_budget:q_counter_rate:rate_5m"] == (
        "sum (sum(increase(castiel_jobs_total[5m]))) / 300"
    )
    alerts = {(a.alert, dict(a.labels)["level"]): a for a in rules.alerts()}
    # `for` is the budget's sustained scope; a floor threshold fires below it.
    assert alerts[("h_p95_sustained", "fail")].for_ == 120
    assert alerts[("g_min", "fail")].expr == "castiel_budget:g_min:min_5m < 0"
    assert "samples_5m >= 20" in alerts[("h_p95_sustained", "fail")].expr
    assert ("c_ratio_two_denominators_error_budget_burn", "fail") in alerts
    kinds = {n.what for n in rules.notes if n.budget == "g-unknown"}
    assert kinds == {"kind of shop_basket_items"}


def test_burn_rate_factors_follow_the_error_budget_period() -> None:
    spec = parse_budgets(
        """
        budgets:
          - name: errors
            metric: castiel_http_requests_total{status=~"5.."}
            denominator: castiel_http_requests_total
            aggregation: ratio
            fail: "< 0.1%"
            on_missing: pass
        """
    )
    month = export_rules(spec.budgets, ExportOptions(), "b.yaml").alerts()
    page = next(a for a in month if a.alert.endswith("burn") and ("level", "fail") in a.labels)
    # 2 % of 30 days in 1 h is 14.4x; at a 0.1 % budget that is a 1.44 % bad share.
    assert "bad_share_1h > 0.0144" in page.expr and "bad_share_5m > 0.0144" in page.expr
    assert "bad_share_6h > 0.006" in page.expr
    week = ExportOptions(periods={"errors": 7 * 86400.0})
    page7 = next(
        a
        for a in export_rules(spec.budgets, week, "b.yaml").alerts()
        if a.alert.endswith("burn") and ("level", "fail") in a.labels
    )
    assert "bad_share_1h > 0.00336" in page7.expr  # 0.02 * 168 h / 1 h * 0.001


def test_latency_objectives_need_a_bucket_boundary() -> None:
    spec = parse_budgets(
        """
        defaults: {on_missing: pass}
        budgets:
          - {name: boundary, metric: castiel_http_request_duration_seconds, fail: "p(99)<250ms"}
          - {name: between, metric: castiel_http_request_duration_seconds, fail: "p(99)<350ms"}
          - {name: unknown, metric: castiel_db_query_duration_seconds, fail: "p(99)<50ms"}
        """
    )
    on, off, unknown = spec.budgets
    cat = Catalogue.builtin()
    goal = objective(on, cat)
    assert goal.le == 0.25 and goal.error_budget == pytest.approx(0.01)
    with pytest.raises(Unexpressible, match=r"0\.35 is not a bucket boundary"):
        objective(off, cat)
    with pytest.raises(Unexpressible, match="bucket boundaries of castiel_db_query"):
        objective(unknown, cat)
    hinted = Catalogue.builtin(
        {"castiel_db_query_duration_seconds": MetricInfo("x", MetricKind.HISTOGRAM, (0.05,))}
    )
    assert objective(unknown, hinted).le == 0.05
    # Python's client writes le="0.25", Go's le="0.25" too but le="1" for 1.0: both match.
    assert 'le=~"0\\\\.25"' in goal.bad_share(60, cat)


def test_names_durations_and_globs() -> None:
    assert slugs(["api-latency p95", "a-b", "a_b"]) == {
        "api-latency p95": "api_latency_p95",
        "a-b": "a_b_" + slugs(["a-b", "a_b"])["a-b"][-8:],
        "a_b": "a_b_" + slugs(["a-b", "a_b"])["a_b"][-8:],
    }
    assert slugs(["a-b", "a_b"])["a-b"] != slugs(["a-b", "a_b"])["a_b"]
    assert [promql_duration(s) for s in (15, 2.5, 300, 3600, 21600, 259200)] == [
        "15s",
        "2500ms",
        "5m",
        "1h",
        "6h",
        "3d",
    ]
    pattern = glob_regex("/api/*.json?[!x]")
    assert pattern == "/api/.*\\.json.[^x]"
    assert re.fullmatch(pattern, "/api/v1/items.jsonzy")
    assert not re.fullmatch(pattern, "/api/items.jsonax")


def test_oncall_section_sets_options_and_locates_mistakes() -> None:
    options = parse_oncall(
        """
oncall:
  window: 10m
  period: 28d
  burn_windows:
    - {long: 2h, short: 10m, consumed: 5%, notify: page}
  budgets:
    api: {period: 7d}
  metrics:
    shop_latency_seconds: {kind: histogram, buckets: [0.1, 0.5]}
"""
    )
    assert options.window == 600 and options.period == 28 * 86400
    assert options.period_of("api") == 7 * 86400 and options.period_of("other") == 28 * 86400
    (bw,) = options.burn_windows
    assert (bw.long, bw.short, bw.consumed, bw.level) == (7200, 600, 0.05, Level.FAIL)
    assert options.catalogue.lookup("shop_latency_seconds").info.buckets == (0.1, 0.5)
    with pytest.raises(OncallConfigError) as err:
        parse_oncall(
            "oncall:\n  burn_windows:\n    - {long: 5m, short: 1h, consumed: 2%}\n"
            "  metrics:\n    x: {kind: counter, buckets: [1]}\n  windw: 5m\n",
            "castiel.yaml",
        )
    messages = [str(i) for i in err.value.issues]
    assert any(
        m.startswith("castiel.yaml:3:") and "must be shorter than long" in m for m in messages
    )
    assert any("castiel.yaml:5:" in m and "only histograms have buckets" in m for m in messages)
    assert any("castiel.yaml:6:" in m and "did you mean 'window'" in m for m in messages)


# --- promtool test rules -----------------------------------------------------------------------

UNIT_BUDGETS = """
version: 1
budgets:
  - name: checkout-p95
    description: Checkout answers within half a second.
    metric: castiel_http_request_duration_seconds{route!="/metrics"}
    aggregation: p95
    warn: "< 250ms"
    fail: "< 500ms"
    group_by: [route]
    scope: {window: 5m, for: 2m}
    min_samples: 50
    on_missing: pass
  - name: api-errors
    metric: castiel_http_requests_total{status=~"5.."}
    denominator: castiel_http_requests_total
    aggregation: ratio
    fail: "< 1%"
    group_by: [route]
    on_missing: pass
"""

# Per minute: /checkout 80 fast (<= 0.1 s), 10 at <= 0.25 s, 10 at <= 0.75 s -> p95 = 0.625 s;
# /fast all fast; /rare is slow but sees 1 request a minute (5 < min_samples in 5 min).
BUCKETS = ("0.1", "0.25", "0.5", "0.75", "+Inf")
ROUTES = {
    "/checkout": (80, 90, 90, 100, 100),
    "/fast": (100, 100, 100, 100, 100),
    "/rare": (0, 0, 0, 1, 1),
}
# Requests per minute by status: /a fails 20 % (pages), /b 3 % (a ticket), /c 0.5 % (fine).
STATUSES = {"/a": (80, 20), "/b": (97, 3), "/c": (199, 1)}


def _series() -> list[dict[str, str]]:
    out = []
    h = "castiel_http_request_duration_seconds"
    for route, counts in ROUTES.items():
        for le, per_min in zip(BUCKETS, counts, strict=True):
            out.append(
                {"series": f'{h}_bucket{{route="{route}",le="{le}"}}', "values": f"0+{per_min}x80"}
            )
        out.append({"series": f'{h}_count{{route="{route}"}}', "values": f"0+{counts[-1]}x80"})
    for route, (ok, bad) in STATUSES.items():
        for status, per_min in (("200", ok), ("500", bad)):
            out.append(
                {
                    "series": f'castiel_http_requests_total{{route="{route}",status="{status}"}}',
                    "values": f"0+{per_min}x80",
                }
            )
    return out


def _alert(labels: dict[str, str], **annotations: str) -> dict[str, object]:
    return {"exp_labels": labels, "exp_annotations": annotations}


def _p95(level: str, severity: str, threshold: str, route: str = "/checkout") -> dict[str, object]:
    return _alert(
        {
            "budget": "checkout-p95",
            "level": level,
            "severity": severity,
            "route": route,
            "group": f"route={route}",
        },
        summary=f"checkout-p95 [route={route}]: p95 = 625ms, must be {threshold} ({level})",
        threshold=threshold,
        observed="625ms",
        description="Checkout answers within half a second.",
    )


def _burn(level: str, severity: str, route: str) -> dict[str, object]:
    said = "14.4x over 1h and 5m or 6x over 6h and 30m" if level == "fail" else "1x over 3d and 6h"
    return _alert(
        {
            "budget": "api-errors",
            "level": level,
            "severity": severity,
            "route": route,
            "group": f"route={route}",
        },
        summary=f"api-errors [route={route}]: burning its error budget (1% "
        'castiel_http_requests_total{status=~"5.."} among castiel_http_requests_total per 30d) '
        f"at {said}",
        error_budget="1%",
        period="30d",
    )


def _errors(route: str, percent: str) -> dict[str, object]:
    return _alert(
        {
            "budget": "api-errors",
            "level": "fail",
            "severity": "critical",
            "route": route,
            "group": f"route={route}",
        },
        summary=f"api-errors [route={route}]: ratio = {percent}, must be < 1% (fail)",
        threshold="< 1%",
        observed=percent,
    )


def test_promtool_unit_tests_fire_exactly_where_the_budgets_fail(tmp_path: Path) -> None:
    spec = parse_budgets(UNIT_BUDGETS, "unit.yaml")
    (tmp_path / "rules.yaml").write_text(export_rules(spec.budgets, ExportOptions(), "u").to_yaml())
    at = 30  # minutes: long enough for every window up to 1 h to have data
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(),
                "alert_rule_test": [
                    # the p95 is over both thresholds, but `for: 2m` holds it back at first
                    {"eval_time": "2m", "alertname": "checkout_p95", "exp_alerts": []},
                    {
                        "eval_time": f"{at}m",
                        "alertname": "checkout_p95",
                        "exp_alerts": [
                            _p95("warn", "warning", "< 250 ms"),
                            _p95("fail", "critical", "< 500 ms"),
                        ],
                    },
                    {
                        "eval_time": f"{at}m",
                        "alertname": "api_errors",
                        "exp_alerts": [_errors("/a", "20%"), _errors("/b", "3%")],
                    },
                    {
                        "eval_time": f"{at}m",
                        "alertname": "api_errors_error_budget_burn",
                        "exp_alerts": [
                            _burn("warn", "warning", "/a"),
                            _burn("fail", "critical", "/a"),
                            _burn("warn", "warning", "/b"),
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fail_when_the_expectation_is_wrong(tmp_path: Path) -> None:
    """The unit tests above could fail: an expected alert on the healthy route is refused."""
    spec = parse_budgets(UNIT_BUDGETS, "unit.yaml")
    (tmp_path / "rules.yaml").write_text(export_rules(spec.budgets, ExportOptions(), "u").to_yaml())
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(),
                "alert_rule_test": [
                    {
                        "eval_time": "30m",
                        "alertname": "checkout_p95",
                        "exp_alerts": [_p95("fail", "critical", "< 500 ms", route="/rare")],
                    }
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode != 0

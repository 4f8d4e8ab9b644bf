"""Lighthouse CI's budget.json, read as is: validation with located errors, the mapping to
Castiel budgets (KiB, ms, robots.txt paths, last match wins) and gating through the same
evaluator as every other budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from budgets.aggregations import MAX
from budgets.evaluate import evaluate
from budgets.lhci import is_lighthouse_budget, parse_lighthouse_budgets, robots_regex
from budgets.model import Level, MissingPolicy
from budgets.selectors import Matcher
from budgets.spec import BudgetSpecError, load_budget_file
from collectors.model import SeriesKey
from collectors.yamlspec import SpecError
from tests.budgets.helpers import RUN, hist

# The sample of the budget.json format's own documentation (github.com/GoogleChrome/budget.json,
# README, "Sample budget.json file"), with the one trailing comma that makes the README's copy
# invalid JSON removed (Lighthouse reads the file with JSON.parse and would reject it too).
README_SAMPLE = """[
   {
      "path":"/*",
      "resourceSizes":[
         {
            "resourceType":"total",
            "budget":300
         },
         {
            "resourceType":"script",
            "budget":150
         }
      ],
      "resourceCounts":[
         {
            "resourceType":"third-party",
            "budget":10
         }
      ]
   },
   {
      "path":"/blog",
      "resourceSizes":[
         {
            "resourceType":"total",
            "budget":200
         }
      ]
   }
]
"""
# The example of "Use Lighthouse for performance budgets" (web.dev), which LHCI's
# configuration docs point to for budgetsFile.
WEB_DEV_SAMPLE = """[
  {
    "path": "/*",
    "timings": [
      {"metric": "interactive", "budget": 3000},
      {"metric": "first-meaningful-paint", "budget": 1000}
    ],
    "resourceSizes": [
      {"resourceType": "script", "budget": 125},
      {"resourceType": "total", "budget": 300}
    ],
    "resourceCounts": [
      {"resourceType": "third-party", "budget": 10}
    ]
  }
]
"""


def by_name(text: str) -> dict[str, object]:
    return {b.name: b for b in parse_lighthouse_budgets(text, "budget.json").budgets}


def test_documented_samples_validate() -> None:
    readme = parse_lighthouse_budgets(README_SAMPLE, "budget.json").budgets
    assert [b.name for b in readme] == [
        "budget.json[0] /* total size <= 300 KiB",
        "budget.json[0] /* script size <= 150 KiB",
        "budget.json[0] /* third-party requests <= 10",
        "budget.json[1] /blog total size <= 200 KiB",
    ]
    script = readme[1]
    assert str(script.selector.name) == '="castiel_page_transfer_bytes"'
    assert script.aggregation.kind is MAX  # LHCI: any run over budget fails
    assert script.thresholds[0][0] is Level.FAIL
    assert script.thresholds[0][1].value == 150 * 1024  # KiB of transfer size
    assert script.group_by == ("page",)
    assert script.location is not None and script.location.line == 9  # its `{`
    counts = readme[2]
    assert counts.thresholds[0][1].value == 10
    web = parse_lighthouse_budgets(WEB_DEV_SAMPLE, "budget.json").budgets
    assert len(web) == 5


def test_a_page_gets_the_last_matching_budget_object() -> None:
    readme = parse_lighthouse_budgets(README_SAMPLE, "budget.json").budgets
    global_total, blog_total = readme[0], readme[3]

    def key(page: str) -> SeriesKey:
        return SeriesKey.of(
            "castiel_page_transfer_bytes", {"page": page, "cache": "cold", "type": "total"}
        )

    assert global_total.selector.matches(key("/"))
    assert global_total.selector.matches(key("/shop?id=3"))
    assert not global_total.selector.matches(key("/blog/post-1"))  # /blog's object applies
    assert blog_total.selector.matches(key("/blog/post-1"))
    assert not blog_total.selector.matches(key("/"))
    warm = SeriesKey.of(
        "castiel_page_transfer_bytes", {"page": "/", "cache": "warm", "type": "total"}
    )
    assert not global_total.selector.matches(warm)  # Lighthouse loads with an empty cache


@pytest.mark.parametrize(
    ("path", "url_path", "matches"),
    [
        ("/", "/anything?q=1", True),
        ("/*", "/", True),
        ("/articles", "/articles/2026/x", True),
        ("/articles", "/blog", False),
        ("/js$", "/js", True),
        ("/js$", "/js/app", False),
        ("/vendor*chunk", "/vendor-42.chunk.js", True),
        ("/vendor*chunk", "/vendor-42.js", False),
        ("/uk/*/shopping-cart$", "/uk/london/shopping-cart", True),
        ("/uk/*/shopping-cart$", "/uk/london/shopping-cart/x", False),
        ("/a.b", "/aXb", False),  # a dot is a dot, not a regex wildcard
    ],
)
def test_paths_match_like_lighthouse(path: str, url_path: str, matches: bool) -> None:
    assert Matcher.regex(robots_regex(path)).matches(url_path) is matches


def test_timings_are_ms_and_cls_a_score() -> None:
    text = json.dumps(
        [
            {
                "timings": [
                    {"metric": "largest-contentful-paint", "budget": 2500},
                    {"metric": "first-contentful-paint", "budget": 1800},
                    {"metric": "total-blocking-time", "budget": 200},
                    {"metric": "cumulative-layout-shift", "budget": 0.1},
                    {"metric": "max-potential-fid", "budget": 100},
                    {"metric": "speed-index", "budget": 3400},
                ]
            }
        ]
    )
    budgets = parse_lighthouse_budgets(text, "b.json").budgets
    got = {b.selector.name.pattern: b.thresholds[0][1].value for b in budgets}
    assert got == {
        "castiel_page_lcp_seconds": 2.5,
        "castiel_page_fcp_seconds": 1.8,
        "castiel_page_tbt_seconds": 0.2,
        "castiel_page_cls": 0.1,
        "castiel_page_longest_task_seconds": 0.1,
        "castiel_page_speed_index_seconds": 3.4,
    }
    speed = budgets[-1]
    assert speed.on_missing is MissingPolicy.WARN and "does not measure" in speed.description


def _page(name: str, values: list[float], page: str = "/", **labels: str) -> object:
    return hist(
        name, {i + 1: [v] for i, v in enumerate(values)}, {"page": page, "cache": "cold", **labels}
    )


def test_gates_through_the_evaluator() -> None:
    budgets = parse_lighthouse_budgets(README_SAMPLE, "budget.json").budgets
    kib = 1024
    series = [
        _page("castiel_page_transfer_bytes", [250 * kib, 290 * kib], type="total"),
        _page("castiel_page_transfer_bytes", [140 * kib, 151 * kib], type="script"),  # over once
        _page("castiel_page_requests", [3, 3], type="third-party"),
    ]
    verdicts = {v.budget: v for v in evaluate(budgets, series, RUN)}
    assert verdicts["budget.json[0] /* total size <= 300 KiB"].status is Level.PASS
    script = verdicts["budget.json[0] /* script size <= 150 KiB"]
    assert script.status is Level.FAIL and script.observed == 151 * kib  # max is exact
    assert verdicts["budget.json[0] /* third-party requests <= 10"].status is Level.PASS
    blog = verdicts["budget.json[1] /blog total size <= 200 KiB"]
    assert blog.status is Level.WARN and blog.missing  # no /blog page was loaded


def error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_lighthouse_budgets(text, "budget.json")
    return str(info.value)


def test_unknown_resource_type_names_file_line_and_key() -> None:
    text = README_SAMPLE.replace('"script"', '"scripts"')
    assert error(text) == (
        "budget.json:10:28: [0].resourceSizes[1].resourceType: unknown resource type "
        "'scripts' (hint: did you mean 'script'?)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[{"resourceSizes": [{"resourceType": "total", "budget": 1},]}]',
            "budget.json:1:60: not valid JSON",
        ),
        ('{"budgets": []}', "budget.json:1:1: budget.json must be an array of budgets"),
        (
            '[{"timings": [{"metric": "inp", "budget": 200}]}]',
            "[0].timings[0].metric: unknown timing metric 'inp'",
        ),
        (
            '[{"timings": [{"metric": "interactive", "budget": "3s"}]}]',
            "[0].timings[0].budget: budget must be a number, got '3s'",
        ),
        (
            '[{"resourceCounts": [{"resourceType": "font"}]}]',
            "[0].resourceCounts[0].budget: missing budget",
        ),
        (
            '[{"resourceCounts": [{"resourceType": "font", "budget": 1, "max": 2}]}]',
            "[0].resourceCounts[0].max: unknown key 'max'",
        ),
        ('[{"path": "blog", "resourceCounts": []}]', "[0].path: path should start with '/'"),
        (
            '[{"path": "/a*b*c", "resourceCounts": []}]',
            "[0].path: path should only contain one '*'",
        ),
        ('[{"paths": "/"}]', "[0].paths: unknown key 'paths' (hint: did you mean 'path'?)"),
        (
            '[{"options": {"firstPartyHostnames": ["*.x.com"]}, "timings": []}]',
            "[0].options: options (firstPartyHostnames) is not supported",
        ),
        (
            '[{"resourceSizes": [{"resourceType": "font", "budget": 1}, '
            '{"resourceType": "font", "budget": 2}]}]',
            "'font' is given twice",
        ),
        ('[{"resourceSizes": [{"resourceType": "font", "budget": NaN}]}]', "not valid JSON"),
        ("[]", "no budgets defined"),
    ],
)
def test_malformed_files_are_located(text: str, expected: str) -> None:
    assert expected in error(text)


def test_load_budget_file_reads_either_format(tmp_path: Path) -> None:
    lhci = tmp_path / "budget.json"
    lhci.write_text(README_SAMPLE)
    assert len(load_budget_file(lhci).budgets) == 4
    broken = tmp_path / "broken.json"
    broken.write_text(README_SAMPLE.replace('"total"', '"totals"', 1))
    with pytest.raises(BudgetSpecError, match=r"broken.json:6:28: \[0\].resourceSizes\[0\]"):
        load_budget_file(broken)
    assert is_lighthouse_budget("\ufeff  [") and not is_lighthouse_budget("budgets: []")

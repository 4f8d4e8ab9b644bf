"""Routing tree: matchers, continue, inheritance, Alertmanager defaults, group labels."""

from __future__ import annotations

import pytest

from alerts.matchers import parse_matcher
from alerts.routing import match_routes
from tests.alerts.helpers import config

TREE = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
      group_wait: 5s
    - matchers: ['team=~"api|web"', 'route!="/health"']
      receiver: api
      routes:
        - matchers: ['env!~"dev.*"']
          receiver: api-prod
    - matchers: ['severity="critical"']
      receiver: never
receivers:
  - {name: default, console: {}}
  - {name: pager, console: {}}
  - {name: api, console: {}}
  - {name: api-prod, console: {}}
  - {name: never, console: {}}
"""


def receivers(labels: dict[str, str]) -> list[str]:
    return [r.receiver for r in match_routes(config(TREE).route, labels)]


def test_no_child_matches_means_the_root() -> None:
    assert receivers({"alertname": "x"}) == ["default"]


def test_continue_lets_later_siblings_match_and_first_stop_wins() -> None:
    assert receivers({"severity": "critical", "team": "api", "env": "prod"}) == [
        "pager",
        "api-prod",
    ]
    # the third route would match too, but `api` does not continue
    assert receivers({"severity": "critical"}) == ["pager", "never"]


def test_negative_and_regex_matchers() -> None:
    assert receivers({"team": "web", "env": "dev1"}) == ["api"]
    assert receivers({"team": "web", "route": "/health"}) == ["default"]
    assert receivers({"team": "webby"}) == ["default"]  # regexes are anchored


def test_children_inherit_and_defaults_are_alertmanagers() -> None:
    routes = {r.receiver: r for r in config(TREE).route.walk()}
    root = routes["default"]
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (30.0, 300.0, 14400.0)
    assert routes["pager"].group_wait == 5.0
    assert routes["api-prod"].group_by == ("alertname",)
    assert routes["api-prod"].id == "0.1.0"


def test_group_labels() -> None:
    route = config(TREE).route
    assert route.group_labels({"alertname": "a", "x": "1"}) == (("alertname", "a"),)
    cfg = config(TREE.replace("group_by: [alertname]", "group_by: ['...']"))
    assert cfg.route.group_labels({"b": "2", "a": "1"}) == (("a", "1"), ("b", "2"))


@pytest.mark.parametrize(
    ("text", "labels", "hit"),
    [
        ('a="1"', {"a": "1"}, True),
        ("a=1", {"a": "1"}, True),
        ('a!="1"', {}, True),
        ('a=""', {}, True),
        ('a=~"1|2"', {"a": "2"}, True),
        ('a=~"1|2"', {"a": "12"}, False),
        ('a!~"x.*"', {"a": "xyz"}, False),
        ('a="quote\\"d"', {"a": 'quote"d'}, True),
    ],
)
def test_matcher_syntax(text: str, labels: dict[str, str], hit: bool) -> None:
    assert parse_matcher(text).matches(labels) is hit


@pytest.mark.parametrize("bad", ["a", "=1", 'a=~"("', 'a=="1"'])
def test_bad_matchers_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_matcher(bad)

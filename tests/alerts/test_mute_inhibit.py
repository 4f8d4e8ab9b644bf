"""Time intervals (mute/active) and inhibition rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.inhibit import InhibitRule, inhibited
from alerts.matchers import parse_matcher
from alerts.mute import TimeInterval, TimeRange, muted, parse_range
from tests.alerts.helpers import config


def ts(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


INTERVALS = """
route: {receiver: r}
receivers: [{name: r, console: {}}]
time_intervals:
  - name: offhours
    time_intervals:
      - times: [{start_time: "18:00", end_time: "24:00"}]
        weekdays: ["monday:friday"]
        location: Europe/Berlin
      - weekdays: [saturday, sunday]
        location: Europe/Berlin
  - name: quarter-end
    time_intervals:
      - days_of_month: ["-3:-1"]
        months: [march, june, september, december]
        years: ["2026:2027"]
"""


def test_time_intervals_from_config() -> None:
    named = config(INTERVALS).time_intervals
    # 2026-11-27 is a Friday
    assert muted(["offhours"], [], named, ts("2026-11-27T19:30", "Europe/Berlin"))
    assert not muted(["offhours"], [], named, ts("2026-11-27T17:59", "Europe/Berlin"))
    assert muted(["offhours"], [], named, ts("2026-11-28T09:00", "Europe/Berlin"))  # Saturday
    assert muted(["quarter-end"], [], named, ts("2026-12-30T12:00"))
    assert not muted(["quarter-end"], [], named, ts("2026-12-28T12:00"))
    assert not muted(["quarter-end"], [], named, ts("2028-12-30T12:00"))


def test_active_time_intervals_mute_outside() -> None:
    named = {"business": (TimeInterval(times=(TimeRange(9 * 60, 17 * 60),)),)}
    assert not muted([], ["business"], named, ts("2026-11-27T10:00"))
    assert muted([], ["business"], named, ts("2026-11-27T20:00"))


@pytest.mark.parametrize("bad", ["funday", "5:1", "0", "1:2:3", "32"])
def test_bad_ranges(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_range(bad, None if bad[0].isdigit() else ("monday",), -31, 31)


RULE = InhibitRule(
    source_matchers=(parse_matcher('severity="critical"'),),
    target_matchers=(parse_matcher('severity="warning"'),),
    equal=("budget", "group"),
)


def test_critical_inhibits_warning_of_the_same_budget_and_group_only() -> None:
    active = {
        "crit": {"severity": "critical", "budget": "lat", "group": "route=/a"},
        "warn-same": {"severity": "warning", "budget": "lat", "group": "route=/a"},
        "warn-other-group": {"severity": "warning", "budget": "lat", "group": "route=/b"},
        "warn-other-budget": {"severity": "warning", "budget": "err", "group": "route=/a"},
    }
    assert inhibited([RULE], active) == {"warn-same": "crit"}


def test_an_alert_does_not_inhibit_itself_nor_its_peers() -> None:
    rule = InhibitRule((parse_matcher('a="1"'),), (parse_matcher('a="1"'),), ())
    assert inhibited([rule], {"x": {"a": "1"}}) == {}
    # Alertmanager: alerts matching both sides never mute each other (nor themselves)...
    assert inhibited([rule], {"x": {"a": "1"}, "y": {"a": "1"}}) == {}
    # ...but one that matches only the source side still inhibits them.
    wide = InhibitRule((parse_matcher('a=~"1|2"'),), (parse_matcher('a="1"'),), ())
    got = inhibited([wide], {"x": {"a": "1"}, "y": {"a": "1"}, "src": {"a": "2"}})
    assert got == {"x": "src", "y": "src"}

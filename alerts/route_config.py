"""The routing half of an alerts config: where alerts go and when they stay quiet. Readers
for the `receivers`, `route`, `inhibit_rules` and `time_intervals` sections (each takes the
context, the section's node and its key path, as `alerts.config`'s table of sections expects),
and the check of the names they refer to each other by."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yaml.nodes import Node

from alerts.channel_config import ReceiverConfig, parse_receivers
from alerts.inhibit import InhibitRule
from alerts.matchers import LabelMatcher, parse_matcher
from alerts.mute import MONTHS, WEEKDAYS, TimeInterval, TimeRange, parse_range, parse_time
from alerts.routing import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Route,
)
from alerts.yamlnodes import fields
from collectors.yamlspec import SpecContext


def _matcher(value: Any) -> LabelMatcher:
    return parse_matcher(str(value))


def read_receivers(
    ctx: SpecContext, node: Node, key: str
) -> tuple[dict[str, ReceiverConfig], dict[str, Node]]:
    """The receivers, and where each is declared (also the ones that failed to read, so
    routes naming them get no second, misleading error)."""
    receivers: dict[str, ReceiverConfig] = {}
    nodes: dict[str, Node] = {}
    parse_receivers(ctx, node, key, receivers, nodes)
    return receivers, nodes


def read_route(ctx: SpecContext, node: Node, key: str) -> tuple[Route, dict[str, Node]]:
    """The routing tree, and where each route (by id) is written."""
    nodes: dict[str, Node] = {}
    return _route(ctx, node, key, None, "0", nodes), nodes


def _matchers(ctx: SpecContext, node: Node, key: str) -> tuple[LabelMatcher, ...]:
    out = []
    for i, n in enumerate(ctx.items(node, key)):
        parsed = ctx.guard(ctx.convert, n, f"{key}[{i}]", _matcher)
        if parsed is not None:
            out.append(parsed)
    return tuple(out)


ROUTE_KEYS = (
    "receiver",
    "matchers",
    "continue",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "mute_time_intervals",
    "active_time_intervals",
    "routes",
)


def _check_root(ctx: SpecContext, node: Node, key: str, m: dict[str, tuple[Node, Node]]) -> None:
    """The root route takes every alert, always: what would narrow or mute it is refused."""
    if "matchers" in m:
        ctx.error(m["matchers"][0], f"{key}.matchers", "the root route matches every alert")
    if "continue" in m:
        ctx.error(m["continue"][0], f"{key}.continue", "the root route cannot continue")
    for name in ("mute_time_intervals", "active_time_intervals"):
        if name in m:
            ctx.error(
                m[name][0],
                f"{key}.{name}",
                "the root route cannot be muted",
                "put it on a child route",
            )
    if "receiver" not in m:
        raise ctx.error(node, f"{key}.receiver", "missing", "the root route needs a receiver")


def _route(
    ctx: SpecContext, node: Node, key: str, parent: Route | None, rid: str, nodes: dict[str, Node]
) -> Route:
    m = ctx.mapping(node, key, ROUTE_KEYS)
    g = ctx.guard

    def get(name: str, fn: Callable[[Node, str], Any], inherited: Any) -> Any:
        if name not in m:
            return inherited
        value = g(lambda: fn(m[name][1], f"{key}.{name}"))
        return inherited if value is None else value

    if parent is None:
        _check_root(ctx, node, key, m)
    receiver = get("receiver", ctx.text, parent.receiver if parent else "")
    group_by = get("group_by", ctx.texts, parent.group_by if parent else ())
    if "..." in group_by and len(group_by) > 1:
        ctx.error(m["group_by"][1], f"{key}.group_by", "'...' (every label) stands alone")
    route = Route(
        id=rid,
        receiver=receiver,
        matchers=get("matchers", lambda n, k: _matchers(ctx, n, k), ()),
        continue_=get("continue", ctx.boolean, False),
        group_by=tuple(group_by),
        group_wait=get(
            "group_wait",
            ctx.seconds,
            parent.group_wait if parent else DEFAULT_GROUP_WAIT,
        ),
        group_interval=get(
            "group_interval",
            ctx.positive_seconds,
            parent.group_interval if parent else DEFAULT_GROUP_INTERVAL,
        ),
        repeat_interval=get(
            "repeat_interval",
            ctx.positive_seconds,
            parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL,
        ),
        # As in Alertmanager, time intervals belong to one route and are not inherited.
        mute_time_intervals=get("mute_time_intervals", ctx.texts, ()),
        active_time_intervals=get("active_time_intervals", ctx.texts, ()),
    )
    children: list[Route] = []
    if "routes" in m:
        items = g(lambda: ctx.items(m["routes"][1], f"{key}.routes")) or []
        for i, child in enumerate(items):
            r = g(_route, ctx, child, f"{key}.routes[{i}]", route, f"{rid}.{i}", nodes)
            if r is not None:
                children.append(r)
    nodes[rid] = node
    return replace(route, routes=tuple(children))


def check_references(
    ctx: SpecContext,
    route: Route | None,
    route_nodes: Mapping[str, Node],
    receivers: Mapping[str, ReceiverConfig],
    receiver_nodes: Mapping[str, Node],
    intervals: Mapping[str, Any],
    route_key: str,
    receivers_key: str,
) -> None:
    """Every receiver and time interval a route names exists, and every fallback is another
    receiver (`route_key` and `receivers_key`: where those sections are, for the messages)."""
    if route is not None and receiver_nodes:
        for r in route.walk():
            where = route_key + "".join(f".routes[{i}]" for i in r.id.split(".")[1:])
            node = route_nodes.get(r.id)
            if r.receiver not in receiver_nodes:
                ctx.error(
                    node,
                    f"{where}.receiver",
                    f"unknown receiver {r.receiver!r}",
                    f"receivers: {', '.join(receiver_nodes)}",
                )
            for name in (*r.mute_time_intervals, *r.active_time_intervals):
                if name not in intervals:
                    ctx.error(
                        node,
                        where,
                        f"unknown time interval {name!r}",
                        "define it under time_intervals",
                    )
    for name, rc in receivers.items():
        for fb in rc.fallback:
            if fb not in receiver_nodes:
                ctx.error(
                    receiver_nodes[name],
                    f"{receivers_key}.{name}.fallback",
                    f"unknown receiver {fb!r}",
                )
            elif fb == name:
                ctx.error(
                    receiver_nodes[name],
                    f"{receivers_key}.{name}.fallback",
                    "a receiver cannot be its own fallback",
                )


def read_inhibit_rules(ctx: SpecContext, node: Node, key: str) -> tuple[InhibitRule, ...]:
    out = []
    for i, rnode in enumerate(ctx.items(node, key)):
        k = f"{key}[{i}]"
        f = ctx.guard(
            fields,
            ctx,
            rnode,
            k,
            {
                "source_matchers": lambda n, kk: _matchers(ctx, n, kk),
                "target_matchers": lambda n, kk: _matchers(ctx, n, kk),
                "equal": ctx.texts,
            },
            ("source_matchers", "target_matchers"),
        )
        if f is not None:
            out.append(
                InhibitRule(f["source_matchers"], f["target_matchers"], tuple(f.get("equal", ())))
            )
    return tuple(out)


def read_time_intervals(
    ctx: SpecContext, node: Node, key: str
) -> dict[str, tuple[TimeInterval, ...]]:
    out: dict[str, tuple[TimeInterval, ...]] = {}
    for i, inode in enumerate(ctx.items(node, key)):
        k = f"{key}[{i}]"
        m = ctx.guard(ctx.mapping, inode, k, ("name", "time_intervals"))
        if m is None:
            continue
        if "name" not in m or "time_intervals" not in m:
            ctx.error(inode, k, "needs name and time_intervals")
            continue
        name = ctx.guard(ctx.text, m["name"][1], f"{k}.name")
        items = ctx.guard(ctx.items, m["time_intervals"][1], f"{k}.time_intervals") or []
        parsed = [
            ctx.guard(_interval, ctx, n, f"{k}.time_intervals[{j}]") for j, n in enumerate(items)
        ]
        if name is not None and all(p is not None for p in parsed):
            out[name] = tuple(p for p in parsed if p is not None)
    return out


def _interval(ctx: SpecContext, node: Node, key: str) -> TimeInterval:
    def ranges(names: tuple[str, ...] | None, lo: int, hi: int) -> Callable[[Node, str], Any]:
        def fn(n: Node, k: str) -> tuple[tuple[int, int], ...]:
            return tuple(
                ctx.convert(x, f"{k}[{i}]", lambda v: parse_range(v, names, lo, hi))
                for i, x in enumerate(ctx.items(n, k))
            )

        return fn

    def times(n: Node, k: str) -> tuple[TimeRange, ...]:
        out = []
        for i, x in enumerate(ctx.items(n, k)):
            f = fields(
                ctx,
                x,
                f"{k}[{i}]",
                {
                    "start_time": lambda nn, kk: ctx.convert(nn, kk, lambda v: parse_time(str(v))),
                    "end_time": lambda nn, kk: ctx.convert(nn, kk, lambda v: parse_time(str(v))),
                },
                ("start_time", "end_time"),
            )
            if f["end_time"] <= f["start_time"]:
                raise ctx.error(x, f"{k}[{i}].end_time", "must be after start_time")
            out.append(TimeRange(f["start_time"], f["end_time"]))
        return tuple(out)

    def location(n: Node, k: str) -> str:
        name = ctx.text(n, k)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ctx.error(
                n, k, f"unknown time zone {name!r}", "e.g. Europe/Berlin, UTC"
            ) from None
        return name

    f = fields(
        ctx,
        node,
        key,
        {
            "times": times,
            "weekdays": ranges(WEEKDAYS, 0, 6),
            "days_of_month": ranges(None, -31, 31),
            "months": ranges(MONTHS, 1, 12),
            "years": ranges(None, 1970, 9999),
            "location": location,
        },
        (),
    )
    return TimeInterval(**f)

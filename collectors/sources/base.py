"""What every kind of source shares: `SourceKind` (one object per kind: its config schema,
collectors, check and secret fields), the section's model `SourcesConfig`, the YAML reading
context with `${VAR}` expansion, and the value checks sources have in common."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

from yaml.nodes import Node, ScalarNode

from collectors import envrefs
from collectors.base import Collector, CollectorError
from collectors.promql import redact
from collectors.yamlspec import Invalid, SpecContext, SpecError, SpecIssue
from runtime.durations import parse_duration
from runtime.errors import ConfigError

S = TypeVar("S")


@dataclass(frozen=True)
class SourceCheck:
    source: str
    target: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class BuildContext:
    """What building a source's collectors may use besides its own config."""

    sources: SourcesConfig
    """The whole section: sources that complement each other (Redis, scrape) look at peers."""
    redis_client: Any = None
    """A sync client for the Redis source, injected by the caller, which owns its lifetime."""
    azure_credential: Any = None


@dataclass
class CheckContext:
    """What checking a source may use. The Redis source's check leaves its client here for
    the scrape source's discovery; `check_sources` closes it."""

    timeout: float
    azure_credential: Any = None
    redis_client: Any = None


@dataclass(frozen=True)
class SourceKind(Generic[S]):
    """One kind of source under `sources:` in castiel.yaml: one module defines it, the
    registry (collectors/sources/registry.py) lists it once."""

    name: str
    """Its key under `sources:`."""
    model: type[S]
    """Its typed config: a frozen dataclass; fields named in `secret_fields` are repr=False."""
    parse: Callable[[SourceContext, Node, str], S]
    """Its config schema: the YAML node -> the model, each problem located (`ctx.error`)."""
    build: Callable[[S, BuildContext], list[Collector]]
    """Its collectors."""
    check: Callable[[S, CheckContext], list[SourceCheck]]
    """Ask it once (`castiel sources check`); never raises for an unreachable source."""
    secret_fields: tuple[str, ...] = ()
    """Fields that may carry credentials: kept out of reprs, and their values are scrubbed
    from every check's target and detail."""
    series_view: Callable[[S], str | None] = field(default=lambda _: None)
    """Which view of the services' own castiel_* series it delivers, if any (a label such as
    "sources.prometheus"). Two different views configured at once would make budgets count
    every request twice (`metric_overlap`)."""


@dataclass(frozen=True)
class SourcesConfig:
    path: str = ""
    entries: Mapping[str, Any] = field(default_factory=dict)
    """Each configured source's model, by kind name."""
    locations: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False)
    """(line, column) of each section (`redis`, `prometheus` ...), for later messages."""

    def get(self, kind: SourceKind[S]) -> S | None:
        return cast("S | None", self.entries.get(kind.name))

    def with_source(self, kind: SourceKind[S], value: S) -> SourcesConfig:
        return SourcesConfig(self.path, {**self.entries, kind.name: value}, self.locations)

    @property
    def empty(self) -> bool:
        return not self.entries

    def issue(self, section: str, key: str, message: str) -> SpecIssue:
        line, column = self.locations.get(section, (0, 0))
        return SpecIssue(self.path, line, column, key, message)


class SourcesConfigError(SpecError, ConfigError):
    """One or more problems in the sources section; `str()` is the first, `issues` all."""


@dataclass
class SourceContext(SpecContext):
    """Values are read as text (no YAML typing) with `${VAR}` expanded, and a hint is written
    into the message in parentheses, as everywhere in this section's messages."""

    env: Mapping[str, str] = field(default_factory=dict)

    def error(self, node: Node | None, key: str, message: str, hint: str = "") -> Invalid:
        return super().error(node, key, f"{message} ({hint})" if hint else message)

    def text(self, node: Node, key: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag.endswith(":null") or node.value == "":
            raise self.error(node, key, "expected a text value")
        return self.expand(node, key, str(node.value))

    def expand(self, node: Node, key: str, value: str) -> str:
        try:
            return envrefs.expand(value, self.env)
        except envrefs.UnsetVariable as exc:
            raise self.error(node, key, str(exc)) from None

    def flag(self, node: Node, key: str) -> bool:
        value = self.text(node, key).lower()
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        raise self.error(node, key, "expected true or false")


# --- value checks for `ctx.parse_text` (a ValueError becomes the located message) -------------


def positive_duration(text: str) -> float:
    """A duration in the one grammar (runtime.durations) that must be more than 0."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be more than 0")
    return seconds


def http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{redact(text)!r} is not an http:// or https:// URL")
    return text


def choice(*allowed: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return text

    return check


def attempt(source: str, target: str, fn: Callable[[], str]) -> SourceCheck:
    """One check: `fn()` describes what answered; its failure is the check's detail."""
    try:
        return SourceCheck(source, target, True, fn())
    except (CollectorError, OSError, ValueError) as exc:
        return SourceCheck(source, target, False, str(exc))


# --- secrets --------------------------------------------------------------------------------------


def secret_values(kind: SourceKind[Any], src: Any) -> set[str]:
    """The credential strings `src` holds in its secret fields: whole strings, the values of
    (name, value) pairs such as headers, and the passwords of URLs."""
    found: set[str] = set()
    for name in kind.secret_fields:
        found.update(_strings(getattr(src, name)))
    return {s for s in found if s}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if "://" in value:
            yield urlsplit(value).password or ""
        else:
            yield value
    elif isinstance(value, tuple):
        if len(value) == 2 and all(isinstance(v, str) for v in value):
            yield value[1]  # a (name, value) pair: the name is no secret
        else:
            for item in value:
                yield from _strings(item)


def scrub(check: SourceCheck, secrets: set[str]) -> SourceCheck:
    target, detail = check.target, check.detail
    for secret in secrets:
        target, detail = target.replace(secret, "***"), detail.replace(secret, "***")
    return SourceCheck(check.source, target, check.ok, detail)


def incomplete(kind: SourceKind[Any]) -> list[str]:
    """What a registered kind lacks (empty when complete); tests assert it for every kind."""
    problems = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind.name):
        problems.append(f"name {kind.name!r} is not a lower-case key")
    if not (is_dataclass(kind.model) and kind.model.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        problems.append(f"{kind.model.__name__} is not a frozen dataclass")
        return problems
    by_name = {f.name: f for f in fields(kind.model)}
    for name in kind.secret_fields:
        if name not in by_name:
            problems.append(f"secret field {name!r} is not a field of {kind.model.__name__}")
        elif by_name[name].repr:
            problems.append(f"secret field {name!r} shows in repr() (field(repr=False))")
    for part in ("parse", "build", "check", "series_view"):
        if not callable(getattr(kind, part)):
            problems.append(f"{part} is not callable")
    return problems

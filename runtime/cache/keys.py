"""Redis names of one cache. Every key carries the hash tag `{name}`, so a cache (values,
locks, tag sets, epoch) lives in one cluster slot and its Lua scripts declare all their keys.

Values live at `castiel:cache:{name}:<key>`; internal keys use other prefixes with the same
hash tag, so no user key can collide with them."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.errors import ConfigError
from runtime.keys import PREFIX


def check_name(name: str) -> str:
    if not name or any(c in name for c in "{}: \t\n"):
        raise ConfigError(f"cache name {name!r} must be non-empty without '{{', '}}', ':', spaces")
    return name


@dataclass(frozen=True)
class CacheKeys:
    name: str
    value_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "value_prefix", f"{PREFIX}:cache:{{{self.name}}}:")

    def value(self, key: str) -> str:
        return self.value_prefix + key

    def lock(self, key: str) -> str:
        return f"{PREFIX}:cachelock:{{{self.name}}}:{key}"

    def tag(self, tag: str) -> str:
        return f"{PREFIX}:cachetag:{{{self.name}}}:{tag}"

    @property
    def epoch(self) -> str:
        """Bumped by every tag invalidation; a load that began before it may not write."""
        return f"{PREFIX}:cachemeta:{{{self.name}}}:epoch"

    @property
    def channel(self) -> str:
        """Pub/sub channel carrying invalidations to every process's in-process layer."""
        return f"{PREFIX}:cache-invalidate:{self.name}"

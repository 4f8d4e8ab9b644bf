"""The two-layer Redis cache: `Cache` (sync) and `AsyncCache` (asyncio).

An optional in-process LRU+TTL layer sits in front of Redis; invalidations reach every
process's layer through pub/sub. Loads are single-flight within a process and across
processes (a short Redis lock), hot keys are refreshed early (XFetch), tags invalidate
atomically, and everything is counted in `CacheMetrics`. See docs/cache.md."""

from runtime.cache.aio import AsyncCache
from runtime.cache.codec import Codec, JsonCodec
from runtime.cache.core import WarmReport
from runtime.cache.errors import CacheError, CacheUnavailableError
from runtime.cache.keys import CacheKeys
from runtime.cache.metrics import CacheMetrics
from runtime.cache.policy import CacheOptions
from runtime.cache.sync import Cache

__all__ = [
    "AsyncCache",
    "Cache",
    "CacheError",
    "CacheKeys",
    "CacheMetrics",
    "CacheOptions",
    "CacheUnavailableError",
    "Codec",
    "JsonCodec",
    "WarmReport",
]

"""What the cache's one-implementation design costs on a Redis-layer hit: `Cache.get` (its
decisions in `CacheOps.before_read`/`read_reply`, the shell making the one GET) against the
same decisions written inline in one function (what `Cache.get` was before issue 20), and raw
redis-py `GET` + `json.loads`, in one process against one redis-server of the benchmark's own.

    .venv/bin/python bench/cache_protocol.py [--rounds 60] [--chunk 500]

Variants take turns in every round (rotating order) so background load hits all alike; the
figure is the calling thread's CPU time per hit (median of the rounds), which a shared machine
disturbs less than wall-clock. A second block prices the Python side alone, with a stand-in
client that answers GET from a dict (no network, no redis-server time)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer  # noqa: E402
from runtime import connect  # noqa: E402
from runtime.cache import Cache  # noqa: E402
from runtime.redis_outage import REDIS_UNAVAILABLE  # noqa: E402

KEYS = [f"type-{i}" for i in range(1000)]
VALUE = {"name": "type-0", "replicas": 3, "tier": "hot", "zones": ["a", "b", "c"], "ssd": True}


def inline_get(cache: Cache) -> Callable[[str], Any]:
    """The hit path's decisions without the step protocol, on the cache's own objects."""
    ops = cache._ops
    core = ops.core

    def get(key: str, default: Any = None) -> Any:
        outage = core.outage
        if not outage.available():
            outage.skipped()
            return default
        try:
            with cache._slot:
                raw = cache.client.get(ops.prefix + key)
        except REDIS_UNAVAILABLE as exc:
            outage.failed(exc)
            return default
        if outage.since is not None:
            outage.ok()
        if raw is not None:
            env = core.decode(raw)
            if env is not None and cache._clock() * 1000 < env.fresh_until_ms:
                core.m.redis.hit()
                return default if env.negative else env.value
        core.m.redis.miss()
        return default

    return get


def cpu_per_op(
    variants: dict[str, Callable[[str], Any]], rounds: int, chunk: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants.items())
    for r in range(rounds):
        for name, fn in order[r % len(order) :] + order[: r % len(order)]:
            started = time.thread_time()
            for i in range(chunk):
                fn(KEYS[i % len(KEYS)])
            samples[name].append((time.thread_time() - started) / chunk * 1e6)
    return {name: round(statistics.median(s), 3) for name, s in samples.items()}


class StandIn:
    """Answers GET from a dict: the Python side of a hit, without the network."""

    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def register_script(self, source: str) -> None:
        return None


def run(rounds: int, chunk: int) -> dict[str, Any]:
    values = {k: {**VALUE, "name": k} for k in KEYS}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            conn = connect(server.url)
            cache = Cache("bench", conn.sync, ttl=3600)
            cache.set_many(values)
            raw = redis.Redis.from_url(server.url)
            raw.mset({"bench-raw:" + k: json.dumps(v) for k, v in values.items()})
            variants: dict[str, Callable[[str], Any]] = {
                "Cache.get": cache.get,
                "inline decisions": inline_get(cache),
                "GET + json.loads": lambda k: json.loads(raw.get("bench-raw:" + k)),  # type: ignore[arg-type]
            }
            assert len({json.dumps(f("type-7")) for f in variants.values()}) == 1
            redis_layer = cpu_per_op(variants, rounds, chunk)
            names = [cache._ops.prefix + k for k in KEYS]
            found = zip(names, conn.sync.mget(names), strict=True)
            stored = {k: v for k, v in found if isinstance(v, bytes)}
            raw.close()
            conn.close()
        finally:
            server.stop()
    offline = Cache("bench", StandIn(stored), ttl=3600)
    python_side = cpu_per_op(
        {"Cache.get": offline.get, "inline decisions": inline_get(offline)}, rounds, chunk * 20
    )
    base = redis_layer["GET + json.loads"]
    return {
        "client_cpu_us_per_hit": redis_layer,
        "ratio_to_get_json": {k: round(v / base, 3) for k, v in redis_layer.items()},
        "python_side_us_per_hit": python_side,
        "rounds": rounds,
        "chunk": chunk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--chunk", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, args.chunk), indent=2))


if __name__ == "__main__":
    main()

"""Cache hit cost: Castiel against raw redis-py and cachetools, in one run, against one
redis-server of the benchmark's own.

    .venv/bin/python bench/cache.py [--chunk 500] [--rounds 60] [--json out.json]

* Redis layer: `Cache.get(key)` (in-process layer off) against raw redis-py `GET` of the same
  values followed by `json.loads` (what a service writes by hand), and against a bare `GET`
  returning bytes. Raw redis-py uses a default `redis.Redis` client; Castiel uses the runtime's
  `connect()` client (blocking pool, bounded retries).
* In-process layer: `Cache.get(key)` with the local layer on (a hit never leaves the process)
  against `cachetools.TTLCache` `cache[key]` (its fastest hit) and `cache.get(key)`.

Values are a shard-type record (~90 bytes of JSON); 1,000 keys read round-robin. Variants run
interleaved in small chunks (`chunk` Redis reads, 40x as many in-process reads), `rounds`
times, so every variant sees the same background load. Reported per variant: the best chunk
(the intrinsic cost; on a shared machine the fairest single figure), the median chunk, and
the median CPU time the calling thread spent per hit (what the client costs, whatever the
machine's load does to wall-clock)."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cachetools
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from castiel.redis_server import RedisServer  # noqa: E402
from runtime import connect  # noqa: E402
from runtime.cache import Cache, CacheKeys  # noqa: E402

KEYS = [f"type-{i}" for i in range(1000)]
VALUE = {"name": "type-0", "replicas": 3, "tier": "hot", "zones": ["a", "b", "c"], "ssd": True}


def per_op(fn: Callable[[str], Any], ops: int) -> tuple[float, float]:
    """Seconds per call: wall-clock, and CPU time of this (the calling) thread."""
    keys = KEYS
    n = len(keys)
    cpu = time.thread_time()
    started = time.perf_counter()
    for i in range(ops):
        fn(keys[i % n])
    wall = time.perf_counter() - started
    return wall / ops, (time.thread_time() - cpu) / ops


def run(chunk: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            return measure(server.url, chunk, rounds)
        finally:
            server.stop()


def measure(url: str, chunk: int, rounds: int) -> dict[str, Any]:
    conn = connect(url)
    remote = Cache("bench", conn.sync, ttl=3600)
    local = Cache("bench-local", conn.sync, ttl=3600, local_max_entries=10_000, local_ttl=3600)
    if not local.wait_ready(10):
        raise RuntimeError("the in-process layer's listener did not subscribe")
    values = {k: {**VALUE, "name": k} for k in KEYS}
    remote.set_many(values)
    local.set_many(values)
    raw = redis.Redis.from_url(url)
    prefix = CacheKeys("bench").value_prefix  # the same stored bytes for raw GET, envelope included
    plain_prefix = "bench-raw:"
    raw.mset({plain_prefix + k: json.dumps(v) for k, v in values.items()})
    ttl_cache: cachetools.TTLCache[str, Any] = cachetools.TTLCache(maxsize=10_000, ttl=3600)
    for k, v in values.items():
        ttl_cache[k] = v
    for k in KEYS:  # every key in the local layer
        local.get(k)

    variants: dict[str, Callable[[str], Any]] = {
        "castiel Cache.get (Redis layer)": remote.get,
        "redis-py GET + json.loads": lambda k: json.loads(raw.get(plain_prefix + k)),  # type: ignore[arg-type]
        "redis-py GET (bytes)": lambda k: raw.get(prefix + k),
        "castiel Cache.get (in-process layer)": local.get,
        "cachetools TTLCache[key]": ttl_cache.__getitem__,
        "cachetools TTLCache.get(key)": ttl_cache.get,
    }
    # Check every variant answers the same values before timing them.
    assert remote.get("type-7") == local.get("type-7") == ttl_cache["type-7"] == values["type-7"]
    assert json.loads(raw.get(plain_prefix + "type-7")) == values["type-7"]  # type: ignore[arg-type]
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            is_local = "in-process" in name or "cachetools" in name
            wall, used = per_op(fn, chunk * 40 if is_local else chunk)
            samples[name].append(wall)
            cpu[name].append(used)
    local_hits = local.metrics.registry.get_sample_value(
        "castiel_cache_hits_total", {"cache": "bench-local", "layer": "local"}
    )
    local.close()
    remote.close()
    raw.close()
    conn.close()
    best = {name: min(s) for name, s in samples.items()}
    medians = {name: statistics.median(s) for name, s in samples.items()}
    cpu_medians = {name: statistics.median(s) for name, s in cpu.items()}

    def ratios(t: dict[str, float]) -> dict[str, float]:
        return {
            "redis_layer_vs_get_json": t["castiel Cache.get (Redis layer)"]
            / t["redis-py GET + json.loads"],
            "redis_layer_vs_get_bytes": t["castiel Cache.get (Redis layer)"]
            / t["redis-py GET (bytes)"],
            "in_process_vs_ttlcache_getitem": t["castiel Cache.get (in-process layer)"]
            / t["cachetools TTLCache[key]"],
            "in_process_vs_ttlcache_get": t["castiel Cache.get (in-process layer)"]
            / t["cachetools TTLCache.get(key)"],
        }

    return {
        "chunk": chunk,
        "rounds": rounds,
        "local_hits_counted": local_hits,
        "us_per_op_best": {k: round(v * 1e6, 3) for k, v in best.items()},
        "us_per_op_median": {k: round(v * 1e6, 3) for k, v in medians.items()},
        "ratios_best": ratios(best),
        "ratios_median": ratios(medians),
        "client_cpu_us_per_op_median": {k: round(v * 1e6, 3) for k, v in cpu_medians.items()},
        "ratios_client_cpu_median": ratios(cpu_medians),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "cachetools": cachetools.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunk", type=int, default=500, help="Redis reads per chunk")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    result = run(args.chunk, args.rounds)
    print(
        "| variant | µs per hit, best chunk | µs per hit, median chunk | client CPU µs, median |"
        "\n|---|---:|---:|---:|"
    )
    cpu = result["client_cpu_us_per_op_median"]
    for name, us in result["us_per_op_best"].items():
        print(f"| {name} | {us:.2f} | {result['us_per_op_median'][name]:.2f} | {cpu[name]:.2f} |")
    print()
    targets = {"redis_layer_vs_get_json": 1.15, "in_process_vs_ttlcache_getitem": 1.5}
    print("| ratio | best | median | client CPU, median | target |\n|---|---:|---:|---:|---:|")
    for key, best in result["ratios_best"].items():
        target = f"<= {targets[key]}x" if key in targets else ""
        median, used = result["ratios_median"][key], result["ratios_client_cpu_median"][key]
        print(f"| {key} | {best:.3f}x | {median:.3f}x | {used:.3f}x | {target} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

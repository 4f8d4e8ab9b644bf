"""Runs one enqueue phase of one Python peer in a fresh process and prints its timing as JSON:
`{"seconds", "cpu_seconds", "how"}`. Timed inside the process (interpreter start-up and imports
excluded, as for every peer); CPU is this process's, all threads included.

    python -m bench.peers.enqueue castiel single|concurrent|bulk N [producers]"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time


def main() -> None:
    name, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    producers = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    url = os.environ["BENCH_REDIS_URL"]
    peer = importlib.import_module(f"bench.peers.{name}_peer")
    t0, c0 = time.perf_counter(), time.process_time()
    if mode == "single":
        how = peer.enqueue_single(url, n)
    elif mode == "concurrent":
        how = peer.enqueue_concurrent(url, n, producers)
    elif mode == "bulk":
        how = peer.enqueue_bulk(url, n)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "how": how or ""}))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Two real runs of the example service, cache off then cache on, with the same load; then the
# comparison (docs/cache-comparison.md) from Castiel's own reports.
#
#   examples/cache_comparison.sh [USERS] [DURATION]       (defaults: 50 users, 60s)
#
# Each run gets a fresh redis-server, a fresh SQLite database, the service, two workers and
# `castiel run --scenario normal` with examples/budgets.yaml (the gate) and its own store;
# `castiel check --budgets examples/cache-comparison.yaml` then measures the stored run.
# Everything lives under .castiel/cache-comparison/; every process started here is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-50}
DURATION=${2:-60s}
PY=${PY:-.venv/bin/python}
OUT=.castiel/cache-comparison
rm -rf "$OUT"
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap cleanup EXIT
free_port() { "$PY" -c 'from castiel.redis_server import free_port; print(free_port())'; }

for mode in off on; do
    dir="$OUT/$mode"
    mkdir -p "$dir/redis"
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir/redis" >"$dir/redis.log" 2>&1 &
    PIDS+=($!)
    redis_url="redis://127.0.0.1:$redis_port/0"
    port=$(free_port)
    flags=()
    [ "$mode" = off ] && flags=(--no-cache)
    "$PY" -m examples.service --port "$port" --redis "$redis_url" --db "$dir/example.db" \
        "${flags[@]}" >"$dir/service.log" 2>&1 &
    PIDS+=($!)
    for worker in StockWorker OrderWorker; do
        "$PY" -m castiel worker "examples.jobs:$worker" --redis "$redis_url" \
            --metrics-port "$(free_port)" >"$dir/$worker.log" 2>&1 &
        PIDS+=($!)
    done
    target="http://127.0.0.1:$port"
    for _ in $(seq 100); do curl -fs "$target/health" >/dev/null && break; sleep 0.2; done
    echo "== cache $mode: $target, redis $redis_url"
    "$PY" -m castiel run --target "$target" --budgets examples/budgets.yaml \
        --scenario normal --users "$USERS" --duration "$DURATION" \
        --redis "$redis_url" --metrics "$target/metrics" \
        --store "$dir/castiel.db" --runs-dir "$dir/runs" | tee "$dir/run.log" || true
    "$PY" -m castiel check --budgets examples/cache-comparison.yaml --store "$dir/castiel.db" \
        --no-record --json "$dir/comparison.json" >"$dir/comparison.txt"
    cleanup
done
"$PY" examples/cache_comparison_report.py "$OUT" docs/cache-comparison.md \
    docs/images/cache-comparison.png

#!/usr/bin/env bash
# The example service at capacity, cache off then cache on: the same stepped arrival-rate run
# against each, then the comparison (docs/cache-comparison.md) from Castiel's own reports.
#
#   examples/cache_comparison.sh [BASE_RATE] [PEAK_MULTIPLIER] [DURATION] [PROCESSES]
#   (defaults: 100 iterations/s, x8, 120s, 2 Locust processes: steps of 100, 275, 450, 625,
#   800 iterations/s, 24 s each)
#
# Each mode gets a fresh redis-server, a fresh SQLite database, the service (--no-cache for
# off), two workers and `castiel run --arrival-rate BASE --scenario stress` (open model: the
# iterations start on time whatever the service does, so a slower service gets the same
# offered load and shows it in latency, dropped iterations and its knee). Both runs go into
# one store; afterwards:
#   * `castiel check --budgets examples/cache-comparison.yaml` measures each run;
#   * `castiel check --budgets examples/cache-difference.yaml --run OFF --baseline ON` gives
#     Castiel's baseline statistics for the difference (Mann-Whitney over 10 s chunks);
#   * examples/cache_comparison_report.py writes the tables and the plot.
# Everything lives under .castiel/cache-comparison/; every process started here is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-100}
MULTIPLIER=${2:-8}
DURATION=${3:-120s}
PROCESSES=${4:-2}
PY=${PY:-.venv/bin/python}
OUT=.castiel/cache-comparison
STORE="$OUT/castiel.db"
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
        --arrival-rate "$RATE" --scenario stress --peak-multiplier "$MULTIPLIER" \
        --duration "$DURATION" --users 50 --max-users 400 --processes "$PROCESSES" \
        --redis "$redis_url" --metrics "$target/metrics" \
        --store "$STORE" --runs-dir "$dir/runs" | tee "$dir/run.log" || true
    run_id=$(basename "$(ls -d "$dir"/runs/*)")
    echo "$run_id" >"$dir/run-id"
    "$PY" -m castiel check --budgets examples/cache-comparison.yaml --store "$STORE" \
        --run "$run_id" --no-record --json "$dir/comparison.json" >"$dir/comparison.txt"
    cleanup
done
"$PY" -m castiel check --budgets examples/cache-difference.yaml --store "$STORE" \
    --run "$(cat "$OUT/off/run-id")" --baseline "$(cat "$OUT/on/run-id")" --no-record \
    --json "$OUT/difference.json" >"$OUT/difference.txt" || true
"$PY" examples/cache_comparison_report.py "$OUT" docs/cache-comparison.md \
    docs/images/cache-comparison.png

#!/usr/bin/env bash
# The example service at capacity, cache off then cache on: the same stepped arrival-rate run
# against each, then the comparison (docs/cache-comparison.md) from Castiel's own reports.
#
#   examples/cache_comparison.sh [STEP] [STEPS] [SECONDS] [PROCESSES]
#   (defaults: steps of 50 iterations/s from 50 to 400, 15 s each, one Locust process)
#
# Each mode gets a fresh redis-server, a fresh SQLite database, the service (--no-cache for
# off), two workers and `castiel run --arrival-rate "0s:50, 15s:50, 0s:100, 15s:100, ..."`
# (open model: the iterations start on time whatever the service does, so a slower service
# gets the same offered load and shows it in latency, dropped iterations and its knee),
# judged by examples/cache-comparison.yaml: loose measurement budgets that never stop the
# run (examples/budgets.yaml would abort it at the first overloaded step, as it should in
# CI). Both runs go into one store; afterwards
#   * `castiel check --budgets examples/cache-difference.yaml --run OFF --baseline ON` gives
#     Castiel's baseline statistics for the difference (Mann-Whitney over 10 s chunks);
#   * examples/cache_comparison_report.py writes the tables and the plot.
# Everything lives under .castiel/cache-comparison/; every process started here is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-50}
STEPS=${2:-8}
SECONDS_PER_STEP=${3:-15}
PROCESSES=${4:-1}
PLAN=""
for i in $(seq "$STEPS"); do
    PLAN="$PLAN${PLAN:+, }0s:$((STEP * i)), ${SECONDS_PER_STEP}s:$((STEP * i))"
done
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
    "$PY" -m castiel run --target "$target" --budgets examples/cache-comparison.yaml \
        --arrival-rate "$PLAN" --users 50 --max-users 400 --processes "$PROCESSES" \
        --redis "$redis_url" --metrics "$target/metrics" \
        --store "$STORE" --runs-dir "$dir/runs" | tee "$dir/run.log" || true
    basename "$(ls -d "$dir"/runs/*)" >"$dir/run-id"
    cleanup
done
"$PY" -m castiel check --budgets examples/cache-difference.yaml --store "$STORE" \
    --run "$(cat "$OUT/off/run-id")" --baseline "$(cat "$OUT/on/run-id")" --no-record \
    --json "$OUT/difference.json" >"$OUT/difference.txt" || true
"$PY" examples/cache_comparison_report.py "$OUT" docs/cache-comparison.md \
    docs/images/cache-comparison.png

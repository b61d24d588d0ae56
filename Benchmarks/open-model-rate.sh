#!/usr/bin/env bash
# Benchmarks/open-model-rate.sh: how closely `statelab load --rate R` holds its
# target rate, on a release build against `statelab serve`.
#
# The test suite checks the open model's schedule, which no machine speed
# changes: rate x duration requests, each measured from its intended send
# time. Whether the generator keeps up with that schedule is a speed question,
# so it is measured here, on a release build, instead of asserted in a test
# that a busy machine breaks. For each rate this sends for DURATION seconds and
# reports:
#   sent        requests sent; the schedule says rate x duration
#   achieved    sent / (last answer - first intended send), statelab's achieved_rps
#   ratio       achieved / target; the target is 0.95 to 1.05 (the bound the
#               test suite used to assert, on a debug build)
#   latency     p50 / p99 / max in ms, from the intended send times: a
#               generator (or server) that falls behind shows here first
#
# Settings (environment): RATES="500 2000 8000" DURATION=10 CONCURRENCY=32
# WORKERS=2 SKIP_BUILD=0 (1 reuses .build/release/statelab), BIN (a statelab
# binary to use instead; it must be a release build for the numbers to mean
# anything).
# Needs: swift, jq, timeout, awk.
#
# Every wait is bounded; on any exit the server is stopped by its pid, its
# workers are checked gone, and the temp dir (with the run directory) removed.

set -euo pipefail

RATES=${RATES:-"500 2000 8000"}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-32}
WORKERS=${WORKERS:-2}
SKIP_BUILD=${SKIP_BUILD:-0}
LOW=0.95
HIGH=1.05

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/release/statelab"}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init open-model-rate.sh 1

bench_require_tools --hint jq timeout awk

bench_make_workdir statelab-rate-bench  # bench_cleanup runs on any exit

cd "$ROOT"
bench_build_statelab "build it (swift build -c release) or set BIN" "; debug numbers say little"

bench_start_server "$WORKERS" 60
say "   port $PORT, supervisor $SERVER_PID, workers $WORKER_PIDS"

LIMIT=$((DURATION + 120))
MISSED=0
ROWS=()
for rate in $RATES; do
    status=0
    out=$(timeout "$LIMIT" "$BIN" load --url "http://127.0.0.1:$PORT" --rate "$rate" --duration "${DURATION}s" \
        --concurrency "$CONCURRENCY" --format json 2>"$WORK/load.err") || status=$?
    # 1 is expected: the counter keeps growing across runs ("unexpected" increments).
    [[ $status -le 1 ]] || { cat "$WORK/load.err" >&2; die "statelab load --rate $rate exited with $status"; }
    read -r sent failed achieved p50 p99 max < <(jq -r '[.acknowledged + .failed + .indeterminate, .failed + .indeterminate,
        .achieved_rps, .latency_ms.p50, .latency_ms.p99, .latency_ms.max] | @tsv' <<<"$out")
    expected=$(awk -v r="$rate" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
    ratio=$(awk -v a="$achieved" -v r="$rate" 'BEGIN { printf "%.3f", a / r }')
    verdict=$(awk -v x="$ratio" -v lo="$LOW" -v hi="$HIGH" 'BEGIN { print (x >= lo && x <= hi) ? "met" : "NOT met" }')
    [[ "$verdict" == met ]] || MISSED=$((MISSED + 1))
    say "   rate $rate/s: sent $sent of $expected, $failed not ok, achieved $(printf '%.1f' "$achieved")/s, ratio $ratio ($verdict), latency p50 $p50 p99 $p99 max $max ms"
    ROWS+=("| $rate | $sent | $expected | $failed | $(printf '%.1f' "$achieved") | $ratio | $p50 / $p99 / $max | $verdict |")
done

echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`Benchmarks/open-model-rate.sh\`: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $BIN"
echo "(server: statelab serve --strategy shm --mode atomic --workers $WORKERS; load: --concurrency $CONCURRENCY, ${DURATION}s per rate)"
echo
echo "| target req/s | sent | rate x duration | not ok | achieved req/s | achieved / target | latency ms p50 / p99 / max | $LOW-$HIGH |"
echo "|---:|---:|---:|---:|---:|---:|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
if [[ $MISSED -eq 0 ]]; then
    echo "Every rate held within ${LOW}-${HIGH} of its target."
else
    echo "$MISSED rate(s) missed ${LOW}-${HIGH} of the target."
fi

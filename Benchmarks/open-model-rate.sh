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

say() { printf '%s\n' "$*" >&2; }
die() { say "open-model-rate.sh: $*"; exit 1; }

for tool in jq timeout awk; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install $tool)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/statelab-rate-bench.XXXXXX")
SERVER_PID=""
WORKER_PIDS=""
RUN_DIR=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            say "open-model-rate.sh: server $SERVER_PID ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    # Workers die with their supervisor (PR_SET_PDEATHSIG); wait for that, bounded.
    for pid in $WORKER_PIDS; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "open-model-rate.sh: worker $pid still alive after its supervisor stopped; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            status=1
        fi
    done
    if [[ -n "$RUN_DIR" && -e "$RUN_DIR" ]]; then
        say "open-model-rate.sh: the server left its run directory $RUN_DIR behind"
        status=1
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$ROOT"
if [[ "$SKIP_BUILD" != 1 && "$BIN" == "$ROOT/.build/release/statelab" ]]; then
    say "== swift build -c release (may take several minutes)"
    timeout 3600 swift build -c release --product statelab >&2
fi
[[ -x "$BIN" ]] || die "$BIN not found; build it (swift build -c release) or set BIN"
[[ "$BIN" == *release* ]] || say "   warning: $BIN does not look like a release build; debug numbers say little"

say "== starting statelab serve --strategy shm --mode atomic --workers $WORKERS"
TMPDIR="$WORK" "$BIN" serve --strategy shm --mode atomic --workers "$WORKERS" --port 0 --json \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!

READY=""
for _ in $(seq 1 600); do  # 60 s
    if READY=$(grep -m1 '^{' "$WORK/serve.out" 2>/dev/null); then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; die "the server exited before it was ready"; }
    sleep 0.1
done
[[ -n "$READY" ]] || die "the server printed no ready line within 60 s"
PORT=$(jq -r .port <<<"$READY")
WORKER_PIDS=$(jq -r '.pids[]' <<<"$READY" | tr '\n' ' ')
RUN_DIR=$(jq -r .run_dir <<<"$READY")
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

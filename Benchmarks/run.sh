#!/usr/bin/env bash
# Benchmarks/run.sh: statelab load against wrk on the same statelab server.
#
# Builds statelab in release mode, starts one server (shm / atomic, 4 workers
# on a free loopback port), then runs wrk and `statelab load` alternately with
# the same connections, threads and duration, so both see the same machine
# noise. Writes a Markdown table (every round, the medians and the ratio
# statelab/wrk) between the results markers in Benchmarks/README.md.
#
# `Benchmarks/run.sh stores` runs Benchmarks/stores.sh instead: per store,
# statelab against the store's FastAPI example app and nginx (see that file).
#
# Settings (environment): ROUNDS=5 DURATION=10 CONNECTIONS=32 THREADS=1
# WORKERS=4 WARMUP=2 SKIP_BUILD=0 (1 reuses .build/release/statelab).
# Needs: swift, wrk (apt-get install wrk), jq, GNU time (/usr/bin/time), timeout, awk.
#
# Every wait is bounded, and on any exit the server is stopped by its pid and
# the script's temp dir (which also holds the server's run directory) removed.

set -euo pipefail

if [[ "${1:-}" == stores ]]; then
    shift
    exec "$(dirname "${BASH_SOURCE[0]}")/stores.sh" "$@"
fi

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-4}
WARMUP=${WARMUP:-2}
SKIP_BUILD=${SKIP_BUILD:-0}
TARGET_RATIO=1.0
TARGET_CPU_RATIO=1.2  # statelab load CPU per request / wrk's, at most

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README="$ROOT/Benchmarks/README.md"
BIN=${BIN:-"$ROOT/.build/release/statelab"}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init run.sh 1

bench_require_tools --hint wrk jq timeout awk sed
[[ -x /usr/bin/time ]] || die "GNU time is missing (apt-get install time)"

# On any exit (bench_cleanup): the server is stopped by its pid (SIGTERM, then
# SIGKILL after 10 s), no worker it started and no run directory may be left,
# and the temp dir is removed.
bench_make_workdir statelab-bench

# MARK: Build

cd "$ROOT"
bench_build_statelab "run without SKIP_BUILD=1"

# MARK: Server

bench_start_server "$WORKERS" 30
say "   $URL, supervisor $SERVER_PID, workers $WORKER_PIDS"

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/increment"
wrk.headers["Content-Length"] = "0"
LUA

LIMIT=$((DURATION + WARMUP + 60))  # per tool run: its duration plus a generous margin

# CPU seconds (user + sys) a timed command used, from GNU time's output file.
cpu_seconds() { awk 'END { print $1 + $2 }' "$1"; }

# Prints "requests/s CPU-microseconds-per-request" for one wrk run; non-2xx
# answers and socket errors go to stderr.
run_wrk() {
    local seconds=$1 out requests
    out=$(timeout "$LIMIT" /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" -s "$WORK/post.lua" "http://127.0.0.1:$PORT") \
        || die "wrk failed or timed out"
    if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
        say "   wrk: $(grep -e 'Non-2xx' -e 'Socket errors' <<<"$out" | tr '\n' ' ')"
    fi
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    awk -v rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" -v cpu="$(cpu_seconds "$WORK/wrk.time")" -v n="$requests" \
        'BEGIN { printf "%s %.2f\n", rps, cpu * 1e6 / n }'
}

# Prints "requests/s CPU-microseconds-per-request" for one statelab load run
# (throughput_rps: ok answers per second). The CPU time is the whole process:
# start, load, the final per-worker reads, the check and the JSON report.
# Its exit status is 1 here by design: the counter keeps growing across
# rounds, so the final reads exceed this run's increments ("unexpected").
run_statelab() {
    local seconds=$1 out status=0
    out=$(timeout "$LIMIT" /usr/bin/time -f '%U %S' -o "$WORK/load.time" \
        "$BIN" load --url "http://127.0.0.1:$PORT" --duration "${seconds}s" \
        --concurrency "$CONNECTIONS" --load-threads "$THREADS" --format json 2>"$WORK/load.err") || status=$?
    [[ $status -le 1 ]] || { cat "$WORK/load.err" >&2; die "statelab load exited with $status"; }
    local failed indeterminate requests
    failed=$(jq -r .failed <<<"$out")
    indeterminate=$(jq -r .indeterminate <<<"$out")
    if [[ "$failed" != 0 || "$indeterminate" != 0 ]]; then
        say "   statelab load: $failed failed, $indeterminate indeterminate"
    fi
    requests=$(jq -r '.acknowledged + .failed + .indeterminate' <<<"$out")
    awk -v rps="$(jq -r .throughput_rps <<<"$out")" -v cpu="$(cpu_seconds "$WORK/load.time")" -v n="$requests" \
        'BEGIN { printf "%s %.2f\n", rps, cpu * 1e6 / n }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# MARK: Rounds

say "== warm-up: ${WARMUP}s of each"
run_wrk "$WARMUP" >/dev/null
run_statelab "$WARMUP" >/dev/null

WRK_RESULTS=()
STATELAB_RESULTS=()
WRK_CPU=()
STATELAB_CPU=()
for round in $(seq 1 "$ROUNDS"); do
    read -r wrk_rps wrk_cpu < <(run_wrk "$DURATION") || die "wrk round $round failed"
    say "   round $round  wrk           $wrk_rps req/s  ${wrk_cpu} µs CPU/request"
    read -r statelab_rps statelab_cpu < <(run_statelab "$DURATION") || die "statelab load round $round failed"
    say "   round $round  statelab load $statelab_rps req/s  ${statelab_cpu} µs CPU/request"
    WRK_RESULTS+=("$wrk_rps")
    STATELAB_RESULTS+=("$statelab_rps")
    WRK_CPU+=("$wrk_cpu")
    STATELAB_CPU+=("$statelab_cpu")
done

WRK_MEDIAN=$(printf '%s\n' "${WRK_RESULTS[@]}" | median)
STATELAB_MEDIAN=$(printf '%s\n' "${STATELAB_RESULTS[@]}" | median)
WRK_CPU_MEDIAN=$(printf '%s\n' "${WRK_CPU[@]}" | median)
STATELAB_CPU_MEDIAN=$(printf '%s\n' "${STATELAB_CPU[@]}" | median)
RATIO=$(awk -v s="$STATELAB_MEDIAN" -v w="$WRK_MEDIAN" 'BEGIN { printf "%.2f", s / w }')
VERDICT=$(awk -v r="$RATIO" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "met" : "NOT met" }')
say "== medians: wrk $WRK_MEDIAN, statelab load $STATELAB_MEDIAN, ratio $RATIO (target >= $TARGET_RATIO: $VERDICT)"
CPU_RATIO=$(awk -v s="$STATELAB_CPU_MEDIAN" -v w="$WRK_CPU_MEDIAN" 'BEGIN { printf "%.2f", s / w }')
CPU_VERDICT=$(awk -v r="$CPU_RATIO" -v t="$TARGET_CPU_RATIO" 'BEGIN { print (r <= t) ? "met" : "NOT met" }')
say "   CPU per request: wrk $WRK_CPU_MEDIAN µs, statelab load $STATELAB_CPU_MEDIAN µs, ratio $CPU_RATIO (target <= $TARGET_CPU_RATIO: $CPU_VERDICT)"

# MARK: Report

# A rate rounded and grouped by thousands: 28498.9 -> 28,499.
rps() { printf '%.0f' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
    echo "<!-- results:start -->"
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`Benchmarks/run.sh\`."
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| machine | $(nproc) CPUs, ${CPU:-unknown CPU}, Linux $(uname -r) |"
    echo "| toolchain | $(swift --version 2>/dev/null | head -1), release build (\`swift build -c release\`) |"
    echo "| load tools | $(wrk --version 2>&1 | head -1 | awk '{ print $1, $2 }'); statelab load |"
    echo "| server | \`statelab serve --strategy shm --mode atomic --workers $WORKERS\` (one server for all rounds) |"
    echo "| load | POST /increment, $CONNECTIONS keep-alive connections, $THREADS threads (\`wrk -t$THREADS\` / \`--load-threads $THREADS\`), ${DURATION}s per round, ${WARMUP}s warm-up of each first |"
    echo "| machine load | load average $(cut -d' ' -f1-3 /proc/loadavg) when the table was written |"
    echo "| CPU sharing | the load tool and the $WORKERS server workers share the same $(nproc) CPUs (with anything else running), so compare the ratio, not the absolute numbers |"
    echo
    echo "| round | wrk req/s | statelab load req/s | statelab / wrk | wrk CPU µs/req | statelab load CPU µs/req |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for i in "${!WRK_RESULTS[@]}"; do
        r=$(awk -v s="${STATELAB_RESULTS[$i]}" -v w="${WRK_RESULTS[$i]}" 'BEGIN { printf "%.2f", s / w }')
        echo "| $((i + 1)) | $(rps "${WRK_RESULTS[$i]}") | $(rps "${STATELAB_RESULTS[$i]}") | $r | ${WRK_CPU[$i]} | ${STATELAB_CPU[$i]} |"
    done
    echo "| **median** | **$(rps "$WRK_MEDIAN")** | **$(rps "$STATELAB_MEDIAN")** | **$RATIO** | **$WRK_CPU_MEDIAN** | **$STATELAB_CPU_MEDIAN** |"
    echo
    echo "Targets (ratios of medians): statelab load >= ${TARGET_RATIO}x wrk's req/s: **$VERDICT** ($RATIO);"
    echo "CPU per request <= ${TARGET_CPU_RATIO}x wrk's: **$CPU_VERDICT** ($CPU_RATIO)."
    echo "<!-- results:end -->"
} >"$WORK/results.md"

bench_write_block "$README" '<!-- results:start -->' '<!-- results:end -->' "$WORK/results.md"
say "== wrote the table into $README"

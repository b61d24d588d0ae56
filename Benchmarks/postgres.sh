#!/usr/bin/env bash
# Benchmarks/postgres.sh: req/s of each postgres mode, with wrk.
#
# For each mode (naive, locked, atomic, serializable): a fresh
# `statelab serve --strategy postgres --mode MODE --workers WORKERS` (a
# PostgreSQL server of its own, fsync=off), a warm-up, then
# `wrk -t1 -cCONNECTIONS -dDURATION --latency` POSTing /increment. Writes the
# table between the postgres markers of Benchmarks/README.md.
#
# Needs: a release build (SKIP_BUILD=1 BIN=... to reuse one), wrk, jq,
# postgresql, timeout, awk. Every wait is bounded; on any exit the server is
# stopped by its pid and the temp dir (which holds its run directory) removed.

set -euo pipefail

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-4}
WARMUP=${WARMUP:-2}
SKIP_BUILD=${SKIP_BUILD:-0}
MODES=${MODES:-naive locked atomic serializable}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README="$ROOT/Benchmarks/README.md"
BIN=${BIN:-"$ROOT/.build/release/statelab"}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init postgres.sh 1
bench_require_tools --hint wrk jq timeout awk
bench_make_workdir statelab-pg-bench
# As root, PostgreSQL runs as the postgres user, which must pass through the
# server's run directory in WORK (statelab opens the run directory itself).
chmod 711 "$WORK"
cd "$ROOT"
bench_build_statelab "run without SKIP_BUILD=1, or set BIN"

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/increment"
wrk.headers["Content-Length"] = "0"
LUA

# wrk --latency prints "50% 1.23ms"; in milliseconds.
millis() {
    awk -v q="$1" '$1 == q {
        v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000
        printf "%.1f", v; exit }' "$2"
}

ROWS=()
for mode in $MODES; do
    bench_start_server "$WORKERS" 120 postgres "$mode"
    timeout $((WARMUP + 60)) wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$WORK/post.lua" "$URL" >/dev/null
    timeout $((DURATION + 60)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$URL" >"$WORK/wrk.out"
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/wrk.out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$WORK/wrk.out")
    retries=$(curl -s "$URL/report" | jq -r '.retries // empty' || true)
    ROWS+=("| $mode | $rps | $(millis 50% "$WORK/wrk.out") | $(millis 99% "$WORK/wrk.out") | ${non2xx:-0} | ${retries:--} |")
    say "   postgres/$mode: $rps req/s (non-2xx ${non2xx:-0})"
    bench_stop_pid "$SERVER_PID" server
    for pid in $WORKER_PIDS; do bench_wait_gone "$pid" 5 || die "worker $pid outlived its supervisor"; done
    [[ ! -e "$RUN_DIR" ]] || die "the server left $RUN_DIR behind"
    SERVER_PID="" WORKER_PIDS="" RUN_DIR=""
done

{
    echo "<!-- postgres:start -->"
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`Benchmarks/postgres.sh\` ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end): a release build, \`statelab serve --strategy postgres --mode MODE --workers $WORKERS\` (PostgreSQL $("$(dirname "$(ls /usr/lib/postgresql/*/bin/postgres | sort -V | tail -1)")/postgres" --version | awk '{ print $3 }'), fsync=off, 4 connections per worker), then \`wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency\` POSTing /increment after a ${WARMUP} s warm-up. wrk, the workers and the server share the machine's CPUs. Non-2xx are serializable's refusals past its retry bound (503, not committed); retries is one worker's count from \`GET /report\` at the end (the kernel picks which worker answers)."
    echo
    echo "| mode | req/s | p50 ms | p99 ms | non-2xx | retries (one worker) |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo "<!-- postgres:end -->"
} >"$WORK/results.md"

{ echo "## PostgreSQL: req/s per mode"; echo; cat "$WORK/results.md"; } >"$WORK/appendix.md"
bench_write_block "$README" '<!-- postgres:start -->' '<!-- postgres:end -->' "$WORK/results.md" "$WORK/appendix.md"
say "== wrote the postgres table into $README"

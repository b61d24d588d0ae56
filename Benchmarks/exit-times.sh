#!/usr/bin/env bash
# Benchmarks/exit-times.sh: how quickly statelab gives up when it should, on a
# release build.
#
# The test suite checks that these runs end and what they report, with
# deadlines far beyond what a busy machine needs; it no longer asserts how
# fast, because a busy machine breaks any such bound (a debug binary took
# 15 s to start under load). The speed is measured here, each against the
# bound the tests used to assert:
#   bad flags          `statelab load --increments 5 --duration 1s`: exit 2   (was < 5 s)
#   malformed scenario `statelab compare --scenario F` for every file in
#                      Tests/Fixtures/BadScenarios: exit 2; the slowest       (was < 5 s)
#   closed port        `statelab load --url http://127.0.0.1:CLOSED --increments 200`:
#                      every increment refused                                (was < 15 s)
#   server goes away   `statelab load --url ... --increments 200000 --timeout 1`
#                      while the server is stopped (SIGTERM) once it has
#                      acknowledged increments: seconds from the signal to
#                      the load's exit, which include reading GET /report of
#                      the workers that are gone until ReportReader gives up  (the library
#                      test asserted < 4 s without that reading)
#
# Settings (environment): SKIP_BUILD=0 (1 reuses .build/release/statelab),
# BIN (a statelab binary to use instead), WORKERS=2.
# Needs: swift, jq, curl, timeout, awk, python3 (a free port).
#
# Every wait is bounded; on any exit the server is stopped by its pid, its
# workers are checked gone, and the temp dir removed.

set -euo pipefail

SKIP_BUILD=${SKIP_BUILD:-0}
WORKERS=${WORKERS:-2}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/release/statelab"}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init exit-times.sh 1

bench_require_tools jq curl timeout awk python3

bench_make_workdir statelab-exit-bench  # bench_cleanup runs on any exit

cd "$ROOT"
bench_build_statelab "build it (swift build -c release) or set BIN"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ROWS=()
row() {  # what, seconds, bound
    local verdict
    verdict=$(awk -v s="$2" -v b="$3" 'BEGIN { print (s < b) ? "met" : "NOT met" }')
    say "   $1: $2 s (bound $3 s: $verdict)"
    ROWS+=("| $1 | $2 | < $3 | $verdict |")
}
MISSING="$WORK/not-created"  # a TMPDIR that does not exist: nothing can start an app

# MARK: Bad flags

start=$(now)
status=0
TMPDIR="$MISSING" timeout 120 "$BIN" load --increments 5 --duration 1s >/dev/null 2>"$WORK/flags.err" || status=$?
seconds=$(since "$start")
[[ $status -eq 2 ]] || { cat "$WORK/flags.err" >&2; die "bad flags: exit $status, expected 2"; }
row "bad flags (exit 2)" "$seconds" 5

# MARK: Malformed scenarios

slowest=0
slowest_file=""
count=0
for file in "$ROOT"/Tests/Fixtures/BadScenarios/*.yaml; do
    start=$(now)
    status=0
    TMPDIR="$MISSING" timeout 120 "$BIN" compare --scenario "$file" >/dev/null 2>"$WORK/compare.err" || status=$?
    seconds=$(since "$start")
    [[ $status -eq 2 ]] || { cat "$WORK/compare.err" >&2; die "$file: exit $status, expected 2"; }
    count=$((count + 1))
    if awk -v s="$seconds" -v m="$slowest" 'BEGIN { exit !(s > m) }'; then
        slowest=$seconds
        slowest_file=$(basename "$file")
    fi
done
row "malformed scenario, slowest of $count ($slowest_file)" "$slowest" 5

# MARK: Closed port

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
start=$(now)
status=0
out=$(timeout 120 "$BIN" load --url "http://127.0.0.1:$PORT" --increments 200 --format json 2>"$WORK/closed.err") || status=$?
seconds=$(since "$start")
[[ $status -eq 1 ]] || { cat "$WORK/closed.err" >&2; die "closed port: exit $status, expected 1"; }
[[ $(jq -r .failed <<<"$out") == 200 ]] || die "closed port: not every increment failed: $out"
row "closed port, 200 increments refused" "$seconds" 15

# MARK: A server that goes away

bench_start_server "$WORKERS" 60
# Unlike the other scripts, this one has never failed when the server leaves
# its run directory behind (it is inside WORK, which goes anyway): keep it so.
RUN_DIR=""

"$BIN" load --url "http://127.0.0.1:$PORT" --increments 200000 --timeout 1 --format json \
    >"$WORK/gone.out" 2>"$WORK/gone.err" &
LOAD_PID=$!
# Stop the server once it has counted some increments (polled, bounded).
counted=0
for _ in $(seq 1 600); do  # 60 s
    counted=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/report" | jq -r '.count // 0' 2>/dev/null || echo 0)
    [[ "$counted" -gt 100 ]] && break
    sleep 0.1
done
[[ "$counted" -gt 100 ]] || die "the server counted no increments within 60 s"
start=$(now)
kill -TERM "$SERVER_PID"
finished=0
for _ in $(seq 1 1200); do  # 120 s
    if ! kill -0 "$LOAD_PID" 2>/dev/null; then finished=1; break; fi
    sleep 0.05
done
seconds=$(since "$start")
[[ $finished -eq 1 ]] || die "statelab load did not end within 120 s of the server going away"
status=0
wait "$LOAD_PID" || status=$?
LOAD_PID=""
[[ $status -le 1 ]] || { cat "$WORK/gone.err" >&2; die "statelab load exited with $status"; }
failed=$(jq -r .failed "$WORK/gone.out")
row "server goes away mid-run ($failed of 200000 failed)" "$seconds" 4
bench_stop_pid "$SERVER_PID" server
SERVER_PID=""

echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`Benchmarks/exit-times.sh\`: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $BIN"
echo
echo "| run | seconds | bound the tests used to assert | |"
echo "|---|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"

#!/usr/bin/env bash
# Benchmarks/attribution.sh: what naming each connection's worker from /proc costs.
#
# statelab names the worker of each connection of an app it did not write by
# the kernel's socket table (SocketOwners: all but the request's last byte,
# one NETLINK_SOCK_DIAG lookup, a scan of the candidates' /proc/PID/fd, then
# the last byte). This runs `statelab load` alternately with --pid-from answer
# (the pid in the answers, no lookup) and --pid-from proc, same connections and
# duration, so both see the same machine noise:
#   1. statelab's own app (shm/atomic, 4 workers) through --url: keep-alive
#      connections, so one lookup per connection;
#   2. the same app, plain (--pid-from answer, the built-in requests) against
#      everything an app of one's own adds: --pid-from proc with --op
#      'POST /increment count' and --read 'GET /report count';
#   3. when examples/python/.venv has gunicorn: Flask-Limiter's app under
#      gunicorn's sync workers, which close every connection, so one lookup
#      per request (the worst case).
# Prints every round and the medians, and the ratios proc / answer and own-app / plain.
#
# Settings (environment): ROUNDS=5 DURATION=5 CONNECTIONS=32 WORKERS=4
# SKIP_BUILD=0 (1 reuses .build/release/statelab).
# Needs: swift, jq, timeout, awk. Every wait is bounded; on any exit the
# server is stopped by its pid and the temp dir removed.

set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-4}
SKIP_BUILD=${SKIP_BUILD:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/release/statelab"}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init attribution.sh 1
bench_require_tools jq timeout awk
bench_make_workdir statelab-attribution
cd "$ROOT"
bench_build_statelab "run without SKIP_BUILD=1"

LIMIT=$((DURATION + 120))
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Prints "requests/s connections-placed" for one load; the arguments are statelab load's.
run_load() {
    local out status=0
    out=$(timeout "$LIMIT" "$BIN" load "$@" --duration "${DURATION}s" \
        --concurrency "$CONNECTIONS" --format json --quiet 2>"$WORK/load.err") || status=$?
    [[ $status -le 1 ]] || { cat "$WORK/load.err" >&2; die "statelab load $* exited with $status"; }
    local rps placed
    rps=$(jq -r .throughput_rps <<<"$out")
    placed=$(jq -r '[.notes[] | select(startswith("workers named from /proc")) | capture("each of the (?<n>[0-9,]+) connections").n] | first // "0"' <<<"$out" | tr -d ,)
    echo "$rps $placed"
}

# compare_pair TITLE NAME_A NAME_B: alternates two loads, the arguments of the
# first in the array A, of the second in B, for ROUNDS rounds after a warm-up.
compare_pair() {
    local title=$1 name_a=$2 name_b=$3 round a_rps b_rps placed
    local as=() bs=()
    say "== $title"
    run_load "${A[@]}" >/dev/null  # warm-up
    for round in $(seq 1 "$ROUNDS"); do
        read -r a_rps _ < <(run_load "${A[@]}")
        read -r b_rps placed < <(run_load "${B[@]}")
        say "   round $round  $name_a $a_rps req/s   $name_b $b_rps req/s ($placed connections placed)"
        as+=("$a_rps")
        bs+=("$b_rps")
    done
    local a b
    a=$(printf '%s\n' "${as[@]}" | median)
    b=$(printf '%s\n' "${bs[@]}" | median)
    say "   median: $name_a $a req/s, $name_b $b req/s, $name_b/$name_a $(awk -v b="$b" -v a="$a" 'BEGIN { printf "%.3f", b / a }')"
}

# Alternates --pid-from answer and --pid-from proc; $1 a title, the rest the load's target arguments.
compare() {
    local title=$1
    shift
    A=(--pid-from answer "$@")
    B=(--pid-from proc "$@")
    compare_pair "$title" answer proc
}

bench_start_server "$WORKERS" 30
compare "statelab's own app (shm/atomic, $WORKERS workers), keep-alive: one lookup per connection" \
    --url "http://127.0.0.1:$PORT"
# Everything "any app as it is" adds at once, against the plain load: the workers
# named from /proc, and the operation, its count field and the read given as
# for an app of one's own (the answer scanned for the app's field names).
A=(--url "http://127.0.0.1:$PORT" --pid-from answer)
B=(--url "http://127.0.0.1:$PORT" --pid-from proc --op 'POST /increment count' --read 'GET /report count')
compare_pair "statelab's own app: plain against /proc attribution with the app's own op, field and read" plain own-app
bench_stop_pid "$SERVER_PID" server
SERVER_PID=""

VENV="$ROOT/examples/python/.venv"
if [[ -x "$VENV/bin/gunicorn" ]]; then
    PATH="$VENV/bin:$PATH" compare "Flask-Limiter under gunicorn -w $WORKERS (sync workers close every connection): one lookup per request" \
        --app-command "PING_LIMIT='100000000 per minute' gunicorn -w $WORKERS -b 127.0.0.1:{port} flask_limited:app" --app-cwd "$ROOT/examples/python" \
        --ready-path / --op 'POST /api/ping' --limit 100000000
else
    say "== skipping the gunicorn case: no $VENV/bin/gunicorn (examples/python/setup-venv.sh makes it)"
fi

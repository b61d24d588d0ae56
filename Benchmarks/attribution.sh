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
#   2. when examples/python/.venv has gunicorn: Flask-Limiter's app under
#      gunicorn's sync workers, which close every connection, so one lookup
#      per request (the worst case).
# Prints every round and the medians, and the ratio proc / answer.
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

# Prints "requests/s connections-placed" for one load; $1 the pid source, the rest statelab's arguments.
run_load() {
    local source=$1 out status=0
    shift
    out=$(timeout "$LIMIT" "$BIN" load "$@" --pid-from "$source" --duration "${DURATION}s" \
        --concurrency "$CONNECTIONS" --format json --quiet 2>"$WORK/load.err") || status=$?
    [[ $status -le 1 ]] || { cat "$WORK/load.err" >&2; die "statelab load --pid-from $source exited with $status"; }
    local rps placed
    rps=$(jq -r .throughput_rps <<<"$out")
    placed=$(jq -r '[.notes[] | select(startswith("workers named from /proc")) | capture("each of the (?<n>[0-9,]+) connections").n] | first // "0"' <<<"$out" | tr -d ,)
    echo "$rps $placed"
}

# Alternates answer and proc for ROUNDS rounds; $1 a title, the rest the load's target arguments.
compare() {
    local title=$1 round answer_rps proc_rps placed
    shift
    local answers=() procs=()
    say "== $title"
    run_load answer "$@" >/dev/null  # warm-up
    for round in $(seq 1 "$ROUNDS"); do
        read -r answer_rps _ < <(run_load answer "$@")
        read -r proc_rps placed < <(run_load proc "$@")
        say "   round $round  answer $answer_rps req/s   proc $proc_rps req/s ($placed connections placed)"
        answers+=("$answer_rps")
        procs+=("$proc_rps")
    done
    local a p
    a=$(printf '%s\n' "${answers[@]}" | median)
    p=$(printf '%s\n' "${procs[@]}" | median)
    say "   median: answer $a req/s, proc $p req/s, proc/answer $(awk -v p="$p" -v a="$a" 'BEGIN { printf "%.3f", p / a }')"
}

bench_start_server "$WORKERS" 30
compare "statelab's own app (shm/atomic, $WORKERS workers), keep-alive: one lookup per connection" \
    --url "http://127.0.0.1:$PORT"
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

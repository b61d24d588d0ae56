#!/usr/bin/env bash
# The dashboard's own CPU use, per thread, idle and while a burst runs.
#
# The dashboard process holds both the UI (the main thread: drain events,
# render, ncurses) and the engine (the load generator's NIO threads, the
# sampling and control queues), so the process total is mostly the load. This
# script runs the release binary in a private headless tmux, and samples
# utime+stime of every thread in /proc/PID/task over a fixed window: first idle,
# then while a large burst runs. It reports the main thread as % of one core,
# the other threads by name, the process total, and the workers for context.
#
# Usage: Benchmarks/dashboard-cpu.sh [--bin PATH] [--fps N] [--window SECONDS] [--burst N]
#                                    [--strategy S] [--mode M] [--workers N]
# Build first: swift build -c release
set -euo pipefail

BIN=".build/release/statelab"
FPS=10
WINDOW=10
BURST=1000000
STRATEGY=shm
MODE=atomic
WORKERS=4
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN="$2"; shift 2 ;;
        --fps) FPS="$2"; shift 2 ;;
        --window) WINDOW="$2"; shift 2 ;;
        --burst) BURST="$2"; shift 2 ;;
        --strategy) STRATEGY="$2"; shift 2 ;;
        --mode) MODE="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "no executable at $BIN (swift build -c release)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "tmux is needed (apt-get install -y tmux)" >&2; exit 1; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

SOCKET="statelab-cpu-$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/statelab-cpu-bench.XXXXXX")"
mkdir -p "$WORK/tmp"
TICKS=$(getconf CLK_TCK)

DASH=""
cleanup() {
    # Normally q has ended it; on an error path stop the dashboard by its pid
    # (its workers die with it), then our own tmux server by its socket.
    if [ -n "$DASH" ] && kill -0 "$DASH" 2>/dev/null; then
        kill -TERM "$DASH" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$DASH" 2>/dev/null || break; sleep 0.1; done
    fi
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

screen() { tmux -L "$SOCKET" capture-pane -p -t bench; }

# wait_for SECONDS PATTERN: polls the pane until grep -E matches.
wait_for() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        if screen | grep -Eq "$2"; then return 0; fi
        sleep 0.2
    done
    echo "timed out waiting for /$2/ on the dashboard:" >&2
    screen >&2
    return 1
}

# thread_ticks PID: "tid name ticks" for every thread (utime + stime, fields 14 and 15).
thread_ticks() {
    local pid=$1 task tid comm stat
    for task in /proc/"$pid"/task/*; do
        tid=${task##*/}
        comm=$(tr ' ' '_' < "$task/comm" 2>/dev/null) || continue
        stat=$(cat "$task/stat" 2>/dev/null) || continue
        # Everything after the last ")" is space-separated; utime and stime are its 12th and 13th fields.
        echo "$tid $comm $(echo "${stat##*) }" | awk '{print $12 + $13}')"
    done
}

# process_ticks "PID...": utime + stime of whole processes (their exited threads included).
process_ticks() {
    local pid stat total=0
    for pid in $1; do
        stat=$(cat /proc/"$pid"/stat 2>/dev/null) || continue
        total=$((total + $(echo "${stat##*) }" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

# measure LABEL: samples the dashboard's threads and the workers over WINDOW seconds.
measure() {
    local label=$1 before after workers w0 w1 p0 p1
    workers=$(pgrep -P "$DASH" | tr '\n' ' ')
    before=$(thread_ticks "$DASH"); p0=$(process_ticks "$DASH"); w0=$(process_ticks "$workers")
    sleep "$WINDOW"
    after=$(thread_ticks "$DASH"); p1=$(process_ticks "$DASH"); w1=$(process_ticks "$workers")
    echo "== $label: ${WINDOW} s at ${FPS} fps (% of one core)"
    # Join the two samples by tid; threads that came or went count from 0.
    awk -v ticks="$TICKS" -v window="$WINDOW" -v main="$DASH" '
        NR == FNR { start[$1] = $3; next }
        {
            delta = $3 - ((($1) in start) ? start[$1] : 0)
            pct = delta * 100 / ticks / window
            if ($1 == main) { printf "  %-28s %6.1f%%\n", "main thread (UI loop)", pct }
            else { byname[$2] += pct; count[$2]++ }
        }
        END { for (name in byname) printf "  %-28s %6.1f%%  (%d threads)\n", name, byname[name], count[name] }
    ' <(echo "$before") <(echo "$after")
    awk -v a="$p0" -v b="$p1" -v ticks="$TICKS" -v window="$WINDOW" \
        'BEGIN { printf "  %-28s %6.1f%%\n", "dashboard process total", (b - a) * 100 / ticks / window }'
    awk -v a="$w0" -v b="$w1" -v ticks="$TICKS" -v window="$WINDOW" -v n="$(echo $workers | wc -w)" \
        'BEGIN { printf "  %-28s %6.1f%%  (%d processes)\n", "workers (context)", (b - a) * 100 / ticks / window, n }'
}

tmux -L "$SOCKET" new-session -d -s bench -x 120 -y 40 \
    "TMPDIR='$WORK/tmp' '$BIN' dashboard --strategy $STRATEGY --mode $MODE --workers $WORKERS --burst $BURST --fps $FPS --iterations 100000; echo exit=\$? > '$WORK/exit'; sleep 30"
SHELL_PID=$(tmux -L "$SOCKET" display -p -t bench '#{pane_pid}')
for _ in $(seq 50); do
    DASH=$(pgrep -P "$SHELL_PID" | head -1 || true)
    [ -n "$DASH" ] && break
    sleep 0.1
done
[ -n "$DASH" ] || { echo "the dashboard did not start" >&2; exit 1; }
wait_for 60 "w$((WORKERS - 1)) +[0-9]+ +alive"

echo "statelab dashboard --strategy $STRATEGY --mode $MODE --workers $WORKERS --burst $BURST --fps $FPS (pid $DASH)"
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
sleep 2
measure "idle"

tmux -L "$SOCKET" send-keys -t bench Space
wait_for 30 "burst [█░]+ [0-9,]+/"
measure "during a burst of $BURST"
if screen | grep -q "burst done"; then
    echo "warning: the burst ended inside the window; use a larger --burst for a clean figure" >&2
fi
wait_for 600 "burst done" >/dev/null || true
screen | grep -E "burst done|req/s, p50" | tail -2 | sed 's/^│ */  /; s/ *│$//'

tmux -L "$SOCKET" send-keys -t bench q
for _ in $(seq 100); do [ -s "$WORK/exit" ] && break; sleep 0.1; done
echo "dashboard $(cat "$WORK/exit" 2>/dev/null || echo 'did not exit')"

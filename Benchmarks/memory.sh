#!/usr/bin/env bash
# Benchmarks/memory.sh: peak RSS of a release `statelab load` for runs of
# different lengths, to show that memory does not grow with the run.
#
# The history is checked as it streams (HistoryRecorder), so a 10-minute run
# should need about as much memory as a 10-second one. This starts one server
# (`statelab serve --strategy shm --mode atomic --workers 4 --port 0 --json`,
# release build) and runs, for each duration D,
#   statelab load --url http://127.0.0.1:PORT --duration D --concurrency 32 --format json --quiet
# and measures the load process only (the server is a separate process):
#   peak RSS     ru_maxrss of the load process from GNU time (%M) when
#                /usr/bin/time is installed (exact: it includes the check at
#                the very end); otherwise the highest VmHWM read from
#                /proc/PID/status, polled every 0.1 s while it runs (it can
#                miss what is allocated in the last 0.1 s before the exit)
#   VmHWM polled always measured, as a cross-check of the above
#   RSS curve    VmRSS about every second, written to Benchmarks/results/
#   acknowledged, req/s (throughput_rps), verdict: from the JSON report
# It prints a Markdown table on stdout (progress on stderr) and appends the
# figures, with the date, the commit and the machine, to
# Benchmarks/results/memory.tsv (the results folder is not committed).
#
# With TARGET=builtin it runs the built-in app instead,
#   statelab load --strategy shm --mode atomic --workers 4 --duration D --concurrency 32
# where the supervisor lives in the load process (its workers do not), and
# peak RSS is always the polled VmHWM (GNU time's figure would include the
# workers, which are the load process's children).
#
# Settings (environment): DURATIONS="10s 60s 600s" CONCURRENCY=32 WORKERS=4
# LOAD_THREADS (unset: statelab's default) TARGET=url|builtin TARGET_MB=150
# GROWTH=1.2 (the longest run's peak may be at most this times the shortest's)
# SKIP_BUILD=0 (1 reuses .build/release/statelab), BIN (a statelab binary).
# Needs: swift, jq, timeout, awk; GNU time (apt-get install time) is optional.
#
# Every wait is bounded (each load: its duration + 180 s); on any exit the
# load and the server are stopped by their pids, the server's workers are
# checked gone, and the temp dir (with the server's run directory) removed.
#
# Exit status: 0 when every peak is under TARGET_MB and flat (GROWTH), 1 when
# not, 2 when a run failed.

set -euo pipefail

DURATIONS=${DURATIONS:-"10s 60s 600s"}
CONCURRENCY=${CONCURRENCY:-32}
WORKERS=${WORKERS:-4}
LOAD_THREADS=${LOAD_THREADS:-}
TARGET=${TARGET:-url}
TARGET_MB=${TARGET_MB:-150}
GROWTH=${GROWTH:-1.2}
SKIP_BUILD=${SKIP_BUILD:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/release/statelab"}
RESULTS="$ROOT/Benchmarks/results"

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init memory.sh 2

bench_require_tools --hint jq timeout awk
[[ "$TARGET" == url || "$TARGET" == builtin ]] || die "TARGET must be url or builtin (got $TARGET)"
GNU_TIME=""
if [[ "$TARGET" == url && -x /usr/bin/time ]] && /usr/bin/time -f '%M' -o /dev/null true 2>/dev/null; then
    GNU_TIME=/usr/bin/time
fi

# Seconds in a duration as statelab reads it: 10s, 500ms, 1m, 2h.
seconds_of() {
    awk -v d="$1" 'BEGIN {
        if (match(d, /^[0-9.]+/) == 0) exit 1
        n = substr(d, 1, RLENGTH); u = substr(d, RLENGTH + 1)
        if (u == "ms") s = n / 1000; else if (u == "s" || u == "") s = n
        else if (u == "m") s = n * 60; else if (u == "h") s = n * 3600; else exit 1
        printf "%d\n", (s == int(s)) ? s : int(s) + 1
    }'
}
for d in $DURATIONS; do seconds_of "$d" >/dev/null || die "not a duration: $d (write 10s, 1m, 500ms)"; done

# LOAD_PID: the process we start for a run (GNU time, or statelab load itself).
bench_make_workdir statelab-memory-bench  # bench_cleanup runs on any exit

cd "$ROOT"
bench_build_statelab "build it (swift build -c release) or set BIN"
mkdir -p "$RESULTS"

# MARK: Server

if [[ "$TARGET" == url ]]; then
    bench_start_server "$WORKERS" 60
    say "   port $PORT, supervisor $SERVER_PID, workers $WORKER_PIDS"
fi

# MARK: Runs

STAMP=$(date -u '+%Y%m%d-%H%M%S')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then COMMIT="$COMMIT+dirty"; fi
THREAD_FLAGS=()
[[ -z "$LOAD_THREADS" ]] || THREAD_FLAGS=(--load-threads "$LOAD_THREADS")

# The first child of a pid (from /proc/*/stat: field 4 is the parent, after
# the command name in parentheses, which may hold spaces).
child_of() {
    local parent=$1 stat line fields
    for stat in /proc/[0-9]*/stat; do
        { read -r line <"$stat"; } 2>/dev/null || continue
        read -r -a fields <<<"${line##*) }"   # state ppid ...
        if [[ "${fields[1]}" == "$parent" ]]; then
            stat=${stat#/proc/}
            echo "${stat%/stat}"
            return 0
        fi
    done
    return 0
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

ROWS=()
PEAKS=()
FAILED_RUNS=0
for d in $DURATIONS; do
    seconds=$(seconds_of "$d")
    limit=$((seconds + 180))
    curve="$RESULTS/memory-$STAMP-$d.rss"
    echo "# elapsed_s vmrss_kb vmhwm_kb  ($TARGET, --duration $d --concurrency $CONCURRENCY, commit $COMMIT)" >"$curve"
    if [[ "$TARGET" == url ]]; then
        cmd=("$BIN" load --url "http://127.0.0.1:$PORT" --duration "$d" --concurrency "$CONCURRENCY"
             "${THREAD_FLAGS[@]}" --format json --quiet)
    else
        cmd=("$BIN" load --strategy shm --mode atomic --workers "$WORKERS" --duration "$d"
             --concurrency "$CONCURRENCY" "${THREAD_FLAGS[@]}" --format json --quiet)
    fi
    say "== ${cmd[*]#"$ROOT/"}"
    if [[ -n "$GNU_TIME" ]]; then
        TMPDIR="$WORK" timeout -k 10 "$limit" "$GNU_TIME" -f '%M %e %U %S' -o "$WORK/time.out" \
            "${cmd[@]}" >"$WORK/load.json" 2>"$WORK/load.err" &
    else
        TMPDIR="$WORK" timeout -k 10 "$limit" "${cmd[@]}" >"$WORK/load.json" 2>"$WORK/load.err" &
    fi
    LOAD_PID=$!
    # The statelab process: a child of timeout (or of GNU time under it).
    pid=""
    for _ in $(seq 1 100); do  # 10 s
        candidate=$LOAD_PID
        for _ in 1 2 3; do
            [[ "$(cat /proc/"$candidate"/comm 2>/dev/null)" == statelab ]] && { pid=$candidate; break; }
            candidate=$(child_of "$candidate")
            [[ -n "$candidate" ]] || break
        done
        [[ -n "$pid" ]] && break
        kill -0 "$LOAD_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$pid" ]] || { cat "$WORK/load.err" >&2; die "could not find the statelab load process"; }
    # Polled with bash builtins only (no process per poll), so the polling
    # takes next to nothing from the load.
    start=${EPOCHREALTIME/./}
    hwm=0
    next=0
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        h=""; r=""
        while read -r key value _; do
            case $key in VmHWM:) h=$value ;; VmRSS:) r=$value ;; esac
        done 2>/dev/null </proc/"$pid"/status || true
        if [[ -n "$h" ]]; then
            (( h > hwm )) && hwm=$h
            now=${EPOCHREALTIME/./}
            if (( now - start >= next * 1000000 )); then
                printf '%d.%d %s %s\n' $(( (now - start) / 1000000 )) $(( (now - start) / 100000 % 10 )) "$r" "$h" >>"$curve"
                next=$((next + 1))
            fi
        fi
        sleep 0.1
    done
    status=0
    wait "$LOAD_PID" || status=$?
    LOAD_PID=""
    # 1 is a verdict other than ok, reported below; above 1 the run failed.
    if [[ $status -gt 1 ]] || ! jq -e .verdict "$WORK/load.json" >/dev/null 2>&1; then
        cat "$WORK/load.err" >&2
        say "   statelab load --duration $d exited with $status"
        FAILED_RUNS=$((FAILED_RUNS + 1))
        ROWS+=("| $d | - | $(mb "$hwm") | - | - | failed (exit $status) |")
        continue
    fi
    if [[ -n "$GNU_TIME" ]]; then
        peak=$(awk '{ print $1; exit }' "$WORK/time.out")
        source="GNU time"
    else
        peak=$hwm
        source="polled VmHWM"
    fi
    PEAKS+=("$peak")
    read -r acknowledged failed indeterminate rps verdict lost unexpected < <(jq -r \
        '[.acknowledged, .failed, .indeterminate, .throughput_rps, .verdict, .lost, .unexpected] | @tsv' "$WORK/load.json")
    rps=$(printf '%.0f' "$rps")
    say "   peak RSS $(mb "$peak") MB ($source), VmHWM polled $(mb "$hwm") MB; $acknowledged acknowledged, $failed failed, $indeterminate indeterminate, $rps req/s, verdict $verdict (exit $status)"
    ROWS+=("| $d | $(mb "$peak") | $(mb "$hwm") | $acknowledged | $rps | $verdict |")
    [[ -s "$RESULTS/memory.tsv" ]] || printf '%s\n' "date_utc	commit	nproc	loadavg_1_5_15	target	duration	concurrency	peak_rss_kb	peak_source	vmhwm_polled_kb	acknowledged	failed	indeterminate	throughput_rps	verdict	lost	unexpected	exit" >"$RESULTS/memory.tsv"
    printf '%s\t' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$COMMIT" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$TARGET" "$d" \
        "$CONCURRENCY" "$peak" "$source" "$hwm" "$acknowledged" "$failed" "$indeterminate" "$rps" "$verdict" "$lost" "$unexpected" >>"$RESULTS/memory.tsv"
    printf '%s\n' "$status" >>"$RESULTS/memory.tsv"
done

# MARK: Report

low=$(printf '%s\n' "${PEAKS[@]}" | sort -n | head -1)
high=$(printf '%s\n' "${PEAKS[@]}" | sort -n | tail -1)
UNDER=$(awk -v h="${high:-0}" -v t="$TARGET_MB" 'BEGIN { print (h / 1024 < t) ? "yes" : "no" }')
FLAT=$(awk -v h="${high:-0}" -v l="${low:-1}" -v g="$GROWTH" 'BEGIN { print (h <= l * g) ? "yes" : "no" }')
peak_label=$([[ -n "$GNU_TIME" ]] && echo "peak RSS MB (GNU time)" || echo "peak RSS MB (polled VmHWM)")
echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`Benchmarks/memory.sh\`: commit $COMMIT, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "$TARGET" == url ]]; then
    echo "(load: statelab load --url ... --concurrency $CONCURRENCY${LOAD_THREADS:+ --load-threads $LOAD_THREADS}; server: statelab serve --strategy shm --mode atomic --workers $WORKERS, one for all runs)"
else
    echo "(load: statelab load --strategy shm --mode atomic --workers $WORKERS --concurrency $CONCURRENCY${LOAD_THREADS:+ --load-threads $LOAD_THREADS}, the built-in app)"
fi
echo
echo "| duration | $peak_label | VmHWM polled MB | acknowledged | req/s | verdict |"
echo "|---|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Highest peak $(mb "${high:-0}") MB, lowest $(mb "${low:-0}") MB: under $TARGET_MB MB: $UNDER; flat (highest <= ${GROWTH}x lowest): $FLAT."
say "   figures appended to ${RESULTS#"$ROOT/"}/memory.tsv; RSS curves in ${RESULTS#"$ROOT/"}/memory-$STAMP-*.rss"
[[ $FAILED_RUNS -eq 0 ]] || exit 2
[[ "$UNDER" == yes && "$FLAT" == yes ]] || exit 1

#!/usr/bin/env bash
# Benchmarks/history-rss.sh: what --history and --html cost a long load in
# memory, and in req/s.
#
# --history streams every operation to a JSON-lines file as it happens (one
# buffered block of 256 KB at a time); --html keeps bounded evidence (bins of
# 100 ms that coarsen, a ring of recent operations, a few races). Neither
# should grow with the run. This starts one server (`statelab serve
# --strategy shm --mode atomic --workers 4 --port 0 --json`, release build)
# and runs, alternating, for ROUNDS rounds:
#   plain    statelab load --url URL --duration D --concurrency 32 --pid-from answer --format json --quiet
#   history  the same with --history WORK/h.jsonl
#   html     the same with --html WORK/r.html
# measuring the load process only (the server is a separate process): peak
# RSS is ru_maxrss from GNU time (%M), req/s is the report's throughput_rps,
# and for history the file's size and lines.
# Prints every round, then the medians and the ratios to plain on stdout.
#
# Settings (environment): ROUNDS=1 DURATION=60 CONCURRENCY=32 WORKERS=4
# SKIP_BUILD=0 (1 reuses .build/release/statelab), BIN (a statelab binary).
# Needs: swift, jq, timeout, awk, GNU time (apt-get install time).
# Every wait is bounded (each load: its duration + 120 s); on any exit the
# load and the server are stopped by their pids and the temp dir removed.

set -euo pipefail

ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-60}
CONCURRENCY=${CONCURRENCY:-32}
WORKERS=${WORKERS:-4}
SKIP_BUILD=${SKIP_BUILD:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-"$ROOT/.build/release/statelab"}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init history-rss.sh 2
bench_require_tools jq timeout awk
[[ -x /usr/bin/time ]] || die "GNU time is missing (apt-get install time)"
bench_make_workdir statelab-history-rss
cd "$ROOT"
bench_build_statelab "run without SKIP_BUILD=1"

LIMIT=$((DURATION + 120))
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Prints "peak-KiB req/s" for one load; $1 names the variant, the rest are extra flags.
run_load() {
    local variant=$1 out status=0 rps peak
    shift
    rm -f "$WORK/h.jsonl" "$WORK/r.html"
    out=$(timeout "$LIMIT" /usr/bin/time -f '%M' -o "$WORK/time.$variant" "$BIN" load --url "$URL" \
        --duration "${DURATION}s" --concurrency "$CONCURRENCY" --pid-from answer --format json --quiet "$@" \
        2>"$WORK/load.err") || status=$?
    [[ $status -le 1 ]] || { cat "$WORK/load.err" >&2; die "statelab load ($variant) exited with $status"; }
    rps=$(jq -r .throughput_rps <<<"$out")
    peak=$(tail -n 1 "$WORK/time.$variant")
    echo "$peak $rps"
}

bench_start_server "$WORKERS" 30
plain_peaks=() plain_rps=() history_peaks=() history_rps=() html_peaks=() html_rps=()
for round in $(seq 1 "$ROUNDS"); do
    read -r peak rps < <(run_load plain)
    plain_peaks+=("$peak"); plain_rps+=("$rps")
    say "round $round  plain    peak ${peak} KiB  ${rps} req/s"
    read -r peak rps < <(run_load history --history "$WORK/h.jsonl")
    history_peaks+=("$peak"); history_rps+=("$rps")
    size=$(stat -c %s "$WORK/h.jsonl")
    lines=$(wc -l <"$WORK/h.jsonl")
    say "round $round  history  peak ${peak} KiB  ${rps} req/s  ($((size / 1048576)) MiB, $lines lines)"
    read -r peak rps < <(run_load html --html "$WORK/r.html")
    html_peaks+=("$peak"); html_rps+=("$rps")
    say "round $round  html     peak ${peak} KiB  ${rps} req/s  (report $(stat -c %s "$WORK/r.html") bytes)"
done
mp=$(printf '%s\n' "${plain_peaks[@]}" | median); mr=$(printf '%s\n' "${plain_rps[@]}" | median)
hp=$(printf '%s\n' "${history_peaks[@]}" | median); hr=$(printf '%s\n' "${history_rps[@]}" | median)
tp=$(printf '%s\n' "${html_peaks[@]}" | median); tr_=$(printf '%s\n' "${html_rps[@]}" | median)
echo "| load (${DURATION} s, $CONCURRENCY connections, medians of $ROUNDS) | peak RSS | req/s | RSS / plain | req/s / plain |"
echo "|---|---:|---:|---:|---:|"
echo "| plain | $((mp / 1024)) MiB | $mr | 1.00 | 1.00 |"
awk -v p="$hp" -v r="$hr" -v mp="$mp" -v mr="$mr" 'BEGIN { printf "| --history | %d MiB | %s | %.2f | %.2f |\n", p / 1024, r, p / mp, r / mr }'
awk -v p="$tp" -v r="$tr_" -v mp="$mp" -v mr="$mr" 'BEGIN { printf "| --html | %d MiB | %s | %.2f | %.2f |\n", p / 1024, r, p / mp, r / mr }'

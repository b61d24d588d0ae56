#!/usr/bin/env bash
# Benchmarks/stores.sh: per store, statelab's app against the FastAPI example
# app of the same store and against nginx, in one run (`Benchmarks/run.sh
# stores` runs this).
#
# Every measurement is the same wrk command against a different server:
#   wrk -tTHREADS -cCONNECTIONS -dDURATIONs --latency -s post.lua URL
# (POST /increment with Content-Length: 0), after a WARMUP-second wrk run
# whose numbers are dropped. Recorded: req/s, p50 and p99 (wrk --latency,
# in ms), non-2xx answers and socket errors. The servers, in this order:
#   nginx     `return 200;` with 2 worker processes (a private nginx.conf in
#             the temp dir), at the start and again at the end
#   per store, back to back:
#     statelab  `statelab serve --strategy S --mode M --workers WORKERS
#               --port 0 --json` for each mode (global: naive, its only
#               mode; shm, manager, sqlite, redis, postgres: atomic, locked)
#     FastAPI   the store's example app from examples/python under
#               `gunicorn -k uvicorn.workers.UvicornWorker -w WORKERS`:
#               global_app, shm_dict, manager_locked, sqlite_atomic,
#               redis_atomic (with a private redis-server); postgres has none
# then prints a Markdown table (every ratio, and the targets of issue 11,
# each met or not) on stdout, progress on stderr.
#
# Settings (environment): DURATION=5 WARMUP=1 CONNECTIONS=32 THREADS=1
# WORKERS=4 SKIP_BUILD=0 BIN (default .build/release/statelab)
# ONLY (a space-separated subset: nginx, STORE for all of a store, STORE:MODE,
#   STORE:fastapi; e.g. ONLY="shm:atomic shm:fastapi nginx")
# WRITE_README=1 (replace the table between the stores results markers in
#   Benchmarks/README.md) JSON_OUT=FILE (every measurement as JSON)
# BENCH_VENV (the venv for gunicorn and the apps; default Benchmarks/.venv,
#   made on first use from examples/python/requirements.txt plus gunicorn).
# Needs: wrk, jq, curl, timeout, awk, nginx, python3 with venv, redis-server
# (for redis), PostgreSQL (for postgres; skipped when not installed and not
# asked for in ONLY).
#
# Every wait is bounded; every process is stopped by its pid, and after each
# server the script checks that nothing it started is left (its processes,
# statelab's run directory, the apps' private directories): otherwise it
# stops with status 1. On any exit everything still running is stopped and
# the temp dir removed.

set -euo pipefail

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-4}
SKIP_BUILD=${SKIP_BUILD:-0}
ONLY=${ONLY:-}
WRITE_README=${WRITE_README:-0}
JSON_OUT=${JSON_OUT:-}
GUNICORN_PIN=gunicorn==27.0.1
NGINX_WORKERS=2

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
README="$ROOT/Benchmarks/README.md"
BIN=${BIN:-"$ROOT/.build/release/statelab"}
BENCH_VENV=${BENCH_VENV:-"$ROOT/Benchmarks/.venv"}
EXAMPLES="$ROOT/examples/python"
NGINX=${NGINX:-/usr/sbin/nginx}

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init stores.sh 1
(($# == 0)) || die "takes no arguments (got: $*); settings are environment variables: see the top of Benchmarks/stores.sh"

for setting in DURATION CONNECTIONS THREADS WORKERS; do
    [[ ${!setting} =~ ^[1-9][0-9]*$ ]] || die "$setting must be a whole number >= 1, not '${!setting}'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds >= 0, not '$WARMUP'"
if [[ -n "$JSON_OUT" ]]; then
    [[ "$JSON_OUT" == /* ]] || JSON_OUT="$PWD/$JSON_OUT"
    [[ -d "$(dirname "$JSON_OUT")" ]] || die "JSON_OUT: the folder $(dirname "$JSON_OUT") does not exist"
fi

# MARK: What to run

# Every item, in the order they run (nginx runs first and last).
STORES="global shm manager sqlite redis postgres"
declare -A MODES=([global]="naive" [shm]="atomic locked" [manager]="atomic locked"
    [sqlite]="atomic locked" [redis]="atomic locked" [postgres]="atomic locked")
# The FastAPI example of each store: the variant that loses no update.
declare -A FASTAPI_APP=([global]=global_app [shm]=shm_dict [manager]=manager_locked
    [sqlite]=sqlite_atomic [redis]=redis_atomic)
ALL_ITEMS="nginx"
for store in $STORES; do
    for mode in ${MODES[$store]}; do ALL_ITEMS+=" $store:$mode"; done
    [[ -z "${FASTAPI_APP[$store]:-}" ]] || ALL_ITEMS+=" $store:fastapi"
done

postgres_installed() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; }

declare -A SELECTED=()
NOTES=()
if [[ -z "$ONLY" ]]; then
    for item in $ALL_ITEMS; do SELECTED[$item]=1; done
    if ! postgres_installed; then
        unset 'SELECTED[postgres:atomic]' 'SELECTED[postgres:locked]'
        NOTES+=("postgres skipped: PostgreSQL is not installed (apt-get install postgresql)")
    fi
else
    for token in $ONLY; do
        found=0
        for item in $ALL_ITEMS; do
            if [[ "$item" == "$token" || "${item%%:*}" == "$token" ]]; then SELECTED[$item]=1; found=1; fi
        done
        [[ $found == 1 ]] || die "ONLY: no item '$token'; use nginx, a store ($STORES), STORE:MODE or STORE:fastapi, e.g. ONLY=\"shm:atomic shm:fastapi nginx\""
    done
    if [[ -n "${SELECTED[postgres:atomic]:-}${SELECTED[postgres:locked]:-}" ]] && ! postgres_installed; then
        die "postgres: PostgreSQL is not installed (apt-get install postgresql)"
    fi
fi
selected() { [[ -n "${SELECTED[$1]:-}" ]]; }
any_selected() {  # any_selected PATTERN: some selected item matches the glob
    local item
    for item in "${!SELECTED[@]}"; do
        # shellcheck disable=SC2053  # $1 is a glob on purpose
        [[ "$item" == $1 ]] && return 0
    done
    return 1
}

bench_require_tools --hint wrk jq curl
bench_require_tools timeout awk sed ps
if selected nginx; then [[ -x "$NGINX" ]] || die "$NGINX is missing (apt-get install nginx)"; fi
if selected redis:fastapi; then bench_require_tools --hint redis-server redis-cli; fi
if any_selected '*:fastapi'; then bench_require_tools python3; fi

# MARK: Processes

# bench_make_workdir installs bench_cleanup on EXIT; ours runs first and stops
# what lib.sh does not know about (gunicorn, redis-server, nginx).
bench_make_workdir statelab-stores
# As root, PostgreSQL runs as the postgres user, which must pass through the
# server's run directory in WORK (statelab opens the run directory itself).
chmod 711 "$WORK"
APP_PID=""      # gunicorn's arbiter
REDIS_PID=""    # the private redis-server of the FastAPI redis app
NGINX_PID=""    # nginx's master process

stores_cleanup() {
    local status=$?
    set +e  # a failure here must not skip bench_cleanup
    [[ -z "$APP_PID" ]] || stop_tree "$APP_PID" gunicorn 0 || status=$BENCH_FAILURE_STATUS
    [[ -z "$REDIS_PID" ]] || stop_tree "$REDIS_PID" redis-server 0 || status=$BENCH_FAILURE_STATUS
    [[ -z "$NGINX_PID" ]] || stop_tree "$NGINX_PID" nginx 0 || status=$BENCH_FAILURE_STATUS
    set_status "$status"
    bench_cleanup
}
set_status() { return "$1"; }
trap stores_cleanup EXIT

# Every process below PID (children first found by their parent pid).
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

# True when PID is gone or a zombie (an orphan waiting for init to reap it).
gone() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
    [[ "$state" == Z* ]]
}

# stop_tree PID WHAT [DIE]: stops PID with bench_stop_pid, then waits up to
# 10 s for every process that was below it to be gone too. Kills any that is
# not and then dies (DIE=1, the default) or returns 1.
stop_tree() {
    local pid=$1 what=$2 die_on_left=${3:-1} below child left=""
    below=$(descendants "$pid" | tr '\n' ' ')
    bench_stop_pid "$pid" "$what"
    for child in $below; do
        for _ in $(seq 1 100); do gone "$child" && break; sleep 0.1; done
        if ! gone "$child"; then
            left+="$child "
            kill -KILL "$child" 2>/dev/null || true
        fi
    done
    [[ -z "$left" ]] && return 0
    [[ $die_on_left == 1 ]] && die "$what $pid left processes behind 10 s after it stopped (killed them): $left"
    say "$BENCH_NAME: $what $pid left processes behind 10 s after it stopped (killed them): $left"
    return 1
}

# A free loopback port (the kernel's pick; taken by whoever binds it first,
# so every start below retries with a new port if it loses that race).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# MARK: Measuring

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/increment"
wrk.headers["Content-Length"] = "0"
LUA
WRK_COMMAND="wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency -s post.lua URL"

# wrk --latency prints "50% 1.23ms"; in milliseconds.
millis() {
    awk -v q="$1" '$1 == q {
        v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000
        printf "%.3f", v; exit }' "$2"
}

: >"$WORK/measurements.jsonl"
declare -A RPS=() P50=() P99=() FLAW=()
SEQ=0

# Answers that were 2xx in a wrk output.
answered_2xx() {
    awk '/requests in/ { n = $1 } /Non-2xx or 3xx responses:/ { bad = $NF } END { print n - bad }' "$1"
}

# measure KEY LABEL URL KIND STORE MODE APP COMMAND: the warm-up, then the
# measured wrk run; keeps req/s, p50 and p99 under KEY and a JSON line.
measure() {
    local key=$1 label=$2 url=$3 kind=$4 store=$5 mode=$6 app=$7 command=$8 out started
    SEQ=$((SEQ + 1))
    out="$WORK/wrk-$SEQ.out"
    ANSWERED=0  # 2xx answers, warm-up included, for check_shared
    if ((WARMUP > 0)); then
        timeout $((WARMUP + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s "$WORK/post.lua" "$url" >"$out" \
            || die "wrk (warm-up of $label) failed or timed out"
        ANSWERED=$(answered_2xx "$out")
    fi
    started=$(date -u '+%Y-%m-%dT%H:%M:%SZ')
    timeout $((DURATION + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$url" >"$out" \
        || die "wrk ($label) failed or timed out"
    local rps p50 p99 requests non2xx connect rd wr timeouts
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    [[ -n "$rps" ]] || { cat "$out" >&2; die "wrk ($label) printed no Requests/sec"; }
    p50=$(millis 50% "$out")
    p99=$(millis 99% "$out")
    requests=$(awk '/requests in/ { print $1 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    read -r connect rd wr timeouts < <(awk '/Socket errors:/ {
        gsub(",", ""); print $4, $6, $8, $10; found = 1 } END { if (!found) print 0, 0, 0, 0 }' "$out")
    non2xx=${non2xx:-0}
    ANSWERED=$((ANSWERED + $(answered_2xx "$out")))
    RPS[$key]=$rps P50[$key]=$p50 P99[$key]=$p99
    local flaws=""
    [[ $non2xx == 0 ]] || flaws+="$non2xx non-2xx "
    [[ $((connect + rd + wr + timeouts)) == 0 ]] || flaws+="socket errors: connect $connect, read $rd, write $wr, timeout $timeouts"
    FLAW[$key]=$flaws
    say "   $label: $(printf '%.0f' "$rps") req/s, p50 $p50 ms, p99 $p99 ms${flaws:+ ($flaws)}"
    jq -nc --argjson order "$SEQ" --arg kind "$kind" --arg store "$store" --arg mode "$mode" --arg app "$app" \
        --arg command "$command" --arg url "$url" --arg started "$started" \
        --argjson rps "$rps" --argjson p50 "${p50:-null}" --argjson p99 "${p99:-null}" \
        --argjson requests "${requests:-null}" --argjson non2xx "$non2xx" \
        --argjson connect "$connect" --argjson read "$rd" --argjson write "$wr" --argjson timeouts "$timeouts" \
        '{order: $order, kind: $kind, store: (if $store == "" then null else $store end),
          mode: (if $mode == "" then null else $mode end), app: (if $app == "" then null else $app end),
          command: $command, url: $url, started_at: $started, rps: $rps, p50_ms: $p50, p99_ms: $p99,
          requests: $requests, non_2xx: $non2xx,
          socket_errors: {connect: $connect, read: $read, write: $write, timeout: $timeouts}}' \
        >>"$WORK/measurements.jsonl"
}

# MARK: statelab

run_statelab() {
    local store=$1 mode=$2
    bench_start_server "$WORKERS" 120 "$store" "$mode"
    measure "statelab:$store:$mode" "statelab $store $mode" "$URL" statelab "$store" "$mode" "" \
        "statelab serve --strategy $store --mode $mode --workers $WORKERS --port 0 --json"
    stop_tree "$SERVER_PID" "statelab serve"
    for pid in $WORKER_PIDS; do gone "$pid" || die "worker $pid outlived its supervisor"; done
    [[ ! -e "$RUN_DIR" ]] || die "the server left its run directory $RUN_DIR behind"
    SERVER_PID="" WORKER_PIDS="" RUN_DIR=""
}

# MARK: FastAPI

# A venv with the examples' pinned requirements and gunicorn, made once and
# reused (setup-venv.sh is idempotent; pip only checks what is there).
prepare_venv() {
    say "== venv for the FastAPI apps: $BENCH_VENV"
    timeout 900 sh "$EXAMPLES/setup-venv.sh" "$BENCH_VENV" >&2 || die "making the venv $BENCH_VENV failed (see above)"
    timeout 600 "$BENCH_VENV/bin/python" -m pip install --disable-pip-version-check --quiet "$GUNICORN_PIN" >&2 \
        || die "pip install $GUNICORN_PIN into $BENCH_VENV failed (see above)"
    GUNICORN_VERSION=$("$BENCH_VENV/bin/gunicorn" --version 2>&1 | grep -o '[0-9][0-9.]*' | head -1)
}

# The examples name one run of the app after multiprocessing.parent_process(),
# which is uvicorn --workers' master process; gunicorn forks its workers
# itself, so there each worker would name its own run, and shm_dict and
# manager_locked would keep one counter per worker. This hook, for the
# benchmark only, names the run after gunicorn's arbiter instead, so the
# workers share one segment / one manager as under uvicorn --workers.
cat >"$WORK/gunicorn.conf.py" <<'PY'
import os
import sys


def post_fork(server, worker):
    sys.path.insert(0, os.getcwd())
    import app_instance

    arbiter = server.pid
    app_instance.app_root_pid = lambda: arbiter
PY

# Starts a private redis-server on a free loopback port (no persistence);
# sets REDIS_PID and REDIS_PORT.
start_redis() {
    local attempt
    for attempt in 1 2 3; do
        REDIS_PORT=$(free_port)
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
            >"$WORK/redis.log" 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 1 100); do  # every 0.1 s, 10 s
            [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && return 0
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        stop_tree "$REDIS_PID" redis-server
        REDIS_PID=""
        grep -q 'Address already in use' "$WORK/redis.log" || break
        say "   port $REDIS_PORT was taken; trying another (attempt $attempt)"
    done
    tail -5 "$WORK/redis.log" >&2
    die "redis-server did not answer PING within 10 s"
}

# After the load, a check that the app's workers share its store: GET
# /report (8 new connections) must give one count, and that count must hold
# every increment that wrk saw answered 2xx (warm-up, measured run, and the
# one POST before them). A store kept per worker (as shm_dict and
# manager_locked would be under gunicorn without the hook above) holds about
# 1/WORKERS of them. Requests queued in the workers still finish after wrk
# stops, so this reads again every 0.5 s (at most 15 s) until the count
# holds still.
check_shared() {
    local app=$1 url=$2 answered=$3 reports counts="" previous=""
    for _ in $(seq 1 30); do
        reports=$(for _ in $(seq 1 8); do curl -s -m 10 "$url/report" || true; echo; done)
        counts=$(jq -r '.count' <<<"$reports" 2>/dev/null | sort -u) || counts=""
        [[ -n "$counts" && $(wc -l <<<"$counts") == 1 && "$counts" == "$previous" ]] && break
        previous=$counts
        sleep 0.5
    done
    [[ -n "$counts" ]] || die "$app: GET /report after the load gave no count"
    [[ $(wc -l <<<"$counts") == 1 ]] \
        || die "$app: its workers still report different counts 15 s after the load ($(tr '\n' ' ' <<<"$counts" | sed 's/ $//')): they do not share the store"
    ((counts >= answered)) \
        || die "$app: the count is $counts after $answered increments answered 2xx: its workers do not share the store"
}

run_fastapi() {
    local store=$1 app=${FASTAPI_APP[$1]} env=() attempt port started=0
    case $store in
        sqlite) env+=("COUNTER_SQLITE_PATH=$WORK/fastapi-counter.sqlite3") ;;
        redis)
            start_redis
            env+=("REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0")
            ;;
    esac
    say "== starting gunicorn -k uvicorn.workers.UvicornWorker -w $WORKERS $app:app"
    for attempt in 1 2 3; do
        port=$(free_port)
        # TMPDIR keeps the apps' private directories (and sockets) inside WORK.
        (cd "$EXAMPLES" && exec env TMPDIR="$WORK" "${env[@]}" "$BENCH_VENV/bin/gunicorn" \
            -c "$WORK/gunicorn.conf.py" -k uvicorn.workers.UvicornWorker -w "$WORKERS" \
            -b "127.0.0.1:$port" --graceful-timeout 5 --no-control-socket "$app:app") \
            >"$WORK/gunicorn.log" 2>&1 &
        APP_PID=$!
        # Ready once every worker has run the app's startup (the manager app
        # starts its manager there), at most 60 s.
        for _ in $(seq 1 600); do
            local ready_workers
            ready_workers=$(grep -c 'Application startup complete' "$WORK/gunicorn.log" 2>/dev/null || true)
            if ((${ready_workers:-0} >= WORKERS)); then started=1; break; fi
            kill -0 "$APP_PID" 2>/dev/null || break
            sleep 0.1
        done
        [[ $started == 1 ]] && break
        stop_tree "$APP_PID" gunicorn
        APP_PID=""
        grep -q 'Address already in use' "$WORK/gunicorn.log" || break
        say "   port $port was taken; trying another (attempt $attempt)"
    done
    if [[ $started != 1 ]]; then
        tail -20 "$WORK/gunicorn.log" >&2
        die "gunicorn $app:app: not all $WORKERS workers started within 60 s"
    fi
    [[ "$(curl -s -m 10 -X POST "http://127.0.0.1:$port/increment" | jq -r '.count | type' 2>/dev/null)" == number ]] \
        || die "gunicorn $app:app does not answer POST /increment with a count"
    measure "fastapi:$store" "FastAPI $app" "http://127.0.0.1:$port" fastapi "$store" "" "$app" \
        "gunicorn -k uvicorn.workers.UvicornWorker -w $WORKERS -b 127.0.0.1:PORT $app:app"
    [[ "$store" == global ]] || check_shared "$app" "http://127.0.0.1:$port" $((ANSWERED + 1))
    stop_tree "$APP_PID" gunicorn
    APP_PID=""
    if grep -q -e Traceback -e '\[ERROR\]' "$WORK/gunicorn.log"; then
        grep -m5 -e Traceback -e '\[ERROR\]' "$WORK/gunicorn.log" >&2
        say "   warning: gunicorn $app:app logged errors (above)"
    fi
    if [[ -n "$REDIS_PID" ]]; then stop_tree "$REDIS_PID" redis-server; REDIS_PID=""; fi
    local left
    left=$(find "$WORK" -mindepth 1 -maxdepth 1 -name 'statelab-*' -print)
    [[ -z "$left" ]] || die "$app left its private directory behind: $left"
    left=$(find /dev/shm -maxdepth 1 -name "statelab-shm-$(id -u)-*" -print 2>/dev/null)
    # shm_dict removes its segment when its last worker stops.
    [[ "$store" != shm || -z "$left" ]] || die "$app left its shared memory segment behind: $left"
    rm -f "$WORK"/fastapi-counter.sqlite3*
}

# MARK: nginx

NGINX_RUN=0
run_nginx() {
    local attempt port started=0
    NGINX_RUN=$((NGINX_RUN + 1))
    say "== starting nginx (return 200, $NGINX_WORKERS worker processes), run $NGINX_RUN"
    mkdir -p "$WORK/nginx"
    for attempt in 1 2 3; do
        port=$(free_port)
        bench_nginx_conf "$WORK/nginx/nginx.conf" "$WORK/nginx" "$port" on "$NGINX_WORKERS" "return 200;"
        : >"$WORK/nginx/error.log"
        "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/out.log" 2>&1 &
        NGINX_PID=$!
        for _ in $(seq 1 100); do  # every 0.1 s, 10 s
            if [[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/increment")" == 200 ]]; then
                started=1
                break
            fi
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.1
        done
        [[ $started == 1 ]] && break
        stop_tree "$NGINX_PID" nginx
        NGINX_PID=""
        grep -q 'Address already in use' "$WORK/nginx/error.log" "$WORK/nginx/out.log" || break
        say "   port $port was taken; trying another (attempt $attempt)"
    done
    if [[ $started != 1 ]]; then
        cat "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2
        die "nginx did not answer 200 within 10 s"
    fi
    measure "nginx:$NGINX_RUN" "nginx (run $NGINX_RUN)" "http://127.0.0.1:$port" nginx "" "" nginx \
        "nginx, worker_processes $NGINX_WORKERS, location / { return 200; }"
    stop_tree "$NGINX_PID" nginx
    NGINX_PID=""
}

# MARK: Run

cd "$ROOT"
bench_build_statelab "run without SKIP_BUILD=1, or set BIN"
GUNICORN_VERSION=""
if any_selected '*:fastapi'; then prepare_venv; fi

ITEMS_RUN=""
for item in $ALL_ITEMS; do selected "$item" && ITEMS_RUN+=" $item"; done
say "== running:$ITEMS_RUN (${DURATION}s each after a ${WARMUP}s warm-up)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
T0=$SECONDS

if selected nginx; then run_nginx; fi
for store in $STORES; do
    for mode in ${MODES[$store]}; do
        if selected "$store:$mode"; then run_statelab "$store" "$mode"; fi
    done
    if selected "$store:fastapi"; then run_fastapi "$store"; fi
done
if selected nginx; then run_nginx; fi

ELAPSED=$((SECONDS - T0))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
say "== measured in ${ELAPSED}s"

# MARK: Report

have() { [[ -n "${RPS[$1]:-}" ]]; }
NGINX_RPS=""
if have nginx:1 && have nginx:2; then
    NGINX_RPS=$(awk -v a="${RPS[nginx:1]}" -v b="${RPS[nginx:2]}" 'BEGIN { print (a + b) / 2 }')
elif have nginx:1; then
    NGINX_RPS=${RPS[nginx:1]}
fi

# A rate rounded and grouped by thousands: 28498.9 -> 28,499.
rps() { printf '%.0f' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
ms() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else if (v < 10) printf "%.2f", v; else printf "%.1f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
cell_rps() { local key=$1; if have "$key"; then echo "$(rps "${RPS[$key]}")${FLAW[$key]:+ (${FLAW[$key]% })}"; else echo -; fi; }

ROWS=()
for store in $STORES; do
    for mode in ${MODES[$store]}; do
        key="statelab:$store:$mode"
        have "$key" || continue
        app=${FASTAPI_APP[$store]:-}
        fastapi=""
        if [[ -n "$app" ]] && have "fastapi:$store"; then fastapi=${RPS[fastapi:$store]}; fi
        ROWS+=("| $store $mode | $(cell_rps "$key") | $(ms "${P50[$key]}") | $(ms "${P99[$key]}") | $(if [[ -n "$app" ]]; then cell_rps "fastapi:$store"; else echo "- (no example app)"; fi) | $(ratio "${RPS[$key]}" "$fastapi") | $(ratio "${RPS[$key]}" "$NGINX_RPS") |")
    done
done

FASTAPI_ROWS=()
for store in $STORES; do
    app=${FASTAPI_APP[$store]:-}
    if [[ -z "$app" ]] || ! have "fastapi:$store"; then continue; fi
    FASTAPI_ROWS+=("| FastAPI $store (\`$app.py\`) | $(cell_rps "fastapi:$store") | $(ms "${P50[fastapi:$store]}") | $(ms "${P99[fastapi:$store]}") |")
done

NGINX_ROWS=()
for run in 1 2; do
    have "nginx:$run" || continue
    NGINX_ROWS+=("| nginx $(if [[ $run == 1 ]]; then echo first; else echo last; fi) | $(cell_rps "nginx:$run") | $(ms "${P50[nginx:$run]}") | $(ms "${P99[nginx:$run]}") |")
done

# check NAME VALUE OP TARGET SHOWN: one target of issue 11 (VALUE OP TARGET,
# OP one of >= and <=); SHOWN is how the value reads. A JSON line too.
: >"$WORK/checks.jsonl"
CHECKS=()
check() {
    local name=$1 value=$2 op=$3 target=$4 shown=$5 status
    if [[ -z "$value" || -z "$target" ]]; then
        status="not measured"
        shown="-"
    else
        status=$(awk -v v="$value" -v t="$target" -v op="$op" 'BEGIN {
            ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "NOT met" }')
    fi
    CHECKS+=("| $name | $shown | $(if [[ $status == met ]]; then echo "**met**"; elif [[ $status == "NOT met" ]]; then echo "**NOT met**"; else echo "$status"; fi) |")
    jq -nc --arg name "$name" --arg status "$status" --arg shown "$shown" --arg value "$value" --arg op "$op" \
        --argjson target "$target" \
        '{check: $name, value: (if $value == "" then null else ($value | tonumber) end), op: $op, target: $target,
          shown: (if $shown == "-" then null else $shown end), status: $status}' >>"$WORK/checks.jsonl"
}
# quotient A B: A / B, or empty when either is missing.
quotient() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print ""; else print a / b }'; }
times() { [[ -z "$1" ]] || awk -v v="$1" 'BEGIN { printf "%.2fx", v }'; }

for key in global:naive shm:atomic; do
    r=$(quotient "${RPS[statelab:$key]:-}" "$NGINX_RPS")
    check "${key/:/ } >= 0.8x nginx" "$r" ">=" 0.8 "$(times "$r")"
done
for store in shm manager sqlite redis; do
    r=$(quotient "${RPS[statelab:$store:atomic]:-}" "${RPS[fastapi:$store]:-}")
    check "$store atomic >= 10x FastAPI (\`${FASTAPI_APP[$store]}.py\`)" "$r" ">=" 10 "$(times "$r")"
done
for store in shm manager sqlite redis; do
    r=$(quotient "${RPS[statelab:$store:locked]:-}" "${RPS[fastapi:$store]:-}")
    check "$store locked >= 3x FastAPI (\`${FASTAPI_APP[$store]}.py\`)" "$r" ">=" 3 "$(times "$r")"
done
r=$(quotient "${RPS[statelab:redis:locked]:-}" "${RPS[statelab:redis:atomic]:-}")
check "redis locked req/s >= 30% of redis atomic" "$r" ">=" 0.3 "$([[ -z "$r" ]] || awk -v v="$r" 'BEGIN { printf "%.0f%%", v * 100 }')"
r=$(quotient "${P99[statelab:redis:locked]:-}" "${P99[statelab:redis:atomic]:-}")
check "redis locked p99 <= 10x redis atomic p99" "$r" "<=" 10 "$(times "$r")"
for mode in atomic locked; do
    r=$(quotient "${P99[statelab:sqlite:$mode]:-}" "${P50[statelab:sqlite:$mode]:-}")
    check "sqlite $mode p99 <= 10x its p50" "$r" "<=" 10 "$(times "$r")"
done

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
    echo "Measured $STARTED_AT by \`Benchmarks/run.sh stores\` (commit $COMMIT, ${ELAPSED} s): $(nproc) CPUs (${CPU:-unknown CPU}), load average $LOAD_START at the start and $LOAD_END at the end. Every row is \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency\` POSTing /increment (Content-Length 0) after a ${WARMUP} s warm-up, against \`statelab serve --strategy S --mode M --workers $WORKERS\` (\`$BIN\`), $(if [[ -n "$GUNICORN_VERSION" ]]; then echo "the store's FastAPI example under gunicorn $GUNICORN_VERSION (\`-k uvicorn.workers.UvicornWorker -w $WORKERS\`)"; else echo "no FastAPI app (not in ONLY)"; fi), and nginx \`return 200\` with $NGINX_WORKERS workers (run first and last; \"nginx\" below is their mean). wrk, the server and its store share the machine's CPUs. Latencies in ms."
    echo
    echo "| strategy/mode | statelab req/s | p50 | p99 | FastAPI req/s | statelab / FastAPI | statelab / nginx |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    ((${#ROWS[@]} == 0)) || printf '%s\n' "${ROWS[@]}"
    if [[ -n "$NGINX_RPS" ]]; then
        echo "| nginx \`return 200\` | $(rps "$NGINX_RPS") | | | | | 1.00x |"
    fi
    if ((${#FASTAPI_ROWS[@]} + ${#NGINX_ROWS[@]} > 0)); then
        echo
        echo "| other server | req/s | p50 | p99 |"
        echo "|---|---:|---:|---:|"
        ((${#FASTAPI_ROWS[@]} == 0)) || printf '%s\n' "${FASTAPI_ROWS[@]}"
        ((${#NGINX_ROWS[@]} == 0)) || printf '%s\n' "${NGINX_ROWS[@]}"
    fi
    echo
    echo "| target (issue 11) | measured | |"
    echo "|---|---:|---|"
    printf '%s\n' "${CHECKS[@]}"
    for note in "${NOTES[@]}"; do echo; echo "$note"; done
} >"$WORK/results.md"

cat "$WORK/results.md"

if [[ -n "$JSON_OUT" ]]; then
    jq -n --slurpfile measurements "$WORK/measurements.jsonl" --slurpfile checks "$WORK/checks.jsonl" \
        --arg measured_at "$STARTED_AT" --arg commit "$COMMIT" --arg bin "$BIN" \
        --argjson cpus "$(nproc)" --arg cpu "${CPU:-}" --arg kernel "$(uname -r)" \
        --arg load_start "$LOAD_START" --arg load_end "$LOAD_END" --argjson seconds "$ELAPSED" \
        --argjson duration "$DURATION" --argjson warmup "$WARMUP" --argjson connections "$CONNECTIONS" \
        --argjson threads "$THREADS" --argjson workers "$WORKERS" --arg only "$ONLY" \
        --arg wrk "$WRK_COMMAND" --arg gunicorn "${GUNICORN_VERSION:-}" --arg nginx_rps "$NGINX_RPS" \
        '{schema: "statelab.bench-stores/1", measured_at: $measured_at, commit: $commit, bin: $bin,
          machine: {cpus: $cpus, cpu: $cpu, kernel: $kernel, load_average_start: $load_start, load_average_end: $load_end},
          settings: {duration_s: $duration, warmup_s: $warmup, connections: $connections, threads: $threads,
                     workers: $workers, only: (if $only == "" then null else $only end)},
          wrk_command: $wrk, gunicorn: (if $gunicorn == "" then null else $gunicorn end), seconds: $seconds,
          nginx_rps_mean: (if $nginx_rps == "" then null else ($nginx_rps | tonumber) end),
          measurements: $measurements, checks: $checks}' >"$JSON_OUT"
    say "== wrote every measurement to $JSON_OUT"
fi

if [[ "$WRITE_README" == 1 ]]; then
    { echo "<!-- stores results start -->"; cat "$WORK/results.md"; echo "<!-- stores results end -->"; } >"$WORK/block.md"
    bench_write_block "$README" '<!-- stores results start -->' '<!-- stores results end -->' "$WORK/block.md"
    say "== wrote the table into $README"
fi

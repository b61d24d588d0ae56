#!/usr/bin/env bash
# Benchmarks/callgrind.sh: instructions per request, counted by valgrind's
# callgrind, for the worker processes of `statelab serve`, for nginx serving
# the same request (a yardstick), and for the load generators (statelab load,
# wrk). Instruction counts do not depend on how busy the machine is, so
# unlike req/s or CPU time they compare two builds on a shared machine.
# Kernel work (syscalls, TCP) is not counted: callgrind sees user space only.
#
# 1. The app worker, for each binary (BASE, NEW) and each CONFIGS entry
#    (default shm/atomic, global/naive, sqlite/atomic):
#      valgrind --tool=callgrind --trace-children=yes BIN serve --strategy S
#        --mode M --workers 1 --port 0 --json
#    (valgrind follows the supervisor's fork+execve of its worker, so the
#    worker pid in the ready line is a callgrind process); a warm-up of WARMUP
#    increments (NEW's load, native), `callgrind_control -z WORKER`, a load of
#    INCREMENTS increments (native, concurrency CONCURRENCY), then
#    `callgrind_control -d WORKER`: the dump's `summary:` is the worker's Ir
#    for the load, and Ir / INCREMENTS is the figure. GET /report's "handled"
#    must grow by exactly INCREMENTS. The window also holds the load's own
#    GET /report requests (a 30-request latency probe and the final reads:
#    about 0.2% of 20,000) and its CONCURRENCY connections' accepts and closes.
# 2. nginx (NGINX_BIN) serving the same POST /increment, under callgrind
#    (NGINX=0 skips it): a private nginx.conf in the temp dir (daemon off,
#    master_process off, worker_processes 1, so the one process valgrind
#    runs is the one that serves; access_log off, keepalive_requests 1000000,
#    127.0.0.1 on a free port, `location / { return 200 BODY; }` with a JSON
#    BODY of the worker's answer's size and no count or pid), run as
#      valgrind --tool=callgrind NGINX_BIN -p DIR -e DIR/error.log -c DIR/nginx.conf
#    then as for a worker: WARMUP increments, `callgrind_control -z`, the
#    same load, `-d`; Ir / INCREMENTS is nginx's figure, shown beside the
#    workers' with each worker's ratio to it. Its window holds the load's GET
#    /report reads too, more of them than a worker's (no answer names a
#    worker pid, so the final reads go on to their limit of fresh
#    connections): the requests nginx parsed are counted from the call graph
#    and shown. nginx's figure moves more between runs than a worker's (7,921
#    to 8,215 in four runs on one machine, the worker's within 1%): nearly
#    all of it is glibc's _int_malloc and unlink_chunk, whose search for each
#    request's pool depends on the heap that earlier connections left.
# 3. The load generators as clients of one native NEW server (shm atomic,
#    CLIENT_WORKERS workers), each whole process under callgrind:
#      valgrind --tool=callgrind BIN load --url URL --increments N
#        --concurrency CLIENT_CONCURRENCY --load-threads 1 --format json
#    for N = LOAD_BIG and LOAD_SMALL: Ir / LOAD_BIG (start-up and the final
#    check included) and the marginal (Ir_big - Ir_small) / (big - small);
#      valgrind --tool=callgrind wrk -t1 -cCLIENT_CONCURRENCY -dDs -s post.lua URL
#    (POST /increment, Content-Length: 0) for D = WRK_DURATION, WRK_SHORT
#    and WRK_LONG: Ir / wrk's "N requests in", and the marginal between the
#    short and the long run. statelab load's progress reporter (every 100 ms,
#    with --quiet too before issue 22; not at all since, with --quiet) is driven by time, and valgrind slows the load about
#    50-fold, so its share under valgrind is far above the native one: its
#    inclusive Ir is taken from the call graph and shown apart.
# 4. Where NEW's instructions go: `callgrind_annotate --inclusive=no` of the
#    NEW shm/atomic worker's dump and of NEW's load (the LOAD_BIG run minus
#    the LOAD_SMALL run, so start-up cancels out), the top TOP functions and
#    rough groups (Swift runtime, SwiftNIO, statelab's parsing, recording...);
#    the same for nginx's dump.
#
# Output: Markdown on stdout (the tables), progress on stderr. 7 to 12 minutes
# with the defaults on a busy 2-core machine (nginx adds about half of one
# worker config's time); instruction counts do not depend on other work
# running, only the wall time does.
#
# Settings (environment):
#   NEW    the statelab binary to measure (default .build/release/statelab;
#          this script never builds)
#   BASE   a second statelab binary to compare with (unset: NEW only)
#   CONFIGS="shm:atomic global:naive sqlite:atomic"  INCREMENTS=20000
#   WARMUP=500 CONCURRENCY=8 READY_TIMEOUT=300 (seconds for a server under
#   valgrind to print its ready line)
#   CLIENT_WORKERS=4 CLIENT_CONCURRENCY=32 LOAD_BIG=50000 LOAD_SMALL=10000
#   CLIENT_BASE=1 (0: run only NEW's load generator under valgrind)
#   WRK_DURATION=5 WRK_SHORT=2 WRK_LONG=8 (seconds; WRK=0 skips wrk)
#   NGINX=1 (0 skips nginx), NGINX_BIN=/usr/sbin/nginx
#   TOP=15
#   VALGRIND (default valgrind; must be 3.20 or newer, see below),
#   VALGRIND_LIB (its tool directory; when unset and VALGRIND is not in
#   /usr/bin or /usr/local/bin, VALGRIND/../libexec/valgrind),
#   CALLGRIND_CONTROL, CALLGRIND_ANNOTATE,
#   SWIFT_DEMANGLE (optional: names are shown mangled without it).
#
# Valgrind 3.19 (Debian 12's) cannot read the statelab binary: the Swift
# toolchain's clang writes DWARF 5 for the C parts, and 3.19 stops with
# "unhandled dwarf2 abbrev form code 0x25 ... Possibly corrupted debuginfo
# file. Giving up." (KDE bug 452758, fixed in 3.20). On Debian 12, Debian 13's
# valgrind runs unpacked in a private directory, without installing it:
#   d=/tmp/vg-trixie; mkdir -p $d/lists/partial $d/cache/archives/partial
#   echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >$d/sources.list
#   o="-o Dir::State::Lists=$d/lists -o Dir::Etc::SourceList=$d/sources.list -o Dir::Etc::SourceParts=/nonexistent -o Dir::Cache=$d/cache"
#   apt-get $o update && (cd $d && apt-get $o download valgrind) && dpkg-deb -x $d/valgrind_*.deb $d/root
#   VALGRIND=$d/root/usr/bin/valgrind Benchmarks/callgrind.sh
# Keep Debian 12's callgrind_control (the default): Debian 13's vgdb needs
# glibc 2.38; 3.19's vgdb drives a 3.24 valgrind fine.
#
# Needs: valgrind >= 3.20 (callgrind), callgrind_control, callgrind_annotate,
# jq, curl, python3, cc (a 10-line preload shim, see below), wrk (unless
# WRK=0), nginx (unless NGINX=0). KEEP=DIR copies the callgrind outputs and
# annotations to DIR.
# Every wait is bounded; every process started here is stopped by its pid
# (SIGTERM, then SIGKILL), a server's workers are checked gone, and the temp
# dir is removed on any exit. Only loopback addresses are used.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NEW=${NEW:-"$ROOT/.build/release/statelab"}
BASE=${BASE:-}
CONFIGS=${CONFIGS:-"shm:atomic global:naive sqlite:atomic"}
INCREMENTS=${INCREMENTS:-20000}
WARMUP=${WARMUP:-500}
CONCURRENCY=${CONCURRENCY:-8}
READY_TIMEOUT=${READY_TIMEOUT:-300}
CLIENT_WORKERS=${CLIENT_WORKERS:-4}
CLIENT_CONCURRENCY=${CLIENT_CONCURRENCY:-32}
LOAD_BIG=${LOAD_BIG:-50000}
LOAD_SMALL=${LOAD_SMALL:-10000}
CLIENT_BASE=${CLIENT_BASE:-1}
WRK=${WRK:-1}
WRK_DURATION=${WRK_DURATION:-5}
WRK_SHORT=${WRK_SHORT:-2}
WRK_LONG=${WRK_LONG:-8}
NGINX=${NGINX:-1}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
TOP=${TOP:-15}
VALGRIND=${VALGRIND:-valgrind}
CALLGRIND_CONTROL=${CALLGRIND_CONTROL:-callgrind_control}
CALLGRIND_ANNOTATE=${CALLGRIND_ANNOTATE:-callgrind_annotate}
SWIFT_DEMANGLE=${SWIFT_DEMANGLE:-$(command -v swift-demangle || true)}
BIN=$NEW      # lib.sh's bench_start_server starts BIN
SKIP_BUILD=1  # lib.sh: never build here

# shellcheck source=Benchmarks/lib.sh source-path=SCRIPTDIR/..
. "$ROOT/Benchmarks/lib.sh"
bench_init callgrind.sh 2

bench_require_tools jq curl python3 cc "$CALLGRIND_CONTROL" "$CALLGRIND_ANNOTATE"
[[ "$WRK" == 0 ]] || bench_require_tools --hint wrk
command -v "$VALGRIND" >/dev/null || die "$VALGRIND is missing (apt-get install valgrind; 3.20 or newer)"
[[ -x "$NEW" ]] || die "$NEW not found: build it (swift build -c release) or set NEW"
[[ -z "$BASE" || -x "$BASE" ]] || die "BASE=$BASE is not an executable"
if [[ "$NGINX" != 0 ]]; then
    [[ -x "$NGINX_BIN" ]] || die "$NGINX_BIN is missing (apt-get install nginx, set NGINX_BIN, or NGINX=0)"
    NGINX_VERSION=$("$NGINX_BIN" -v 2>&1)  # nginx version: nginx/1.22.1
    NGINX_VERSION=${NGINX_VERSION##*/}
fi

# A valgrind unpacked elsewhere needs its own tool directory.
VALGRIND_PATH=$(command -v "$VALGRIND")
if [[ -z "${VALGRIND_LIB:-}" && "$VALGRIND_PATH" != /usr/bin/valgrind && "$VALGRIND_PATH" != /usr/local/bin/valgrind ]]; then
    for dir in "$(dirname "$VALGRIND_PATH")/../libexec/valgrind" "$(dirname "$VALGRIND_PATH")/../lib/valgrind"; do
        if [[ -d "$dir" ]]; then export VALGRIND_LIB; VALGRIND_LIB=$(cd "$dir" && pwd); break; fi
    done
fi
VALGRIND_VERSION=$("$VALGRIND" --version)  # valgrind-3.24.0
if ! awk -v v="${VALGRIND_VERSION#valgrind-}" 'BEGIN { split(v, p, "."); exit !(p[1] > 3 || (p[1] == 3 && p[2] >= 20)) }'; then
    die "$VALGRIND_VERSION cannot read the DWARF 5 in a Swift 6 binary (it gives up at start); use valgrind 3.20 or newer: see the header of $0 for running Debian 13's on Debian 12"
fi

bench_make_workdir statelab-callgrind  # bench_cleanup runs on any exit
VGDB_PREFIX="$WORK/vgdb"

per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
ratio() { if [[ -z "$1" || -z "$2" || "$1" == - || "$2" == - ]]; then echo "-"; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; fi; }
group3() { sed -E ':a; s/^(-?[0-9]+)([0-9]{3})/\1,\2/; ta' <<<"$1"; }  # 12345 -> 12,345

# run_bounded SECONDS WHAT OUT ERR CMD...: runs CMD in the background as
# LOAD_PID (bench_cleanup stops it on any exit), waits at most SECONDS, then
# stops it by its pid and dies. Sets RUN_STATUS to CMD's exit status.
run_bounded() {
    local seconds=$1 what=$2 out=$3 err=$4 deadline
    shift 4
    "$@" >"$out" 2>"$err" &
    LOAD_PID=$!
    deadline=$((SECONDS + seconds))
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            bench_stop_pid "$LOAD_PID" "$what"
            LOAD_PID=""
            tail -20 "$err" >&2 || true
            die "$what did not end within $seconds s"
        fi
        sleep 0.2
    done
    RUN_STATUS=0
    wait "$LOAD_PID" || RUN_STATUS=$?
    LOAD_PID=""
}

# native_load URL N OUT: NEW's load generator, not under valgrind.
native_load() {
    run_bounded 900 "load" "$3" "$WORK/load.err" \
        "$NEW" load --url "$1" --increments "$2" --concurrency "$CONCURRENCY" --load-threads 1 --format json --quiet
    # 1 = the check found something (e.g. increments of an earlier run): the
    # load itself ran; only above 1 is a failure.
    [[ $RUN_STATUS -le 1 ]] || { cat "$WORK/load.err" >&2; die "statelab load exited $RUN_STATUS"; }
}

control() {  # callgrind_control ARGS... (bounded)
    timeout -k 5 120 "$CALLGRIND_CONTROL" --vgdb-prefix="$VGDB_PREFIX" "$@" >>"$WORK/control.out" 2>&1 \
        || { cat "$WORK/control.out" >&2; die "callgrind_control $* failed"; }
}

ir_of() {  # the total Ir of a callgrind output file
    local ir
    ir=$(awk '/^summary:/ { print $2; exit }' "$1")
    [[ -n "$ir" ]] || ir=$(awk '/^totals:/ { print $2; exit }' "$1")
    [[ -n "$ir" ]] || die "no summary or totals line in $1"
    echo "$ir"
}

# annotate DUMP OUT: callgrind_annotate's flat profile (self cost, every
# function). A dump taken while the process runs records the threads that
# were running at `-z` as calls=0 from clone; callgrind_annotate then takes
# the next line for clone's own cost (100%): mark them as one call instead.
annotate() {
    sed 's/^calls=0 /calls=1 /' "$1" >"$WORK/annotate.in"
    "$CALLGRIND_ANNOTATE" --inclusive=no --threshold=100 --auto=no "$WORK/annotate.in" >"$2" 2>"$WORK/annotate.err" \
        || { cat "$WORK/annotate.err" >&2; die "callgrind_annotate $1 failed"; }
}

stop_valgrind_server() {
    local pid
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    if ! bench_wait_gone "$SERVER_PID" 60; then
        say "$BENCH_NAME: server $SERVER_PID (under valgrind) ignored SIGTERM for 60 s; sending SIGKILL"
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    for pid in $WORKER_PIDS; do
        if ! bench_wait_gone "$pid" 30; then
            say "$BENCH_NAME: worker $pid still alive 30 s after its supervisor; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    [[ ! -e "$RUN_DIR" ]] || die "the server left its run directory $RUN_DIR behind"
    SERVER_PID=""
    WORKER_PIDS=""
    RUN_DIR=""
}

report_field() {  # report_field URL FIELD: GET URL/report's FIELD
    curl -s --max-time 30 "$1/report" | jq -r ".$2"
}

# MARK: 1. The worker under callgrind

declare -A WORKER_IR   # [label/strategy/mode] = instructions per request
declare -A WORKER_DUMP # [label/strategy/mode] = the dump of the load
measure_worker() {  # LABEL BIN STRATEGY MODE
    local label=$1 bin=$2 strategy=$3 mode=$4 ready="" worker before after dump ir n tag="$1-$3-$4"
    say "== $label: $strategy/$mode worker under callgrind"
    TMPDIR="$WORK" "$VALGRIND" --tool=callgrind --trace-children=yes --vgdb-prefix="$VGDB_PREFIX" \
        --callgrind-out-file="$WORK/cg-$tag.%p.out" \
        "$bin" serve --strategy "$strategy" --mode "$mode" --workers 1 --port 0 --json \
        >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 $((READY_TIMEOUT * 10))); do  # every 0.1 s
        if ready=$(grep -m1 '^{' "$WORK/serve.out" 2>/dev/null); then break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$WORK/serve.err" >&2; die "the server exited before it was ready"; }
        sleep 0.1
    done
    [[ -n "$ready" ]] || { tail -30 "$WORK/serve.err" >&2; die "no ready line within $READY_TIMEOUT s"; }
    URL=$(jq -r .url <<<"$ready")
    WORKER_PIDS=$(jq -r '.pids[]' <<<"$ready" | tr '\n' ' ')
    RUN_DIR=$(jq -r .run_dir <<<"$ready")
    worker=$(jq -r '.pids[0]' <<<"$ready")
    [[ "$URL" == http://127.0.0.1:* ]] || die "not a loopback URL: $URL"
    [[ $(jq '.pids | length' <<<"$ready") == 1 ]] || die "expected one worker: $ready"

    native_load "$URL" "$WARMUP" "$WORK/warmup.json"
    before=$(report_field "$URL" handled)
    control -z "$worker"
    native_load "$URL" "$INCREMENTS" "$WORK/load-$tag.json"
    control -d "$worker"
    after=$(report_field "$URL" handled)
    n=$((after - before))
    [[ $n == "$INCREMENTS" ]] || die "$tag: the worker handled $n increments during the load, not $INCREMENTS"
    [[ $(jq -r .acknowledged "$WORK/load-$tag.json") == "$INCREMENTS" ]] || die "$tag: not every increment was acknowledged"
    if [[ ! -e "$WORK/answer-worker.txt" ]]; then  # one answer, to set beside nginx's (after the window)
        curl -si -m 30 -X POST "$URL/increment" >"$WORK/answer-worker.txt" || die "$tag: no answer to the sample request"
        WORKER_ANSWER_OF="$label $strategy/$mode"
    fi
    # The newest dump of this worker: cg-TAG.PID.out.N, highest N; written by
    # the time callgrind_control returns, but wait for its last line anyway.
    dump=""
    for f in "$WORK/cg-$tag.$worker.out".*; do
        [[ -e "$f" ]] || continue
        if [[ -z "$dump" ]] || ((${f##*.} > ${dump##*.})); then dump=$f; fi
    done
    [[ -n "$dump" ]] || die "$tag: no dump of worker $worker"
    for _ in $(seq 1 300); do grep -q '^totals:' "$dump" && break; sleep 0.1; done
    ir=$(ir_of "$dump")
    WORKER_IR[$label/$strategy/$mode]=$(per "$ir" "$INCREMENTS")
    WORKER_DUMP[$label/$strategy/$mode]=$dump
    say "   $ir Ir for $INCREMENTS increments: ${WORKER_IR[$label/$strategy/$mode]} a request (load at $(jq -r .throughput_rps "$WORK/load-$tag.json") req/s)"
    stop_valgrind_server
}

LABELS=()
[[ -z "$BASE" ]] || LABELS+=(BASE)
LABELS+=(NEW)
bin_of() { if [[ $1 == BASE ]]; then echo "$BASE"; else echo "$NEW"; fi; }

for config in $CONFIGS; do
    for label in "${LABELS[@]}"; do
        measure_worker "$label" "$(bin_of "$label")" "${config%%:*}" "${config##*:}"
    done
done

# MARK: 2. nginx under callgrind, serving the same request

# nginx's user-space instructions for the same POST /increment, the same
# load and the same window as the worker's: a yardstick for the figures above.
# master_process off runs the one process that serves in the foreground, so
# valgrind's pid is the serving pid. Debian's nginx is stripped but keeps its
# exported ngx_* symbols; its static functions show up as addresses.
#
# The answer: statelab load counts any 200 as acknowledged, with or without a
# body (an empty `return 200;` gives acknowledged == INCREMENTS; the load
# exits 1 because its final GET /report finds no worker pid to read). A body
# with "count" and "pid" would make its check see the same count in every
# answer (lost updates, duplicates): counted too, but a check about nothing.
# So nginx answers a JSON body of about the worker's size without those
# fields, as application/json: the worker's body is 33 to 39 bytes as the
# count's and the pid's digits go ({"count":20501,"pid":18184,"worker":0} is
# 38), nginx's 37. nginx's headers add Server and Date (the worker's add
# X-Worker-Pid): its whole answer is about 30 bytes longer. The output shows
# both answers.
NGINX_BODY='{"ok":1,"server":"nginx","n":1000000}'
free_port() {  # the kernel's pick; whoever binds it first gets it, so retry
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# calls.py CALLGRIND_FILE NAME...: how often each NAME was called (all callers).
cat >"$WORK/calls.py" <<'PY'
import re, sys
from collections import defaultdict
SPEC = re.compile(r'^(c?fn)=(.*)$')
NAMED = re.compile(r'^\((\d+)\)(?: (.*))?$')
names, cfn, calls = {}, None, defaultdict(int)
for line in open(sys.argv[1], errors='replace'):
    m = SPEC.match(line.rstrip('\n'))
    if m:
        value = m.group(2)
        n = NAMED.match(value)
        if n:
            if n.group(2) is not None:
                names[n.group(1)] = n.group(2)
            value = names.get(n.group(1), '?')
        if m.group(1) == 'cfn':
            cfn = value
    elif line.startswith('calls='):
        calls[cfn] += int(line[6:].split()[0])
print(' '.join(str(calls.get(name, 0)) for name in sys.argv[2:]))
PY

measure_nginx() {
    local attempt port started=0 deadline dump ir conf="$WORK/nginx/nginx.conf"
    say "== nginx $NGINX_VERSION (return 200, master_process off) under callgrind"
    mkdir -p "$WORK/nginx"
    for attempt in 1 2 3; do
        port=$(free_port)
        bench_nginx_conf "$conf" "$WORK/nginx" "$port" off 1 "default_type application/json; return 200 '$NGINX_BODY';"
        : >"$WORK/nginx/error.log"
        "$VALGRIND" --tool=callgrind --vgdb-prefix="$VGDB_PREFIX" --callgrind-out-file="$WORK/cg-nginx.%p.out" \
            "$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$conf" \
            >"$WORK/nginx/out.log" 2>&1 &
        SERVER_PID=$!
        deadline=$((SECONDS + READY_TIMEOUT))
        while ((SECONDS < deadline)); do  # every 0.2 s
            if [[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/increment")" == 200 ]]; then
                started=1
                break
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        [[ $started == 1 ]] && break
        stop_valgrind_nginx
        grep -q 'Address already in use' "$WORK/nginx/error.log" "$WORK/nginx/out.log" || break
        say "   port $port was taken; trying another (attempt $attempt)"
    done
    if [[ $started != 1 ]]; then
        tail -30 "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2
        die "nginx under valgrind did not answer 200 within $READY_TIMEOUT s"
    fi
    curl -si -m 30 -X POST "http://127.0.0.1:$port/increment" >"$WORK/answer-nginx.txt" \
        || die "nginx: no answer to the sample request"
    native_load "http://127.0.0.1:$port" "$WARMUP" "$WORK/warmup.json"
    control -z "$SERVER_PID"
    native_load "http://127.0.0.1:$port" "$INCREMENTS" "$WORK/load-nginx.json"
    control -d "$SERVER_PID"
    [[ $(jq -r .acknowledged "$WORK/load-nginx.json") == "$INCREMENTS" ]] || die "nginx: not every increment was acknowledged"
    dump=""
    for f in "$WORK/cg-nginx.$SERVER_PID.out".*; do
        [[ -e "$f" ]] || continue
        if [[ -z "$dump" ]] || ((${f##*.} > ${dump##*.})); then dump=$f; fi
    done
    [[ -n "$dump" ]] || die "nginx: no dump of $SERVER_PID"
    for _ in $(seq 1 300); do grep -q '^totals:' "$dump" && break; sleep 0.1; done
    ir=$(ir_of "$dump")
    NGINX_IR=$(per "$ir" "$INCREMENTS")
    NGINX_DUMP=$dump
    # What the window held: requests nginx parsed (the load's POSTs plus its
    # GET /report probe and final reads) and connections it accepted.
    read -r NGINX_REQUESTS NGINX_CONNECTIONS < <(python3 "$WORK/calls.py" "$dump" ngx_http_process_request ngx_http_init_connection) || true
    if [[ ! "${NGINX_REQUESTS:-}" =~ ^[1-9][0-9]*$ ]]; then  # a build without these symbols
        say "   warning: no calls of ngx_http_process_request in $dump; the requests in the window are not shown"
        NGINX_REQUESTS=""
    fi
    say "   $ir Ir for $INCREMENTS increments: $NGINX_IR a request; $NGINX_REQUESTS requests on $NGINX_CONNECTIONS new connections in the window (load at $(jq -r .throughput_rps "$WORK/load-nginx.json") req/s)"
    stop_valgrind_nginx
    grep -q '\[\(emerg\|alert\|crit\)\]' "$WORK/nginx/error.log" && { grep '\[\(emerg\|alert\|crit\)\]' "$WORK/nginx/error.log" >&2; say "   warning: nginx logged the errors above"; }
    return 0
}

stop_valgrind_nginx() {  # SIGTERM (nginx's fast shutdown), SIGKILL after 60 s
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    if ! bench_wait_gone "$SERVER_PID" 60; then
        say "$BENCH_NAME: nginx $SERVER_PID (under valgrind) ignored SIGTERM for 60 s; sending SIGKILL"
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        bench_wait_gone "$SERVER_PID" 10 || die "nginx $SERVER_PID is still there after SIGKILL"
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

NGINX_IR=""
NGINX_DUMP=""
NGINX_REQUESTS=""
[[ "$NGINX" == 0 ]] || measure_nginx

# MARK: 3. The load generators under callgrind, against a native server

# statelab load parks its main thread in libdispatch's dispatchMain, which
# calls sigsuspend() on a `static const` sigset_t; valgrind (3.24 too) writes
# into the mask it is given and dies with SIGSEGV (si_code 2, an address in
# libdispatch.so). This shim, preloaded into the load under valgrind only,
# passes sigsuspend a writable copy. It runs once a process: no cost per request.
SHIM="$WORK/sigsuspend-shim.so"
cat >"$WORK/sigsuspend-shim.c" <<'EOF'
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)(_NSIG / 8));
}
EOF
cc -shared -fPIC -O2 -o "$SHIM" "$WORK/sigsuspend-shim.c" || die "cc could not build the sigsuspend shim"

bench_start_server "$CLIENT_WORKERS" 60 shm atomic
[[ "$URL" == http://127.0.0.1:* ]] || die "not a loopback URL: $URL"
native_load "$URL" 2000 "$WORK/warmup.json"

declare -A LOAD_IR  # [label/N] = whole-process Ir
declare -A LOAD_DUMP
CLIENT_LABELS=(NEW)
[[ -z "$BASE" || "$CLIENT_BASE" == 0 ]] || CLIENT_LABELS=(BASE NEW)
for label in "${CLIENT_LABELS[@]}"; do
    for n in "$LOAD_SMALL" "$LOAD_BIG"; do
        say "== $label: statelab load --increments $n under callgrind"
        run_bounded 1200 "load under valgrind" "$WORK/client-$label-$n.json" "$WORK/client-$label-$n.err" \
            env LD_PRELOAD="$SHIM" "$VALGRIND" --tool=callgrind --vgdb=no --callgrind-out-file="$WORK/cgload-$label-$n.%p.out" \
            "$(bin_of "$label")" load --url "$URL" --increments "$n" --concurrency "$CLIENT_CONCURRENCY" \
            --load-threads 1 --format json --quiet
        [[ $RUN_STATUS -le 1 ]] || { tail -20 "$WORK/client-$label-$n.err" >&2; die "statelab load under valgrind exited $RUN_STATUS"; }
        [[ $(jq -r .acknowledged "$WORK/client-$label-$n.json") == "$n" ]] || die "load $label $n: not every increment was acknowledged"
        LOAD_DUMP[$label/$n]=$(find "$WORK" -maxdepth 1 -name "cgload-$label-$n.*.out" | head -1)
        LOAD_IR[$label/$n]=$(ir_of "${LOAD_DUMP[$label/$n]}")
        say "   ${LOAD_IR[$label/$n]} Ir for $n increments"
    done
done

declare -A WRK_IR WRK_REQ
if [[ "$WRK" != 0 ]]; then
    cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.path = "/increment"
wrk.headers["Content-Length"] = "0"
EOF
    for d in $(printf '%s\n' "$WRK_SHORT" "$WRK_DURATION" "$WRK_LONG" | sort -un); do
        say "== wrk -t1 -c$CLIENT_CONCURRENCY -d${d}s under callgrind"
        run_bounded $((d + 300)) "wrk under valgrind" "$WORK/wrk-$d.out" "$WORK/wrk-$d.err" \
            "$VALGRIND" --tool=callgrind --vgdb=no --callgrind-out-file="$WORK/cgwrk-$d.%p.out" \
            wrk -t1 -c"$CLIENT_CONCURRENCY" -d"${d}s" -s "$WORK/post.lua" "$URL"
        [[ $RUN_STATUS == 0 ]] || { cat "$WORK/wrk-$d.err" >&2; die "wrk under valgrind exited $RUN_STATUS"; }
        WRK_REQ[$d]=$(awk '/requests in/ { print $1; exit }' "$WORK/wrk-$d.out")
        [[ -n "${WRK_REQ[$d]}" ]] || { cat "$WORK/wrk-$d.out" >&2; die "no request count in wrk's output"; }
        if grep -q 'Non-2xx' "$WORK/wrk-$d.out"; then cat "$WORK/wrk-$d.out" >&2; die "wrk saw non-2xx answers"; fi
        WRK_IR[$d]=$(ir_of "$(find "$WORK" -maxdepth 1 -name "cgwrk-$d.*.out" | head -1)")
        say "   ${WRK_IR[$d]} Ir for ${WRK_REQ[$d]} requests"
    done
fi
bench_stop_pid "$SERVER_PID" server
SERVER_PID=""
for pid in $WORKER_PIDS; do bench_wait_gone "$pid" 10 || die "worker $pid outlived its supervisor"; done
WORKER_PIDS=""
[[ ! -e "$RUN_DIR" ]] || die "the server left its run directory $RUN_DIR behind"
RUN_DIR=""

# MARK: 4. Where the instructions go

cat >"$WORK/profile.py" <<'PY'
# profile.py DIVISOR TOP ANNOTATE [MINUS_ANNOTATE] [--groups-only]
# Reads callgrind_annotate --inclusive=no output (self cost per file:function),
# adds up each function over the files its inlined code came from, optionally
# subtracts a second profile, and prints the top functions and rough groups
# per request (DIVISOR requests) as Markdown.
import os, re, subprocess, sys
from collections import defaultdict

LINE = re.compile(r'^\s*([\d,]+)\s+\(\s*-?[\d.]+%\)\s+(.*)$')
OBJ = re.compile(r' \[([^\[\]]*)\]$')

def parse(path):
    cost, objs, files = defaultdict(int), {}, defaultdict(lambda: defaultdict(int))
    listing = False
    for line in open(path, errors='replace'):
        if 'file:function' in line:
            listing = True
            continue
        m = LINE.match(line) if listing else None
        if not m:
            continue
        ir = int(m.group(1).replace(',', ''))
        rest = m.group(2).rstrip()
        o = OBJ.search(rest)
        if o:
            rest = rest[:o.start()]
        fl, _, fn = rest.partition(':')
        cost[fn] += ir
        files[fn][fl] += ir
        if o:
            objs[fn] = o.group(1)
    return cost, objs, files

def module(fn):
    m = re.match(r'\$s(\d+)([A-Za-z_][A-Za-z0-9_]*)', fn)
    if m:
        return m.group(2)[:int(m.group(1))]
    if re.match(r'\$s(s|S[a-zA-Z])', fn):
        return 'Swift'
    return None

NIO = ('NIO', '_NIO', 'CNIO', 'Atomics', '_Atomics', 'DequeModule', 'InternalCollectionsUtilities')
PARSING = ('RequestHeadParser', 'ChunkedBodyReader', 'LoadResponseDecoder', 'CounterAnswer', 'HTTPBytes',
           'ResponseHead', 'HTTPResponseCollector')
RECORDING = ('LoadShard', 'LatencyHistogram', 'HistoryRecorder', 'LoadProgress', 'LoadResult', 'CountSet',
             'TimeBins', 'Checker', 'CounterTally', 'History', 'SortedTimes', 'ResetTimeline', 'CheckResult')
STORE = ('CounterBackend', 'SharedMemoryCounter', 'GlobalStore', 'SQLiteStore', 'CounterStore', 'InlineBackend')

def statelab_group(fn, fl, demangled):
    base = os.path.basename(fl).removesuffix('.swift')
    where = fl if '/Sources/StateLab/' in fl else ''
    for names, group in ((PARSING, 'statelab: HTTP parsing (request head / answer decoding, JSON scan)'),
                         (RECORDING, 'statelab: recording and checking (history, latency, check)'),
                         (STORE, 'statelab: the counter store')):
        if base in names or any(n in demangled for n in names) or any(n in fn for n in names):
            return group
    if '/Sources/StateLab/Check/' in where:
        return 'statelab: recording and checking (history, latency, check)'
    if '/Sources/StateLab/Strategies/' in where:
        return 'statelab: the counter store'
    return 'statelab: the rest (connection handling, answers, scheduling)'

def group(fn, obj, files, demangled):
    main_file = max(files, key=files.get) if files else ''
    o = os.path.basename(obj or '')
    if re.match(r'(_?swift_(retain|release|nonatomic_retain|nonatomic_release|bridgeObjectRetain|bridgeObjectRelease|unknownObjectRetain|unknownObjectRelease|isUniquelyReferenced)|_swift_release_dealloc)', fn):
        return 'Swift runtime: reference counting (retain/release)'
    if re.match(r'swift_(beginAccess|endAccess)', fn) or 'AccessSet' in fn or 'SwiftTLSContext' in fn or fn == '__tls_get_addr':
        return 'Swift runtime: exclusivity checks (incl. their TLS lookups)'
    if re.match(r'(malloc|free|cfree|calloc|realloc|_int_malloc|_int_free|_int_realloc|malloc_consolidate|unlink_chunk|tcache_|__libc_malloc|__libc_free|__libc_calloc|__libc_realloc|_int_free_merge_chunk|_int_free_create_chunk|_int_free_maybe_consolidate|swift_(slowAlloc|slowDealloc|allocObject|deallocObject|deallocClassInstance|allocBox|deallocBox|deallocUninitializedObject|allocEmptyBox)|malloc_usable_size|posix_memalign|aligned_alloc|_mid_memalign)', fn):
        return 'memory allocation (malloc/free, swift_allocObject)'
    if 'sqlite' in o.lower() or 'sqlite3' in main_file or fn.startswith('sqlite3'):
        return 'SQLite'
    mod = module(fn)
    if mod == 'Histogram' or '/checkouts/hdrhistogram-swift/' in main_file:
        return 'HdrHistogram (latency percentiles and snapshots; see the progress reporter)'
    if mod == 'StateLab' or '/Sources/StateLab/' in main_file:
        return statelab_group(fn, main_file, demangled)
    if (mod and mod.startswith(NIO)) or re.search(r'/checkouts/swift-(nio|atomics|collections)/', main_file) or fn.startswith(('CNIO', 'c_nio')):
        return 'SwiftNIO (event loop, channel pipeline, ByteBuffer, sockets)'
    if mod == 'Swift':
        return 'Swift standard library (generic code, strings, integer formatting)'
    if mod in ('Foundation', 'FoundationEssentials', 'Dispatch') or o.startswith(('libFoundation', 'libdispatch')):
        return 'Foundation / Dispatch'
    if o.startswith(('libswiftCore', 'libswift_Concurrency', 'libswift')) or fn.startswith(('swift_', 'swift::', '_swift')):
        return 'Swift runtime: other (generic metadata, dynamic casts, concurrency)'
    if o.startswith('libc.so') or o.startswith('libc-'):
        if re.match(r'_?_?(mem|str|wmem)', fn):
            return 'libc: memcpy/memset/strings'
        return 'libc: syscall wrappers, locks, clock, other'
    if o.startswith('ld-linux'):
        return 'dynamic linker (ld.so)'
    if o.startswith('libluajit'):
        return 'LuaJIT (wrk)'
    if o == 'nginx':
        if fn.startswith('ngx_http_'):
            return 'nginx: HTTP (request parsing, headers, output filters, keep-alive)'
        if fn.startswith(('ngx_event', 'ngx_epoll', 'ngx_process_events', 'ngx_unix_', 'ngx_linux_', 'ngx_writev', 'ngx_os_', 'ngx_recv', 'ngx_send', 'ngx_close_connection', 'ngx_get_connection', 'ngx_free_connection', 'ngx_reusable_connection')):
            return 'nginx: event loop, connections, socket I/O wrappers'
        if fn.startswith('0x'):
            return 'nginx: functions without a symbol (static functions of the stripped binary)'
        return 'nginx: core (pools, buffers, strings, time, the rest)'
    if mod:
        return 'other Swift (' + mod + ')'
    if o == 'wrk' or (obj or '').endswith('/wrk'):
        return 'wrk itself'
    return 'other'

def demangle(names):
    tool = os.environ.get('SWIFT_DEMANGLE')
    mangled = [n for n in names if n.startswith('$s')]
    if not tool or not mangled:
        return {}
    out = subprocess.run([tool, '--simplified'], input='\n'.join(mangled) + '\n', capture_output=True, text=True, timeout=120).stdout
    return dict(zip(mangled, out.split('\n')))

def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    groups_only = '--groups-only' in sys.argv
    divisor, top, path = float(args[0]), int(args[1]), args[2]
    cost, objs, files = parse(path)
    if len(args) > 3:
        c2, o2, f2 = parse(args[3])
        for fn, ir in c2.items():
            cost[fn] -= ir
            for fl, v in f2[fn].items():
                files[fn][fl] -= v
            objs.setdefault(fn, o2.get(fn))
    total = sum(cost.values())
    names = demangle(list(cost))
    grouped = defaultdict(int)
    rows = []
    for fn, ir in cost.items():
        d = names.get(fn, fn) or fn
        g = group(fn, objs.get(fn), files[fn], d)
        grouped[g] += ir
        rows.append((ir, d, g, os.path.basename(objs.get(fn) or '')))
    print(f'total: {total / divisor:,.0f} instructions a request\n')
    if not groups_only:
        print('| # | Ir a request | share | function (self cost) | group |')
        print('|---:|---:|---:|---|---|')
        for i, (ir, d, g, o) in enumerate(sorted(rows, reverse=True)[:top], 1):
            d = d.replace('|', '\\|')
            if len(d) > 110:
                d = d[:107] + '...'
            obj = f' [{o}]' if o and o not in ('statelab',) else ''
            print(f'| {i} | {ir / divisor:,.0f} | {100 * ir / total:.1f}% | `{d}`{obj} | {g} |')
        print()
    print('| group | Ir a request | share |')
    print('|---|---:|---:|')
    for g, ir in sorted(grouped.items(), key=lambda kv: -kv[1]):
        if abs(ir / divisor) < 1:
            continue
        print(f'| {g} | {ir / divisor:,.0f} | {100 * ir / total:.1f}% |')

main()
PY
export SWIFT_DEMANGLE

cat >"$WORK/cluster.py" <<'PY'
# cluster.py CALLGRIND_FILE PATTERN: the inclusive Ir of every function whose
# (mangled) name contains PATTERN, counted once, and how often it was entered.
# Reads the raw callgrind file (name compression, calls= lines). Async Swift
# functions re-enter through the runtime (runJob -> part 1 -> swift_task_switch
# -> part 2 ...), so the inclusive cost of an entering arc may hold the cluster
# twice. Counted instead: the self cost of the cluster's functions plus their
# calls to functions that do not call into the cluster themselves (the
# runtime's trampolines, which do, are left out; their own cost is small).
import re, sys
from collections import defaultdict

KIND = {'fn': 'fn', 'cfn': 'fn', 'ob': 'ob', 'cob': 'ob', 'fl': 'fl', 'fi': 'fl', 'fe': 'fl', 'cfi': 'fl', 'cfl': 'fl'}
SPEC = re.compile(r'^(\w+)=(.*)$')
NAMED = re.compile(r'^\((\d+)\)(?: (.*))?$')

def read(path):
    names = {'fn': {}, 'ob': {}, 'fl': {}}
    fn = cfn = None
    calls = None
    selfc = defaultdict(int)
    arcs = defaultdict(lambda: [0, 0])
    for line in open(path, errors='replace'):
        line = line.rstrip('\n')
        m = SPEC.match(line)
        if m:
            key, value = m.groups()
            if key in KIND:
                n = NAMED.match(value)
                if n:
                    table = names[KIND[key]]
                    if n.group(2) is not None:
                        table[n.group(1)] = n.group(2)
                    value = table.get(n.group(1), '?' + n.group(1))
                if key == 'fn':
                    fn = value
                elif key == 'cfn':
                    cfn = value
            elif key == 'calls':
                calls = int(value.split()[0])
            continue
        if line[:1].isdigit() or line[:1] in '+-*':
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[1])
            if calls is not None:
                arc = arcs[(fn, cfn)]
                arc[0] += calls
                arc[1] += cost
                calls = None
            else:
                selfc[fn] += cost
    return selfc, arcs

def main():
    path, pattern = sys.argv[1], sys.argv[2]
    selfc, arcs = read(path)
    inside = lambda f: f is not None and pattern in f
    # the runtime's trampolines: functions that call into the cluster directly
    # (swift_task_switch, a Task.sleep continuation...)
    trampolines = {a for (a, b) in arcs if inside(b) and not inside(a)}
    total = sum(c for f, c in selfc.items() if inside(f))
    for (a, b), (n, c) in arcs.items():
        if inside(a) and not inside(b) and b not in trampolines:
            total += c
    entries = max([n for (a, b), (n, c) in arcs.items() if inside(b) and not inside(a) and b], default=0)
    print(total, entries)

main()
PY
# progress DUMP: "IR ENTRIES" of statelab load's progress reporter
# (LoadGenerator.reportProgress: a snapshot and four percentiles every 100 ms,
# with --quiet too in builds before issue 22). It is driven by time, not by requests, and valgrind
# slows the load about 50-fold, so under valgrind it weighs far more per
# request than natively; the table shows the load with and without it.
progress() { python3 "$WORK/cluster.py" "$1" reportProgress; }
declare -A PROGRESS_IR PROGRESS_TICKS
for key in "${!LOAD_DUMP[@]}"; do
    read -r ir ticks < <(progress "${LOAD_DUMP[$key]}")
    PROGRESS_IR[$key]=$ir
    PROGRESS_TICKS[$key]=$ticks
done

# MARK: Output

echo "## Instructions per request (callgrind)"
echo
echo "Measured $(date -u '+%Y-%m-%d %H:%M') UTC by \`Benchmarks/callgrind.sh\` with $VALGRIND_VERSION on $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))."
echo "BASE: \`${BASE:--}\`; NEW: \`$NEW\`. User-space instructions (Ir) only: the kernel's share (syscalls, TCP) is not counted."
echo
echo "| what | instructions per request (BASE) | (NEW) | NEW / BASE |"
echo "|---|---:|---:|---:|"
for config in $CONFIGS; do
    key="${config%%:*}/${config##*:}"
    b=${WORKER_IR[BASE/$key]:--}
    n=${WORKER_IR[NEW/$key]}
    echo "| worker, ${config%%:*} ${config##*:} (1 worker, $INCREMENTS increments, concurrency $CONCURRENCY) | $(group3 "$b") | $(group3 "$n") | $(ratio "$b" "$n") |"
done
if [[ -n "$NGINX_IR" ]]; then
    echo "| nginx $NGINX_VERSION \`return 200\` (1 worker process, master_process off, $INCREMENTS increments, concurrency $CONCURRENCY) | - | $(group3 "$NGINX_IR") | - |"
fi
load_whole() { if [[ -n "${LOAD_IR[$1/$LOAD_BIG]:-}" ]]; then per "${LOAD_IR[$1/$LOAD_BIG]}" "$LOAD_BIG"; else echo -; fi; }
load_marginal() {
    if [[ -n "${LOAD_IR[$1/$LOAD_BIG]:-}" ]]; then
        per "$((${LOAD_IR[$1/$LOAD_BIG]} - ${LOAD_IR[$1/$LOAD_SMALL]}))" "$((LOAD_BIG - LOAD_SMALL))"
    else echo -; fi
}
load_marginal_quiet() {
    if [[ -n "${LOAD_IR[$1/$LOAD_BIG]:-}" ]]; then
        per "$((${LOAD_IR[$1/$LOAD_BIG]} - ${PROGRESS_IR[$1/$LOAD_BIG]} - ${LOAD_IR[$1/$LOAD_SMALL]} + ${PROGRESS_IR[$1/$LOAD_SMALL]}))" "$((LOAD_BIG - LOAD_SMALL))"
    else echo -; fi
}
b=$(load_whole BASE); n=$(load_whole NEW)
echo "| statelab load, whole process / $LOAD_BIG (start-up and check included; c$CLIENT_CONCURRENCY, 1 thread) | $(group3 "$b") | $(group3 "$n") | $(ratio "$b" "$n") |"
b=$(load_marginal BASE); n=$(load_marginal NEW)
echo "| statelab load, marginal ($LOAD_BIG - $LOAD_SMALL runs) | $(group3 "$b") | $(group3 "$n") | $(ratio "$b" "$n") |"
b=$(load_marginal_quiet BASE); n=$(load_marginal_quiet NEW)
echo "| statelab load, marginal without the progress reporter (see below) | $(group3 "$b") | $(group3 "$n") | $(ratio "$b" "$n") |"
if [[ "$WRK" != 0 ]]; then
    w=$(per "${WRK_IR[$WRK_DURATION]}" "${WRK_REQ[$WRK_DURATION]}")
    echo "| wrk -t1 -c$CLIENT_CONCURRENCY -d${WRK_DURATION}s, whole process / ${WRK_REQ[$WRK_DURATION]} requests | - | $(group3 "$w") | - |"
    dreq=$((${WRK_REQ[$WRK_LONG]} - ${WRK_REQ[$WRK_SHORT]}))
    w=$(per "$((${WRK_IR[$WRK_LONG]} - ${WRK_IR[$WRK_SHORT]}))" "$dreq")
    echo "| wrk, marginal (${WRK_LONG}s - ${WRK_SHORT}s runs: $dreq requests) | - | $(group3 "$w") | - |"
fi
echo
if [[ -n "$NGINX_IR" ]]; then
    for config in $CONFIGS; do
        for label in "${LABELS[@]}"; do
            w=${WORKER_IR[$label/${config%%:*}/${config##*:}]}
            echo "- $label worker ${config%%:*}/${config##*:}: $(group3 "$w") instructions a request, $(ratio "$NGINX_IR" "$w") times nginx's"
        done
    done
    body_of() { awk 'body { printf "%s", $0 } /^\r?$/ { body = 1 }' "$1"; }
    echo "- nginx answered \`return 200 '$NGINX_BODY'\` (default_type application/json): $(wc -c <"$WORK/answer-nginx.txt") bytes with its headers (Server, Date, Content-Type, Content-Length, Connection: keep-alive), its body $(body_of "$WORK/answer-nginx.txt" | wc -c) bytes; the $WORKER_ANSWER_OF worker's answer: $(wc -c <"$WORK/answer-worker.txt") bytes (Content-Type, X-Worker-Pid, Connection, Content-Length), body \`$(body_of "$WORK/answer-worker.txt")\` ($(body_of "$WORK/answer-worker.txt" | wc -c) bytes)."
    [[ -z "$NGINX_REQUESTS" ]] || echo "- nginx's window held $(group3 "$NGINX_REQUESTS") requests on $NGINX_CONNECTIONS new connections (calls of ngx_http_process_request and ngx_http_init_connection): the $INCREMENTS POST /increment, statelab load's 30-request latency probe, and its final GET /report reads, which against nginx try up to their limit of fresh connections, since no answer names a worker pid; per request parsed, $(group3 "$(per "$(ir_of "$NGINX_DUMP")" "$NGINX_REQUESTS")") instructions."
    echo
fi
for label in "${CLIENT_LABELS[@]}"; do
    for n in "$LOAD_SMALL" "$LOAD_BIG"; do
        k=$label/$n
        echo "- $label \`statelab load --increments $n\`: $(group3 "${LOAD_IR[$k]}") Ir in all, of which the progress reporter $(group3 "${PROGRESS_IR[$k]}") ($(awk -v a="${PROGRESS_IR[$k]}" -v b="${LOAD_IR[$k]}" 'BEGIN { printf "%.0f", 100 * a / b }')%) in ${PROGRESS_TICKS[$k]} ticks, $(group3 "$(per "${PROGRESS_IR[$k]}" "${PROGRESS_TICKS[$k]}")") Ir a tick; the run took $(jq -r .elapsed_s "$WORK/client-$label-$n.json") s under valgrind."
    done
done
echo
echo "The progress reporter (\`LoadGenerator.reportProgress\`: every 100 ms even with \`--quiet\` before issue 22; since then not at all when nobody shows progress, as here) is driven by time, not by requests: under valgrind the load runs about 50 times slower, so it gets far more ticks per request than natively. Natively it ticks 10 times a second, so it costs about 10 x the Ir a tick above every second, whatever the request rate (a tick grows with the latency range recorded, and latencies under valgrind are longer). Its cost is the inclusive cost of that function's call tree, computed from the call graph."
echo
echo "Workers: \`valgrind --tool=callgrind --trace-children=yes BIN serve --strategy S --mode M --workers 1 --port 0 --json\`, \`callgrind_control -z\` after $WARMUP warm-up increments, \`-d\` after the load (NEW's \`statelab load\`, native). Load generators: each whole process under callgrind against a native NEW server (shm atomic, $CLIENT_WORKERS workers); marginal = difference of Ir / difference of requests, which cancels start-up and fixed costs. wrk is the same program in both columns (the server is NEW)."
if [[ -n "$NGINX_IR" ]]; then
    echo
    echo "nginx: \`valgrind --tool=callgrind nginx -p DIR -e DIR/error.log -c DIR/nginx.conf\` with \`daemon off; master_process off; worker_processes 1;\`, \`access_log off; keepalive_requests 1000000;\` and \`location / { default_type application/json; return 200 '$NGINX_BODY'; }\` on 127.0.0.1 (the one process valgrind runs is the one that serves), then as for a worker: $WARMUP warm-up increments, \`callgrind_control -z\`, NEW's \`statelab load\` (native, $INCREMENTS increments, concurrency $CONCURRENCY), \`-d\`. Debian's nginx binary is stripped: its exported \`ngx_*\` functions are named, its static ones show up as addresses."
fi
echo

first_key="${CONFIGS%% *}"; first_key="${first_key%%:*}/${first_key##*:}"
if [[ -n "${WORKER_DUMP[NEW/$first_key]:-}" ]]; then
    annotate "${WORKER_DUMP[NEW/$first_key]}" "$WORK/annot-worker-new.txt"
    echo "### NEW worker, ${first_key/\// }: where the instructions go (self cost, $INCREMENTS requests)"
    echo
    python3 "$WORK/profile.py" "$INCREMENTS" "$TOP" "$WORK/annot-worker-new.txt"
    echo
    if [[ -n "${WORKER_DUMP[BASE/$first_key]:-}" ]]; then
        annotate "${WORKER_DUMP[BASE/$first_key]}" "$WORK/annot-worker-base.txt"
        echo "### BASE worker, ${first_key/\// }: the same groups"
        echo
        python3 "$WORK/profile.py" "$INCREMENTS" "$TOP" "$WORK/annot-worker-base.txt" --groups-only
        echo
    fi
fi
if [[ -n "$NGINX_DUMP" ]]; then
    annotate "$NGINX_DUMP" "$WORK/annot-nginx.txt"
    echo "### nginx: where the instructions go (self cost, $INCREMENTS requests)"
    echo
    python3 "$WORK/profile.py" "$INCREMENTS" "$TOP" "$WORK/annot-nginx.txt"
    echo
fi
annotate "${LOAD_DUMP[NEW/$LOAD_BIG]}" "$WORK/annot-load-big.txt"
annotate "${LOAD_DUMP[NEW/$LOAD_SMALL]}" "$WORK/annot-load-small.txt"
echo "### NEW statelab load: where the instructions go (self cost, $LOAD_BIG-increment run minus the $LOAD_SMALL-increment run, per request)"
echo
echo "Of this marginal, $(group3 "$(per "$((${PROGRESS_IR[NEW/$LOAD_BIG]} - ${PROGRESS_IR[NEW/$LOAD_SMALL]}))" "$((LOAD_BIG - LOAD_SMALL))")") a request is the progress reporter (inclusive: HdrHistogram percentiles and snapshots, mostly), which a native run pays far less of per request."
echo
python3 "$WORK/profile.py" "$((LOAD_BIG - LOAD_SMALL))" "$TOP" "$WORK/annot-load-big.txt" "$WORK/annot-load-small.txt"
echo
if [[ "$WRK" != 0 ]]; then
    d=$(find "$WORK" -maxdepth 1 -name "cgwrk-$WRK_LONG.*.out" | head -1)
    annotate "$d" "$WORK/annot-wrk.txt"
    echo "### wrk: groups (whole ${WRK_LONG}s run, ${WRK_REQ[$WRK_LONG]} requests)"
    echo
    python3 "$WORK/profile.py" "${WRK_REQ[$WRK_LONG]}" 8 "$WORK/annot-wrk.txt"
    echo
fi
if [[ -n "${KEEP:-}" ]]; then
    mkdir -p "$KEEP"
    cp "$WORK"/cg*.out* "$WORK"/annot-*.txt "$WORK"/*.json "$WORK"/wrk-*.out "$KEEP"/ 2>/dev/null || true
    say "== callgrind outputs copied to $KEEP"
fi
say "== done"

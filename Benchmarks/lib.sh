# Benchmarks/lib.sh: what run.sh, open-model-rate.sh, exit-times.sh and
# memory.sh share. It is sourced, not run:
#
#   ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
#   . "$ROOT/Benchmarks/lib.sh"
#   bench_init memory.sh 2
#
# The caller sets ROOT (the checkout) and BIN (the statelab binary), and
# SKIP_BUILD for bench_build_statelab. The functions set these globals, which
# the scripts read: WORK (the temp dir), SERVER_PID, PORT, URL, WORKER_PIDS
# and RUN_DIR (from the server's ready line). LOAD_PID is the script's: set it
# while a process runs in the background, so that an exit stops it.
#
#   bench_init NAME STATUS
#       Names the script in messages ("NAME: ...") and sets the exit status of
#       a failure: die, and a worker or run directory left behind at the exit.
#   say MESSAGE...
#       Prints MESSAGE on stderr.
#   die MESSAGE...
#       Prints "NAME: MESSAGE" on stderr and exits with the failure STATUS.
#   bench_require_tools [--hint] TOOL...
#       Dies unless every TOOL is on PATH ("TOOL is missing"; with --hint,
#       followed by "(apt-get install TOOL)").
#   bench_make_workdir PREFIX
#       Creates the temp dir WORK (${TMPDIR:-/tmp}/PREFIX.XXXXXX), clears the
#       pid globals, and installs the traps: bench_cleanup on EXIT, and exit
#       130 on SIGINT, 143 on SIGTERM (which run bench_cleanup too).
#   bench_wait_gone PID SECONDS
#       Waits up to SECONDS for process PID to be gone (polled every 0.1 s);
#       returns 0 if it is, 1 if it is still there.
#   bench_stop_pid PID WHAT
#       Stops a process by its pid: SIGTERM, then SIGKILL if it is still
#       there after 10 s (saying "NAME: WHAT PID ignored SIGTERM..." on
#       stderr); reaps it. Nothing but a wait if it has already exited.
#   bench_cleanup
#       The EXIT trap: stops LOAD_PID, then SERVER_PID, with bench_stop_pid;
#       waits up to 5 s for each of WORKER_PIDS to die with its supervisor
#       and kills any that does not; says so if RUN_DIR is still there;
#       removes WORK. Exits with the script's status, or with the failure
#       STATUS when a worker or the run directory was left.
#   bench_build_statelab MISSING_HINT [WARNING_TAIL]
#       Unless SKIP_BUILD=1 or BIN names another binary than
#       ROOT/.build/release/statelab, runs `swift build -c release --product
#       statelab` in the current directory (at most an hour, its output on
#       stderr). Then dies "BIN not found; MISSING_HINT" unless BIN is
#       executable, and warns "BIN does not look like a release
#       build<WARNING_TAIL>" when its path does not say release.
#   bench_start_server WORKERS SECONDS [STRATEGY MODE]
#       Starts `BIN serve --strategy STRATEGY --mode MODE --workers WORKERS
#       --port 0 --json` (shm atomic unless given) in the background with TMPDIR=WORK (so its run
#       directory is inside WORK), output in WORK/serve.out and serve.err;
#       sets SERVER_PID, then waits up to SECONDS for its ready line and sets
#       URL, PORT, WORKER_PIDS and RUN_DIR from it. Dies (showing serve.err)
#       if the server exits first, or if no ready line came in time.
#   bench_write_block README START END BLOCK [APPENDIX]
#       Puts the file BLOCK (which begins with the line START and ends with
#       END, HTML comment markers) in README in place of the lines from START
#       to END; when README has no START line, appends APPENDIX (a file: a
#       heading and BLOCK) or, without one, BLOCK.
#
# Every wait here is bounded, and every process is stopped by its pid.

# The globals set here are read by the scripts (SC2034: "appears unused").
# shellcheck shell=bash disable=SC2034

bench_init() {
    BENCH_NAME=$1
    BENCH_FAILURE_STATUS=$2
}

say() { printf '%s\n' "$*" >&2; }
die() { say "$BENCH_NAME: $*"; exit "$BENCH_FAILURE_STATUS"; }

bench_require_tools() {
    local hint=0 tool
    if [[ "${1:-}" == --hint ]]; then hint=1; shift; fi
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            if [[ $hint == 1 ]]; then die "$tool is missing (apt-get install $tool)"; fi
            die "$tool is missing"
        fi
    done
}

bench_make_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    SERVER_PID=""
    WORKER_PIDS=""
    RUN_DIR=""
    LOAD_PID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_wait_gone() {
    local pid=$1 seconds=$2
    for _ in $(seq 1 $((seconds * 10))); do  # every 0.1 s
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null
}

bench_stop_pid() {
    local pid=$1 what=$2
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    if ! bench_wait_gone "$pid" 10; then
        say "$BENCH_NAME: $what $pid ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    [[ -z "$LOAD_PID" ]] || bench_stop_pid "$LOAD_PID" load
    [[ -z "$SERVER_PID" ]] || bench_stop_pid "$SERVER_PID" server
    # Workers die with their supervisor (PR_SET_PDEATHSIG); wait for that, bounded.
    for pid in $WORKER_PIDS; do
        if ! bench_wait_gone "$pid" 5; then
            say "$BENCH_NAME: worker $pid still alive after its supervisor stopped; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            status=$BENCH_FAILURE_STATUS
        fi
    done
    if [[ -n "$RUN_DIR" && -e "$RUN_DIR" ]]; then
        say "$BENCH_NAME: the server left its run directory $RUN_DIR behind"
        status=$BENCH_FAILURE_STATUS
    fi
    rm -rf "$WORK"
    exit "$status"
}

bench_build_statelab() {
    local missing_hint=$1 warning_tail=${2:-}
    if [[ "$SKIP_BUILD" != 1 && "$BIN" == "$ROOT/.build/release/statelab" ]]; then
        say "== swift build -c release (may take several minutes)"
        timeout 3600 swift build -c release --product statelab >&2
    fi
    [[ -x "$BIN" ]] || die "$BIN not found; $missing_hint"
    [[ "$BIN" == *release* ]] || say "   warning: $BIN does not look like a release build$warning_tail"
}

bench_start_server() {
    local workers=$1 seconds=$2 strategy=${3:-shm} mode=${4:-atomic} ready=""
    say "== starting statelab serve --strategy $strategy --mode $mode --workers $workers"
    # TMPDIR keeps the server's run directory inside our temp dir.
    TMPDIR="$WORK" "$BIN" serve --strategy "$strategy" --mode "$mode" --workers "$workers" --port 0 --json \
        >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 $((seconds * 10))); do  # every 0.1 s
        if ready=$(grep -m1 '^{' "$WORK/serve.out" 2>/dev/null); then break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; die "the server exited before it was ready"; }
        sleep 0.1
    done
    [[ -n "$ready" ]] || die "the server printed no ready line within $seconds s"
    URL=$(jq -r .url <<<"$ready")
    PORT=$(jq -r .port <<<"$ready")
    WORKER_PIDS=$(jq -r '.pids[]' <<<"$ready" | tr '\n' ' ')
    RUN_DIR=$(jq -r .run_dir <<<"$ready")
}

bench_write_block() {
    local readme=$1 start=$2 end=$3 block=$4 appendix=${5:-$4}
    if grep -qF -- "$start" "$readme" 2>/dev/null; then
        awk -v block="$block" -v start="$start" -v end="$end" '
            index($0, start) { while ((getline line < block) > 0) print line; skipping = 1; next }
            index($0, end) { skipping = 0; next }
            !skipping { print }
        ' "$readme" >"$WORK/README.new"
        cat "$WORK/README.new" >"$readme"
    else
        { echo; cat "$appendix"; } >>"$readme"
    fi
}

# bench_nginx_conf OUT DIR PORT MASTER WORKERS LOCATION: writes a private
# nginx.conf to OUT: in the foreground (daemon off), master_process MASTER
# (on/off), WORKERS worker processes, its pid, logs and temp files under DIR,
# listening on 127.0.0.1:PORT only, no access log, keep-alive with no request
# limit worth the name; LOCATION is the body of `location / { ... }`.
bench_nginx_conf() {
    local out=$1 dir=$2 port=$3 master=$4 workers=$5 location=$6
    cat >"$out" <<NGINX
daemon off;
master_process $master;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location / { $location }
    }
}
NGINX
}

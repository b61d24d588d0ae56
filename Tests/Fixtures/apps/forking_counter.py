"""A pre-fork counter app, shaped like uvicorn or gunicorn with --workers N.

The master binds 127.0.0.1:PORT and listens, then forks N workers that all
accept() from the inherited socket; the master keeps the socket open too,
as those masters do. Each worker keeps its own module-level counter (under a
lock, so it loses nothing): the app has one counter per worker. With
--shared-counter the workers share one counter in shared memory instead
(multiprocessing.Value, locked), so nothing is lost or divergent.

POST /increment -> {"count": n, "pid": <worker pid>}
GET  /report    -> {"count": n, "pid": <worker pid>}
POST /reset     -> {"count": 0, "pid": <worker pid>}

The master waits for its workers; on SIGTERM it terminates them and exits.
Standard library only. Loopback only.

Usage: forking_counter.py --port PORT [--workers N] [--fields PID,COUNT]
                          [--pid-header-only] [--no-pid] [--shared-counter] [--respawn]
                          [--marker TEXT]
  --fields PID,COUNT  name the answer's fields (default pid,count)
  --pid-header-only   leave the pid out of the body; send X-Worker-Pid instead
  --no-pid            name the worker nowhere, as real apps do
  --respawn           fork a new worker when one dies (as gunicorn and
                      uvicorn >= 0.30 do), at most 100 times
  --marker TEXT       ignored; lets a test find these processes in /proc
"""
import argparse
import http.server
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading

count = 0
lock = threading.Lock()
options = None
shared = None  # multiprocessing.Value with --shared-counter


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle and delayed
    # ACKs hold every answer about 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, value):
        pid_field, count_field = options.fields
        fields = {count_field: value}
        if not options.pid_header_only and not options.no_pid:
            fields[pid_field] = os.getpid()
        body = json.dumps(fields).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if options.pid_header_only:
            self.send_header("X-Worker-Pid", str(os.getpid()))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/increment":
            if shared is not None:
                with shared.get_lock():
                    shared.value += 1
                    value = shared.value
            else:
                with lock:
                    count += 1
                    value = count
            self.answer(200, value)
        elif self.path == "/reset":
            if shared is not None:
                with shared.get_lock():
                    shared.value = 0
            else:
                with lock:
                    count = 0
            self.answer(200, 0)
        else:
            self.answer(404, 0)

    def do_GET(self):
        if self.path != "/report":
            self.answer(404, 0)
            return
        if shared is not None:
            with shared.get_lock():
                value = shared.value
        else:
            with lock:
                value = count
        self.answer(200, value)


def serve(listener):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server = http.server.ThreadingHTTPServer(listener.getsockname(), Handler, bind_and_activate=False)
    server.daemon_threads = True
    # A blocking accept(): after the first connection the workers wait in
    # accept() itself, where the kernel wakes one waiter per connection, in
    # turn, so fresh connections reach every worker. (Waiting in select() and
    # accepting without blocking, the worker that wakes first wins every race:
    # on a busy machine one worker could go 10 s without a connection. Real
    # servers differ; statelab reads a shared socket best effort either way.)
    listener.setblocking(True)
    server.socket = listener
    server.serve_forever(poll_interval=0.5)


def main():
    global options, shared
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fields", default="pid,count")
    parser.add_argument("--pid-header-only", action="store_true")
    parser.add_argument("--no-pid", action="store_true")
    parser.add_argument("--shared-counter", action="store_true")
    parser.add_argument("--respawn", action="store_true")
    parser.add_argument("--marker", default="")
    options = parser.parse_args()
    options.fields = options.fields.split(",")
    if options.shared_counter:
        shared = multiprocessing.get_context("fork").Value("q", 0)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", options.port))
    listener.listen(128)

    def fork_worker():
        pid = os.fork()
        if pid == 0:
            try:
                serve(listener)
            finally:
                os._exit(0)
        return pid

    workers = [fork_worker() for _ in range(options.workers)]

    def terminate(signum, frame):
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in workers:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    print("forking_counter: master %d serving 127.0.0.1:%d with workers %s"
          % (os.getpid(), options.port, " ".join(map(str, workers))), flush=True)
    # Bounded: each wait returns one worker, and at most 100 are replaced.
    respawns = 100 if options.respawn else 0
    while workers:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        if pid not in workers:
            continue
        if respawns > 0:
            respawns -= 1
            workers[workers.index(pid)] = fork_worker()
        else:
            workers.remove(pid)


if __name__ == "__main__":
    main()

"""A counter app whose GET /report lies once it has counted anything.

POST /increment answers {"count": n, "pid": <pid>} honestly; GET /report
answers count + 1000 once count > 0 (0 before, so statelab's baseline read
sees an honest 0). POST /reset sets the count to 0. Loopback only.

Usage: lying_report.py READY_FILE [PORT]
Once it listens it writes "PORT PID" to READY_FILE (by rename, so a reader
never sees half of it). PORT 0 or absent: the kernel picks one.
"""
import http.server
import json
import os
import sys
import threading

LIE = 1000
count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle and delayed
    # ACKs hold every answer about 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, value):
        body = json.dumps({"count": value, "pid": os.getpid()}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Worker-Pid", str(os.getpid()))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/increment":
            with lock:
                count += 1
                value = count
            self.answer(200, value)
        elif self.path == "/reset":
            with lock:
                count = 0
            self.answer(200, 0)
        else:
            self.answer(404, 0)

    def do_GET(self):
        if self.path != "/report":
            self.answer(404, 0)
            return
        with lock:
            value = count + LIE if count > 0 else count
        self.answer(200, value)


def main():
    ready = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    with open(ready + ".tmp", "w") as f:
        f.write("%d %d" % (server.server_address[1], os.getpid()))
    os.rename(ready + ".tmp", ready)
    server.serve_forever()


if __name__ == "__main__":
    main()

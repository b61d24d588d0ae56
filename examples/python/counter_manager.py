"""One multiprocessing manager per run of the app, shared by all its workers.

Used by manager_naive.py and manager_locked.py; also the manager's own
program (`python counter_manager.py DIR ROOT_PID`, started by a worker).

- Address: a Unix socket in a 0700 directory named after the uvicorn process
  (see app_instance.py), so two apps never share a manager and nothing
  listens on a port. The authkey is COUNTER_MANAGER_AUTHKEY, or 32 random
  bytes the first worker writes there (mode 0600).
- Started once: the first worker that finds no manager takes an flock on
  start.lock, checks again, and starts one; the others wait on the flock and
  then connect.
- Its own process, not `BaseManager.start()`: that child would be joined by
  the starting worker at exit, and shut down when that worker stops, taking
  the count with it. Here the manager outlives any worker (a worker that
  uvicorn restarts reconnects to the same count) and watches the uvicorn
  process instead: once it is gone, however the app stopped, the manager
  removes its directory and exits within half a second.
"""
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.managers import AcquirerProxy, BaseManager, DictProxy

from app_instance import app_root_pid, pid_alive, private_dir

START_TIMEOUT_S = 10.0
_counts = {"count": 0}
_lock = threading.Lock()
_started = []  # the Popen of a manager this worker started; kept so it is never collected


def _get_counts():
    return _counts


def _get_lock():
    return _lock


class CounterManager(BaseManager):
    pass


CounterManager.register("counts", callable=_get_counts, proxytype=DictProxy)
# A worker killed while it holds this lock never releases it: every later
# locked increment then waits forever. multiprocessing has no robust lock.
CounterManager.register("lock", callable=_get_lock, proxytype=AcquirerProxy)


def _paths(directory):
    return os.path.join(directory, "manager.sock"), os.path.join(directory, "authkey")


def _authkey(directory) -> bytes:
    if "COUNTER_MANAGER_AUTHKEY" in os.environ:
        return os.environ["COUNTER_MANAGER_AUTHKEY"].encode()
    with open(_paths(directory)[1], "rb") as file:
        return file.read()


def _connect(directory) -> CounterManager:
    manager = CounterManager(address=_paths(directory)[0], authkey=_authkey(directory))
    manager.connect()
    return manager


def _start(directory):
    address, key_path = _paths(directory)
    if os.path.exists(address):
        os.unlink(address)  # left by a manager that was killed; we hold start.lock
    if "COUNTER_MANAGER_AUTHKEY" not in os.environ:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(32))
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), directory, str(app_root_pid())],
        stdin=subprocess.DEVNULL, start_new_session=True)
    _started.append(process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the counter manager exited at start with status {process.returncode}")
        try:
            return _connect(directory)
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the counter manager did not listen on {address} within {START_TIMEOUT_S}s")


def connect_or_start() -> CounterManager:
    """The manager of this run of the app: connect, or start it if nobody has."""
    directory = private_dir("manager")
    try:
        return _connect(directory)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    with open(os.path.join(directory, "start.lock"), "w") as lock_file:
        # Blocking is bounded: the holder gives up after START_TIMEOUT_S, and
        # the kernel releases the lock if it dies.
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            return _connect(directory)
        except (FileNotFoundError, ConnectionRefusedError):
            return _start(directory)


def _serve(directory: str, root_pid: int):
    manager = CounterManager(address=_paths(directory)[0], authkey=_authkey(directory))
    server = manager.get_server()  # bound and listening from here on

    def clean_up_and_exit(*_):
        shutil.rmtree(directory, ignore_errors=True)
        os._exit(0)

    def watch_app():
        while pid_alive(root_pid):
            time.sleep(0.5)
        clean_up_and_exit()

    signal.signal(signal.SIGTERM, clean_up_and_exit)
    signal.signal(signal.SIGINT, clean_up_and_exit)
    threading.Thread(target=watch_app, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))

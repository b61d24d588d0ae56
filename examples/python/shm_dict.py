"""A counter in a dict kept in POSIX shared memory (standard library only).

The dict is JSON in one multiprocessing.shared_memory segment that every
worker maps. LOCKED: each increment loads the dict, adds 1 and stores it back
while holding an flock on a file (between workers) and a threading.Lock
(between one worker's threads), so no update is lost; without the lock, this
loses updates like the naive stores.
"""
import fcntl
import json
import os
import shutil
import struct
import threading
from contextlib import asynccontextmanager, contextmanager
from multiprocessing.shared_memory import SharedMemory

from fastapi import FastAPI

from app_instance import app_root_pid, private_dir

SIZE = 4096
HEADER = struct.Struct("<I")  # the length of the JSON that follows; 0 means {}


class SharedDict:
    """A small dict in shared memory, one segment per run of the app.

    Lifetime: every worker holds a shared flock on members.lock while it runs.
    A worker that stops gives its own up and then tries for an exclusive one:
    only the last worker of the app gets it, and it removes the segment and
    the directory. A worker that uvicorn restarts finds the segment intact.
    """

    def __init__(self):
        self.directory = private_dir("shm")
        self.name = f"statelab-shm-{os.getuid()}-{app_root_pid()}"
        self.thread_lock = threading.Lock()
        self.data_lock = open(os.path.join(self.directory, "data.lock"), "w")
        self.members = open(os.path.join(self.directory, "members.lock"), "w")
        fcntl.flock(self.members, fcntl.LOCK_SH)
        with self.locked():  # so no worker maps a segment another is still sizing
            try:
                self.segment = _segment(self.name, create=True)
            except FileExistsError:
                self.segment = _segment(self.name, create=False)

    @contextmanager
    def locked(self):
        with self.thread_lock:
            fcntl.flock(self.data_lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.data_lock, fcntl.LOCK_UN)

    def load(self) -> dict:
        (length,) = HEADER.unpack_from(self.segment.buf, 0)
        return json.loads(bytes(self.segment.buf[HEADER.size:HEADER.size + length])) if length else {}

    def store(self, value: dict):
        data = json.dumps(value).encode()
        if HEADER.size + len(data) > SIZE:
            raise ValueError(f"the dict needs {len(data)} bytes; the segment has {SIZE - HEADER.size}")
        self.segment.buf[HEADER.size:HEADER.size + len(data)] = data
        HEADER.pack_into(self.segment.buf, 0, len(data))

    def close(self):
        self.segment.close()
        fcntl.flock(self.members, fcntl.LOCK_UN)
        try:
            fcntl.flock(self.members, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another worker still runs
        try:
            self.segment.unlink()
        except FileNotFoundError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


def _segment(name: str, create: bool) -> SharedMemory:
    # Python < 3.13 registers a segment with the resource tracker, which
    # unlinks it when its processes are gone. Under `uvicorn --workers` the
    # workers share the uvicorn process's tracker, so that is when the app
    # stops; unlink() in close() unregisters it first. (Workers that each
    # start their own tracker would lose the segment when any one exits.)
    return SharedMemory(name, create=create, size=SIZE if create else 0)


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.shared = SharedDict()
    yield
    app.state.shared.close()


app = FastAPI(lifespan=lifespan)


@app.post("/increment")
def increment():
    shared = app.state.shared
    with shared.locked():
        value = shared.load()
        value["count"] = value.get("count", 0) + 1
        shared.store(value)
    return {"count": value["count"], "pid": os.getpid()}


@app.get("/report")
def report():
    shared = app.state.shared
    with shared.locked():
        return {"count": shared.load().get("count", 0), "pid": os.getpid()}


@app.post("/reset")
def reset():
    shared = app.state.shared
    with shared.locked():
        value = shared.load()
        value["count"] = 0
        shared.store(value)
    return {"count": 0, "pid": os.getpid()}

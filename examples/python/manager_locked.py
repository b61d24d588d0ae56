"""A counter in a multiprocessing manager's dict, behind a manager Lock.

Same manager as manager_naive.py (see counter_manager.py), but the read and
the write happen while holding a Lock that lives in the manager process, so
no increment is lost. Each increment costs four round trips to the manager.
"""
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from counter_manager import connect_or_start


@asynccontextmanager
async def lifespan(app: FastAPI):
    manager = connect_or_start()
    app.state.counts = manager.counts()
    app.state.lock = manager.lock()
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/increment")
def increment():
    counts = app.state.counts
    with app.state.lock:
        value = counts["count"] + 1
        counts["count"] = value
    return {"count": value, "pid": os.getpid()}


@app.get("/report")
def report():
    return {"count": app.state.counts["count"], "pid": os.getpid()}


@app.post("/reset")
def reset():
    with app.state.lock:
        app.state.counts["count"] = 0
    return {"count": 0, "pid": os.getpid()}

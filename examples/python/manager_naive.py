"""A counter in a multiprocessing manager's dict, incremented naively.

One manager process holds the dict for all workers (see counter_manager.py),
so the workers agree; but `d["count"] = d["count"] + 1` is two round trips,
and two workers that read the same value both write it + 1: lost updates.
"""
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from counter_manager import connect_or_start


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.counts = connect_or_start().counts()
    yield


app = FastAPI(lifespan=lifespan)


# Plain `def`: FastAPI runs these in a thread pool, since the proxy blocks.
@app.post("/increment")
def increment():
    counts = app.state.counts
    value = counts["count"] + 1
    counts["count"] = value
    return {"count": value, "pid": os.getpid()}


@app.get("/report")
def report():
    return {"count": app.state.counts["count"], "pid": os.getpid()}


@app.post("/reset")
def reset():
    app.state.counts["count"] = 0
    return {"count": 0, "pid": os.getpid()}

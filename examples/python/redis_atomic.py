"""A counter in Redis, incremented with INCR.

Redis runs each command alone, so INCR reads, adds and writes in one step and
returns the new value: no update is lost, whatever the number of workers.
REDIS_URL names the server (default redis://127.0.0.1:6379/0).
"""
import os

import redis
from fastapi import FastAPI

KEY = "statelab:counter"
app = FastAPI()
store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.post("/increment")
def increment():
    return {"count": store.incr(KEY), "pid": os.getpid()}


@app.get("/report")
def report():
    return {"count": int(store.get(KEY) or 0), "pid": os.getpid()}


@app.post("/reset")
def reset():
    store.set(KEY, 0)
    return {"count": 0, "pid": os.getpid()}

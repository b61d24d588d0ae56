"""A counter in Redis, incremented naively: GET, then SET.

All workers talk to the same redis-server (REDIS_URL, default
redis://127.0.0.1:6379/0), so they agree; but between a worker's GET and its
SET another worker can SET too, and one of the two increments is lost.
"""
import os

import redis
from fastapi import FastAPI

KEY = "statelab:counter"
app = FastAPI()
# A connection pool: thread-safe, shared by the thread pool of this worker.
store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.post("/increment")
def increment():
    value = int(store.get(KEY) or 0) + 1
    store.set(KEY, value)
    return {"count": value, "pid": os.getpid()}


@app.get("/report")
def report():
    return {"count": int(store.get(KEY) or 0), "pid": os.getpid()}


@app.post("/reset")
def reset():
    store.set(KEY, 0)
    return {"count": 0, "pid": os.getpid()}

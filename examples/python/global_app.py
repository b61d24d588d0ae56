"""A counter in a module-level int: the `uvicorn --workers 4` surprise.

Every worker imports this module and gets its own `count`, so nothing is lost
but /report depends on which worker answers, and /reset resets one worker.
Run: uvicorn global_app:app --workers 4 --host 127.0.0.1 --port 8000
"""
import os

from fastapi import FastAPI

app = FastAPI()
count = 0


# async def: every request of a worker runs on its one event-loop thread, and
# nothing awaits between the read and the write, so within a worker the
# increment is exact. What goes wrong is only between workers.
@app.post("/increment")
async def increment():
    global count
    count += 1
    return {"count": count, "pid": os.getpid()}


@app.get("/report")
async def report():
    return {"count": count, "pid": os.getpid()}


@app.post("/reset")
async def reset():
    global count
    count = 0
    return {"count": 0, "pid": os.getpid()}

"""A counter in SQLite, incremented naively: SELECT, then UPDATE.

Every worker opens the same file (sqlite_db.py), so they agree; but the read
and the write are two transactions, and two workers that read the same n
both write n + 1: lost updates, the ORM's `row.n += 1; save()`.
"""
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

import sqlite_db


@asynccontextmanager
async def lifespan(app: FastAPI):
    sqlite_db.create_counter()
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/increment")
def increment():
    value = sqlite_db.read() + 1
    sqlite_db.connection().execute("UPDATE counter SET n = ? WHERE id = 1", (value,))
    return {"count": value, "pid": os.getpid()}


@app.get("/report")
def report():
    return {"count": sqlite_db.read(), "pid": os.getpid()}


@app.post("/reset")
def reset():
    sqlite_db.reset()
    return {"count": 0, "pid": os.getpid()}

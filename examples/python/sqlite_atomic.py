"""A counter in SQLite, incremented in one statement.

`UPDATE counter SET n = n + 1 RETURNING n` (SQLite 3.35+) reads and writes
in one transaction under SQLite's write lock, and returns the new value: no
update is lost, and every increment answers a different count.
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
    # fetchall, not fetchone: the statement (and its transaction) ends only
    # once it has been stepped to the end.
    rows = sqlite_db.connection().execute("UPDATE counter SET n = n + 1 WHERE id = 1 RETURNING n").fetchall()
    return {"count": rows[0][0], "pid": os.getpid()}


@app.get("/report")
def report():
    return {"count": sqlite_db.read(), "pid": os.getpid()}


@app.post("/reset")
def reset():
    sqlite_db.reset()
    return {"count": 0, "pid": os.getpid()}

"""The SQLite file shared by sqlite_naive.py and sqlite_atomic.py (not an app).

The path is COUNTER_SQLITE_PATH, by default counter.sqlite3 in a
statelab-python-examples directory under the temp dir. The file outlives the
app, as a real database does: POST /reset, or delete the file, to start over.
"""
import os
import sqlite3
import tempfile
import threading

_local = threading.local()


def database_path() -> str:
    if "COUNTER_SQLITE_PATH" in os.environ:
        return os.environ["COUNTER_SQLITE_PATH"]
    directory = os.path.join(tempfile.gettempdir(), "statelab-python-examples")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, "counter.sqlite3")


def connection() -> sqlite3.Connection:
    """This thread's connection (a sqlite3 connection belongs to one thread).

    isolation_level=None is autocommit: each statement is its own transaction.
    timeout=30 waits that long for another writer's lock before failing.
    """
    db = getattr(_local, "db", None)
    if db is None:
        db = sqlite3.connect(database_path(), timeout=30, isolation_level=None)
        _local.db = db
    return db


def create_counter():
    db = connection()
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
    db.execute("INSERT OR IGNORE INTO counter (id, n) VALUES (1, 0)")


def read() -> int:
    return connection().execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]


def reset():
    connection().execute("UPDATE counter SET n = 0 WHERE id = 1")

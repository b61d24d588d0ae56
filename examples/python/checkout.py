"""A shop's checkout: FastAPI and the standard library's sqlite3.

    SHOP_DB=/tmp/shop/shop.db uvicorn checkout:app --workers 4 --host 127.0.0.1 --port 8000

Environment:
  SHOP_DB        the SQLite file (required; its directory must exist). The
                 first start creates it with sku A1 in stock; it outlives the
                 app: POST /stock/A1/reset, or delete the file, to start over.
  STOCK          A1's stock when the file is created, and after a reset
                 (default 100).
  CHECKOUT_MODE  naive (default): SELECT the stock, refuse if it is 0, else
                 UPDATE it to stock - 1, two statements. Two workers that read
                 the same stock both sell the item: the shop oversells and the
                 stock goes wrong.
                 conditional: one `UPDATE ... SET stock = stock - 1 WHERE
                 sku = ? AND stock > 0 RETURNING stock`, which never sells
                 more than there is.

Endpoints:
  POST /checkout           body {"sku": "A1"}: 200 {"sku": "A1", "stock": n}
                           with the stock left, or 409 {"error": "sold out"}
  GET  /stock/{sku}        200 {"sku": "A1", "stock": n}
  POST /stock/{sku}/reset  back to STOCK: 200 {"sku": "A1", "stock": n}
An unknown sku is a 404 {"error": "unknown sku"}.
"""
import os
import sqlite3
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

settings = {}
_local = threading.local()


def db() -> sqlite3.Connection:
    """This thread's connection (FastAPI runs `def` endpoints in a thread pool).

    isolation_level=None is autocommit: each statement is its own transaction.
    timeout=5 is SQLite's busy timeout: how long to wait for another worker's
    write lock before failing with "database is locked".
    """
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(settings["database"], timeout=5, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        _local.conn = conn
    return conn


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Checked here, not at import: a worker that fails its startup makes
    # uvicorn --workers stop, where one that fails to import is restarted
    # over and over.
    database = os.environ.get("SHOP_DB")
    if not database:
        raise RuntimeError("SHOP_DB is not set: set it to the SQLite file to use, e.g. SHOP_DB=/tmp/shop/shop.db")
    mode = os.environ.get("CHECKOUT_MODE", "naive")
    if mode not in ("naive", "conditional"):
        raise RuntimeError(f"CHECKOUT_MODE is {mode!r}: use naive or conditional")
    try:
        stock = int(os.environ.get("STOCK", "100"))
    except ValueError:
        raise RuntimeError(f"STOCK is {os.environ['STOCK']!r}: it must be a whole number") from None
    settings.update(database=database, mode=mode, stock=stock)
    # Every worker runs this at once: IF NOT EXISTS and OR IGNORE make it safe.
    db().execute("CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, stock INTEGER NOT NULL)")
    db().execute("INSERT OR IGNORE INTO stock (sku, stock) VALUES ('A1', ?)", (stock,))
    yield


app = FastAPI(lifespan=lifespan)


class CheckoutRequest(BaseModel):
    sku: str


def unknown_sku() -> JSONResponse:
    return JSONResponse(status_code=404, content={"error": "unknown sku"})


def sold_out() -> JSONResponse:
    return JSONResponse(status_code=409, content={"error": "sold out"})


@app.post("/checkout")
def checkout(order: CheckoutRequest):
    if settings["mode"] == "conditional":
        rows = db().execute(
            "UPDATE stock SET stock = stock - 1 WHERE sku = ? AND stock > 0 RETURNING stock", (order.sku,)
        ).fetchall()
        if rows:
            return {"sku": order.sku, "stock": rows[0][0]}
        if db().execute("SELECT 1 FROM stock WHERE sku = ?", (order.sku,)).fetchone() is None:
            return unknown_sku()
        return sold_out()
    row = db().execute("SELECT stock FROM stock WHERE sku = ?", (order.sku,)).fetchone()
    if row is None:
        return unknown_sku()
    stock = row[0]
    if stock <= 0:
        return sold_out()
    db().execute("UPDATE stock SET stock = ? WHERE sku = ?", (stock - 1, order.sku))
    return {"sku": order.sku, "stock": stock - 1}


@app.get("/stock/{sku}")
def read_stock(sku: str):
    row = db().execute("SELECT stock FROM stock WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        return unknown_sku()
    return {"sku": sku, "stock": row[0]}


@app.post("/stock/{sku}/reset")
def reset_stock(sku: str):
    rows = db().execute("UPDATE stock SET stock = ? WHERE sku = ? RETURNING stock", (settings["stock"], sku)).fetchall()
    if not rows:
        return unknown_sku()
    return {"sku": sku, "stock": rows[0][0]}

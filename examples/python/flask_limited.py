"""A Flask API rate limited by Flask-Limiter.

    gunicorn -w 4 -b 127.0.0.1:8000 flask_limited:app

Environment:
  PING_LIMIT       the limit on POST /api/ping for each client address
                   (default "50 per minute").
  LIMITER_STORAGE  where Flask-Limiter keeps its counts (default memory://).
                   memory:// is a dict in each gunicorn worker: with -w 4 each
                   worker counts on its own, so a client gets up to 4 times
                   the limit. redis://127.0.0.1:6379 shares one count.

Endpoints:
  GET  /          {"status": "up"}, not limited
  POST /api/ping  {"ok": true}; over the limit Flask-Limiter's 429. The
                  answers carry X-RateLimit-Limit, -Remaining and -Reset.
"""
import os

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

app = Flask(__name__)
app.config["RATELIMIT_HEADERS_ENABLED"] = True

limiter = Limiter(
    get_remote_address,
    app=app,
    storage_uri=os.environ.get("LIMITER_STORAGE", "memory://"),
)


@app.get("/")
@limiter.exempt
def index():
    return {"status": "up"}


@app.post("/api/ping")
@limiter.limit(os.environ.get("PING_LIMIT", "50 per minute"))
def ping():
    return {"ok": True}

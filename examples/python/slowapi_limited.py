"""A FastAPI API rate limited by slowapi.

    uvicorn slowapi_limited:app --workers 4 --host 127.0.0.1 --port 8000

Environment:
  PING_LIMIT       the limit on POST /api/ping for each client address
                   (default "100/minute").
  LIMITER_STORAGE  where slowapi keeps its counts (default memory://).
                   memory:// is a dict in each uvicorn worker: with
                   --workers 4 each worker counts on its own, so a client gets
                   up to 4 times the limit. redis://127.0.0.1:6379 shares one
                   count.

Endpoints:
  GET  /          {"status": "up"}, not limited
  POST /api/ping  {"ok": true}; over the limit slowapi's 429
                  {"error": "Rate limit exceeded: ..."}. The answers carry
                  X-RateLimit-Limit, -Remaining and -Reset.
"""
import os

from fastapi import FastAPI, Request, Response
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

limiter = Limiter(
    key_func=get_remote_address,
    storage_uri=os.environ.get("LIMITER_STORAGE", "memory://"),
    headers_enabled=True,
)
app = FastAPI()
app.state.limiter = limiter
app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)


@app.get("/")
async def index():
    return {"status": "up"}


@app.post("/api/ping")
@limiter.limit(os.environ.get("PING_LIMIT", "100/minute"))
async def ping(request: Request, response: Response):
    # slowapi puts the X-RateLimit-* headers on `response`.
    return {"ok": True}

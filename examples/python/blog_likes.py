"""A blog's like button: FastAPI and the SQLAlchemy 2.x ORM over SQLite.

    BLOG_DB=/tmp/blog/blog.db uvicorn blog_likes:app --workers 4 --host 127.0.0.1 --port 8000

Environment:
  BLOG_DB     the SQLite file (required; its directory must exist). It is
              created on first start with post 1 at 0 likes, and outlives the
              app: POST /posts/1/likes/reset, or delete the file, to start over.
  LIKES_MODE  naive (default): the ORM's read-modify-write,
              `post = session.get(Post, id); post.likes += 1; session.commit()`.
              Two workers that read the same count both write count + 1, and
              one like is lost.
              atomic: one `UPDATE posts SET likes = likes + 1 WHERE id = :id
              RETURNING likes`, so no like is lost.

Endpoints (each answers {"id": 1, "likes": n}; an unknown post is a 404
{"detail": "post not found"}):
  GET  /posts/{id}
  POST /posts/{id}/like           n: the likes after the commit
  POST /posts/{id}/likes/reset    back to 0
"""
import os
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy import Engine, create_engine, event, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.schema import CreateTable


class Base(DeclarativeBase):
    pass


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    likes: Mapped[int] = mapped_column(default=0)


def open_database() -> Engine:
    path = os.environ.get("BLOG_DB")
    if not path:
        raise RuntimeError("BLOG_DB is not set: set it to the SQLite file to use, e.g. BLOG_DB=/tmp/blog/blog.db")
    # timeout: how long SQLite waits for another worker's write lock (its
    # busy timeout) before it fails with "database is locked".
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 5})
    event.listen(engine, "connect", set_sqlite_pragma)
    # IF NOT EXISTS and OR IGNORE rather than metadata.create_all(): all the
    # workers run this at once, and create_all's look-then-create races.
    with engine.begin() as conn:
        conn.execute(CreateTable(Post.__table__, if_not_exists=True))
        conn.execute(insert(Post).values(id=1, likes=0).on_conflict_do_nothing())
    return engine


def set_sqlite_pragma(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Checked here, not at import: a worker that fails its startup makes
    # uvicorn --workers stop, where one that fails to import is restarted
    # over and over.
    likes_mode = os.environ.get("LIKES_MODE", "naive")
    if likes_mode not in ("naive", "atomic"):
        raise RuntimeError(f"LIKES_MODE is {likes_mode!r}: use naive or atomic")
    app.state.likes_mode = likes_mode
    app.state.engine = open_database()
    yield
    app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


def get_session(request: Request):
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_post(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None:
        raise HTTPException(status_code=404, detail="post not found")
    return post


@app.get("/posts/{post_id}")
def read_post(post_id: int, session: SessionDep):
    post = get_post(session, post_id)
    return {"id": post.id, "likes": post.likes}


@app.post("/posts/{post_id}/like")
def like_post(post_id: int, request: Request, session: SessionDep):
    if request.app.state.likes_mode == "atomic":
        likes = session.execute(
            update(Post).where(Post.id == post_id).values(likes=Post.likes + 1).returning(Post.likes)
        ).scalar_one_or_none()
        session.commit()
        if likes is None:
            raise HTTPException(status_code=404, detail="post not found")
        return {"id": post_id, "likes": likes}
    post = get_post(session, post_id)
    post.likes += 1
    session.commit()
    return {"id": post.id, "likes": post.likes}


@app.post("/posts/{post_id}/likes/reset")
def reset_likes(post_id: int, session: SessionDep):
    post = get_post(session, post_id)
    post.likes = 0
    session.commit()
    return {"id": post.id, "likes": post.likes}

"""Helpers shared by the examples (standard library only, not an app).

`app_root_pid()` names one run of the app: under `uvicorn --workers N` every
worker is a multiprocessing child of the same uvicorn process, so its pid is
the same in all workers and new for every start of the app; without
--workers the app runs in uvicorn's own process.
"""
import multiprocessing
import os
import stat
import tempfile


def app_root_pid() -> int:
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else os.getpid()


def private_dir(kind: str) -> str:
    """A 0700 directory for this run of the app, shared by its workers.

    The first worker creates it; the others check it is ours and private
    before trusting what is in it (a socket, an authkey, lock files).
    """
    path = os.path.join(tempfile.gettempdir(), f"statelab-{kind}-{os.getuid()}-{app_root_pid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise RuntimeError(f"{path} is not a private directory of this user; remove it")
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""One driver per study root: an exclusive ``flock`` on ``{root}/driver.lock``.

    with study_lock(root):        # ConfigError if another live driver holds it
        run_study(...)

The kernel drops a ``flock`` when its process dies (kill -9 included), so a lock left by a dead
driver is never stale: the next driver takes it over and says whose it was. The file records the
holder's pid, host and start time for that message and for ``t2 status``.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from t2.flows.steps import StudyPaths
from t2.infra.config import ConfigError


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def study_lock(root: str | os.PathLike, log=print):
    path = StudyPaths(root).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            h = _holder(path)
            raise ConfigError(
                f"{root}: another t2 driver is running this study (pid {h.get('pid', '?')} on "
                f"{h.get('host', '?')}, since {h.get('started', '?')}); wait for it or stop it"
            ) from None
        previous = _holder(path)
        if previous.get("pid") and not previous.get("released"):
            log(f"taking over the lock of a driver that died (pid {previous['pid']} on "
                f"{previous.get('host', '?')}); resuming")
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        try:
            yield me
        finally:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({**me, "released": True}).encode(), 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock

"""Build-once cache directories shared by concurrent processes (e.g. two ranks on one host).

    path = build_once(root / "corpus-1a2b3c4d", lambda tmp: write_files_into(tmp))

The first caller takes an exclusive ``fcntl`` lock on ``<dir>.lock``, builds into a temporary
sibling directory, writes ``_SUCCESS`` last (t2.infra.storage.mark_done) and renames it into
place; the others block on the lock, then find the finished directory and return at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from t2.infra.storage import is_done, mark_done


def default_cache_dir() -> Path:
    """``$T2_CACHE`` or ``~/.cache/t2``."""
    return Path(os.environ.get("T2_CACHE") or Path.home() / ".cache" / "t2")


def build_once(final: Path, build: Callable[[Path], dict | None]) -> Path:
    """Return ``final``, building it with ``build(tmp_dir) -> manifest`` unless already done."""
    final = Path(final)
    if is_done(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if is_done(final):
            return final
        for stale in final.parent.glob(f".{final.name}.tmp-*"):  # left by a crashed builder
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            manifest = build(tmp)
            mark_done(tmp, manifest)
            if final.exists():  # a crashed earlier build left it without _SUCCESS
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final

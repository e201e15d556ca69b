"""Resumable checkpoints: every rank saves, rank 0 writes the done-marker last, reruns load it.

    from t2.infra.checkpoint import save_checkpoint, latest_checkpoint, load_checkpoint, prune
    save_checkpoint(engine, root, progress=120, client_state={"step": 120, ...})
    found = latest_checkpoint(root)             # (path, manifest) of the newest complete one
    state = load_checkpoint(engine, found[0])   # model + optimizer + RNG restored in place
    import_checkpoint(other_run / "ckpt" / "step-40", root, progress=12)   # continue its state

A checkpoint directory ``root/step-{progress}`` counts only once its ``_SUCCESS`` exists; the
marker is written by rank 0 after a barrier, i.e. after every rank's shard is on disk, and it
records ``progress`` (optimizer steps executed so far) so "latest" never parses file names.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from t2.infra import deepspeed as ds
from t2.infra.dist import barrier, dist_info
from t2.infra.storage import SUCCESS, done_manifest, is_done, mark_done, read_json, write_json

log = logging.getLogger(__name__)


def tag_for(progress: int) -> str:
    return f"step-{progress}"


def rng_state() -> dict:
    # numpy's state as plain lists: checkpoints must load with torch's weights_only unpickler
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(engine, root: str | Path, progress: int, client_state: dict,
                    manifest: dict | None = None) -> Path:
    """Collective: all ranks write shards + loop state; the marker goes last, from rank 0."""
    root, tag = Path(root), tag_for(progress)
    path = root / tag
    if dist_info().rank == 0 and path.exists():
        shutil.rmtree(path)  # leftovers of a crashed save under the same tag
    barrier()
    state = {**client_state, "progress": progress, "rng": rng_state()}
    ds.save(engine, str(root), tag, state)
    barrier()
    if dist_info().rank == 0:
        mark_done(path, {**(manifest or {}), "progress": progress})
    barrier()
    return path


def _manifest(path: Path) -> dict | None:
    try:
        return done_manifest(path)
    except (ValueError, KeyError, OSError):
        return None  # a torn or foreign marker: not a checkpoint


def complete_checkpoints(root: str | Path, verify: bool = False) -> list[tuple[Path, dict]]:
    """All complete checkpoints under ``root``, oldest first; with ``verify``, only those whose
    files still match the checksums in their marker (the others are logged and skipped)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.glob("step-*"):
        manifest = _manifest(p) if p.is_dir() and is_done(p) else None
        if manifest is not None and "progress" in manifest:
            found.append((p, manifest))
    found.sort(key=lambda item: item[1]["progress"])
    return [item for item in found if not verify or verified(item[0])]


def verified(path: Path) -> bool:
    if is_done(path, verify=True):
        return True
    log.warning("t2: checkpoint %s fails its checksums (truncated or corrupted); skipped", path)
    return False


def latest_checkpoint(root: str | Path, verify: bool = True) -> tuple[Path, dict] | None:
    """The newest complete checkpoint; with ``verify`` (default) the newest one whose files
    match their checksums, so a damaged newest checkpoint falls back to the one before."""
    for path, manifest in reversed(complete_checkpoints(root)):
        if not verify or verified(path):
            return path, manifest
    return None


def load_checkpoint(engine, path: str | Path) -> dict:
    """Collective: restore weights, optimizer state and RNG; return the loop state."""
    path = Path(path)
    state = ds.load(engine, str(path.parent), path.name)
    set_rng_state(state["rng"])
    return state


def prune(root: str | Path, keep_last: int = 2, keep=lambda manifest: False) -> list[Path]:
    """Rank 0 removes complete checkpoints older than the newest ``keep_last`` (0: all), except
    those for which ``keep(manifest)`` is true, and incomplete ones older than the newest one."""
    if dist_info().rank != 0:
        return []
    found = complete_checkpoints(root)
    removed = [p for p, m in found[:len(found) - keep_last] if not keep(m)]
    newest = found[-1][0] if found else None
    if newest is not None:
        newest_mtime = newest.stat().st_mtime
        removed += [p for p in Path(root).glob("step-*")
                    if p.is_dir() and not is_done(p) and p.stat().st_mtime < newest_mtime]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def import_checkpoint(src: str | Path, root: str | Path, progress: int,
                      manifest: dict | None = None) -> tuple[Path, bool]:
    """Make the complete checkpoint ``src`` (of another run) this run's ``root/step-{progress}``:
    its files hard-linked (copied where links cannot be made), the marker rewritten with this
    run's ``progress`` and the source's checksums. ``src`` is only read. Returns (path, linked).
    Callers verify ``src`` first (``verified``); loading verifies the copy again."""
    src, dest = Path(src), Path(root) / tag_for(progress)
    files = read_json(src / SUCCESS)["files"]
    if dest.exists():
        shutil.rmtree(dest)  # a torn earlier import
    linked = True
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src / name, dest / name)
        except OSError:  # another file system, or no hard links there
            shutil.copy2(src / name, dest / name)
            linked = False
    write_json(dest / SUCCESS, {"manifest": {**(manifest or {}), "progress": progress},
                                "files": files})
    return dest, linked

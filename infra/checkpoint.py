"""Resumable checkpoints: every rank saves, rank 0 writes the done-marker last, reruns load it.

    from t2.infra.checkpoint import save_checkpoint, latest_checkpoint, load_checkpoint, prune
    save_checkpoint(engine, root, progress=120, client_state={"step": 120, ...})
    found = latest_checkpoint(root)             # (path, manifest) of the newest complete one
    state = load_checkpoint(engine, found[0])   # model + optimizer + RNG restored in place

A checkpoint directory ``root/step-{progress}`` counts only once its ``_SUCCESS`` exists; the
marker is written by rank 0 after a barrier, i.e. after every rank's shard is on disk, and it
records ``progress`` (optimizer steps executed so far) so "latest" never parses file names.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch
from t2.infra import deepspeed as ds
from t2.infra.dist import barrier, dist_info
from t2.infra.storage import done_manifest, is_done, mark_done


def tag_for(progress: int) -> str:
    return f"step-{progress}"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
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


def complete_checkpoints(root: str | Path) -> list[tuple[Path, dict]]:
    """All complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(p, done_manifest(p)) for p in root.glob("step-*") if p.is_dir() and is_done(p)]
    return sorted(found, key=lambda item: item[1]["progress"])


def latest_checkpoint(root: str | Path) -> tuple[Path, dict] | None:
    found = complete_checkpoints(root)
    return found[-1] if found else None


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

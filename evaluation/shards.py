"""Sample shards: which problems each shard holds, and atomic, resumable shard files.

    from t2.evaluation.shards import plan_shards, shard_dir, shard_is_done, write_shard, read_shard
    shards = plan_shards({"arithmetic": ids_a, "sciq": ids_s}, problems_per_shard=16)
    for s in shards:
        d = shard_dir(out, s)                      # {out}/{task}/shard-00003/
        if not shard_is_done(d, s.key):           # done-marker present, checksums and key match
            write_shard(d, rows, s.key)           # samples.jsonl, then _SUCCESS last

A task's problem ids are sorted and dealt out by stride (shard i holds ids[i::num_shards]), so the
plan is a pure function of the ids and any shard can be redone alone. A shard directory without a
valid ``_SUCCESS`` (a crash mid-write, a truncated file, or a marker written for other sampling
settings: its ``key`` differs) is redone from scratch; a valid one is never recomputed.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from t2.infra.storage import done_manifest, hash8, is_done, mark_done, read_jsonl, write_jsonl

SAMPLES_FILE = "samples.jsonl"


@dataclass(frozen=True)
class Shard:
    """One unit of sampling work: some problems of one task."""

    task: str
    index: int
    num_shards: int
    problem_ids: tuple[str, ...]
    settings: str = ""  # hash of the sampling settings; part of the key

    @property
    def key(self) -> str:
        """Identifies the shard's content: its task, problems and sampling settings."""
        return hash8(self.task, self.index, self.problem_ids, self.settings)

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"


def plan_shards(problem_ids: dict[str, list[str]], *, problems_per_shard: int = 32,
                settings: str = "") -> list[Shard]:
    """Shards for every task (tasks in sorted order), each with ≤ ``problems_per_shard`` ids."""
    if problems_per_shard < 1:
        raise ValueError(f"problems_per_shard must be >= 1, got {problems_per_shard}")
    shards = []
    for task in sorted(problem_ids):
        ids = sorted(problem_ids[task])
        if len(set(ids)) != len(ids):
            raise ValueError(f"task {task}: problem ids are not unique")
        if not ids:
            raise ValueError(f"task {task}: no problems")
        num_shards = math.ceil(len(ids) / problems_per_shard)
        shards += [Shard(task, i, num_shards, tuple(ids[i::num_shards]), settings)
                   for i in range(num_shards)]
    return shards


def shard_dir(out_dir: str | Path, shard: Shard) -> Path:
    return Path(out_dir) / shard.task / shard.name


def shard_is_done(directory: str | Path, key: str) -> bool:
    """True when the shard has a verified done-marker written for this ``key``."""
    if not is_done(directory, verify=True):
        return False
    try:
        return done_manifest(directory).get("key") == key
    except (ValueError, KeyError, OSError):
        return False


def write_shard(directory: str | Path, rows: list[dict], key: str,
                worker: dict | None = None) -> Path:
    """Replace whatever is in ``directory`` by ``rows`` (atomically), then write the marker,
    which also records ``worker`` (where it was sampled: Ray node id, hostname, pid)."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)  # a half-written or stale shard: never mix old and new files
    write_jsonl(directory / SAMPLES_FILE, rows)
    mark_done(directory, {"key": key, "num_rows": len(rows), "worker": worker})
    return directory


def shard_worker(directory: str | Path) -> dict | None:
    """Where a finished shard was sampled (``write_shard(worker=...)``), or None."""
    return done_manifest(directory).get("worker")


def read_shard(directory: str | Path) -> list[dict]:
    """The rows of a finished shard; raises ValueError if it is not done."""
    if not is_done(directory, verify=True):
        raise ValueError(f"{directory}: shard is not finished (no valid _SUCCESS)")
    return read_jsonl(Path(directory) / SAMPLES_FILE)

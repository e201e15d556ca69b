"""A training run's own files: metrics and resume logs, the crash hook of the resume tests.

    append_metrics(out, {"progress": 10, "loss": 3.2, ...})    # one JSON line per logged step
    truncate_metrics(out, progress=10)                         # on resume: replayed steps once

Used by the per-rank loop (``t2.models.train_loop``); nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path

from t2.infra.storage import atomic_write, mark_done

EXIT_HOOK = "T2_EXIT_AFTER_PROGRESS"  # tests: os._exit() once this many steps are done
NUM_VAL_BATCHES = 8
FINAL_LOSS_STEPS = 10


def exit_hook(progress: int) -> None:
    """Simulate a crash for resume tests (no cleanup, like SIGKILL)."""
    if os.environ.get(EXIT_HOOK) and progress == int(os.environ[EXIT_HOOK]):
        os._exit(17)


class LossWindow:
    """Mean of the last few step losses (the reported final train loss)."""

    def __init__(self, values=(), size: int = FINAL_LOSS_STEPS):
        self.values = deque(values, maxlen=size)

    def add(self, loss: float) -> None:
        self.values.append(loss)

    def mean(self) -> float:
        return sum(self.values) / max(1, len(self.values))


def append_metrics(out: Path, row: dict) -> None:
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")


def append_resume(out: Path, row: dict) -> None:
    """One line per resume (which checkpoint, how long finding + loading it took)."""
    with open(out / "resumes.jsonl", "a") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")


def truncate_metrics(out: Path, progress: int, keep_D=()) -> None:
    """Drop rows past the resume point (and a torn last line) so replayed steps appear once;
    rows of branches already exported (``keep_D``) stay, as those steps are not replayed."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row["progress"] <= progress or row["D"] in keep_D:
            kept.append(line + "\n")
    atomic_write(path, "".join(kept))


def finish_run(out: Path, summaries: list[dict]) -> None:
    mark_done(out, {"results": [s["name"] for s in summaries]})


def now() -> float:
    return time.perf_counter()

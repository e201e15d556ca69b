"""A training run's own files: config snapshot, MLflow run id, metrics and resume logs, the crash
hook of the resume tests.

    snapshot(out, dump_config(cfg), "run")                     # config.yaml; refuses another run
    run_id = tracking_run(cfg.tracking, out, cfg.name, params) # MLflow run, created once
    append_metrics(out, {"progress": 10, "loss": 3.2, ...})    # one JSON line per logged step
    truncate_metrics(out, progress=10)                         # on resume: replayed steps once

Used by pretraining (``t2.models.train``, ``t2.models.train_loop``) and post-training
(``t2.models.posttrain``, ``t2.models.posttrain_loop``) alike; nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path

from t2.infra.config import ConfigError
from t2.infra.storage import atomic_write, mark_done, read_json, write_json

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
        if row["progress"] <= progress or row.get("D") in keep_D:
            kept.append(line + "\n")
    atomic_write(path, "".join(kept))


def snapshot(out: Path, text: str, what: str, same=None) -> None:
    """Write ``config.yaml`` once; a rerun with other settings in the same directory is refused
    (``same(path)``: whether an older snapshot with other text still describes this run)."""
    path = out / "config.yaml"
    if path.exists():
        if path.read_text() != text and not (same is not None and same(path)):
            raise ConfigError(f"{out}: holds a different {what} (config.yaml differs); "
                              "use another --out or delete it")
        return
    atomic_write(path, text)


def tracking_run(tracking, out: Path, run_name: str, params, parent_run_id: str | None,
                 **state) -> str | None:
    """Create the run's MLflow run once (in the driver, no races) or reattach to the one saved
    in ``tracking.json``; ``params()`` is logged on creation, ``state`` saved beside the id."""
    if not tracking.enabled:
        return None
    from t2.infra.tracking import open_tracker

    state_path = out / "tracking.json"
    saved = read_json(state_path) if state_path.exists() else {}
    # a nested run a kill left created but not saved is found by its step tag (its unique name)
    tracker = open_tracker(uri=tracking.uri, experiment=tracking.experiment, run_dir=out,
                           run_name=run_name, run_id=saved.get("run_id"),
                           parent_run_id=parent_run_id)
    if not saved:
        tracker.log_params(params())
        write_json(state_path, {"run_id": tracker.run_id, **state})
    return tracker.run_id


def finish_run(out: Path, summaries: list[dict]) -> None:
    mark_done(out, {"results": [s["name"] for s in summaries]})


def now() -> float:
    return time.perf_counter()

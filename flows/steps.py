"""Steps: the only maker of paths under a study root.

    step = Step("train", "n2e5", {"N": 2e5, "D": [4e6]}, deps=())
    out = run_step(step, root, body)     # body(tmp_dir) writes; _SUCCESS last; rerun = no-op

A step's directory is ``{root}/{stage}/{name}-{hash8}`` where ``hash8`` covers its config and the
paths of its upstream steps, so a changed config or input gets a new directory and a finished one
is never rewritten. A directory without ``_SUCCESS`` is in progress (or was killed) and nothing
downstream reads it; rerunning the step resumes or redoes it inside the same directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2.infra.storage import hash8, is_done, mark_done, read_json, write_json

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")

STUDY_FILE = "study.json"
JOURNAL_FILE = "optuna.journal"
ROUNDS_DIR = "rounds"
REPORT_DIR = "report"
MLFLOW_DIR = "mlflow"


@dataclass(frozen=True)
class Step:
    """One unit of work: a stage, a readable name, its config and its upstream step directories."""

    stage: str
    name: str
    config: dict[str, Any]
    deps: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not _NAME.match(self.stage) or not _NAME.match(self.name):
            raise ValueError(f"step stage/name must match {_NAME.pattern}: {self.stage}/{self.name}")

    @property
    def hash8(self) -> str:
        return hash8(self.stage, self.config, sorted(self.deps))

    def output_dir(self, root: str | Path) -> Path:
        return Path(root) / self.stage / f"{self.name}-{self.hash8}"

    def manifest(self) -> dict[str, Any]:
        return {"stage": self.stage, "name": self.name, "hash8": self.hash8,
                "config": self.config, "deps": list(self.deps)}


def run_step(step: Step, root: str | Path, body: Callable[[Path], None]) -> Path:
    """Run ``body(out_dir)`` unless the step is done; mark it done last. Returns the directory."""
    out = step.output_dir(root)
    if is_done(out):
        return out
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "step.json", step.manifest())
    body(out)
    mark_done(out, step.manifest())
    return out


def trainer_dir(step_dir: str | Path) -> Path:
    """Where the trainer of a training step keeps its run (checkpoints, weights, metrics):
    ``{root}/runs/{name}-{hash8}``, beside the step, so the step's done-marker does not
    checksum gigabytes of checkpoints; the trainer writes its own ``_SUCCESS`` there."""
    step_dir = Path(step_dir)
    return step_dir.parents[1] / "runs" / step_dir.name


def study_file(root: str | Path) -> Path:
    return Path(root) / STUDY_FILE


def journal_path(root: str | Path) -> Path:
    return Path(root) / JOURNAL_FILE


def rounds_dir(root: str | Path) -> Path:
    return Path(root) / ROUNDS_DIR


def round_path(root: str | Path, index: int) -> Path:
    return rounds_dir(root) / f"round-{index:04d}.json"


def report_dir(root: str | Path) -> Path:
    return Path(root) / REPORT_DIR


def mlflow_dir(root: str | Path) -> Path:
    return Path(root) / MLFLOW_DIR


def mlflow_uri(root: str | Path) -> str:
    """The default tracking store of a study: a sqlite file inside its root."""
    return f"sqlite:///{(mlflow_dir(root) / 'mlflow.db').resolve()}"


def read_study_state(root: str | Path) -> dict[str, Any]:
    path = study_file(root)
    return read_json(path) if path.exists() else {}


def write_study_state(root: str | Path, state: dict[str, Any]) -> None:
    write_json(study_file(root), state)

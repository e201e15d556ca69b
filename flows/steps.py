"""Steps and the layout of a study root: every path under a root is named here.

    paths = StudyPaths(root)
    step = Step("train", "N2e5", {"N": 2e5, "Ds": [4e6]})
    out = run_step(step, paths, body)    # body(out_dir) writes; _SUCCESS last; rerun = no-op

A step's directory is ``{root}/{stage}/{name}-{hash8}`` where ``hash8`` covers its config and the
paths of its upstream steps, so a changed config or input gets a new directory and a finished one
is never rewritten. A directory without ``_SUCCESS`` is in progress (or was killed) and nothing
downstream reads it; rerunning the step resumes or redoes it inside the same directory.

A study root::

    study.yaml  study.json  driver.lock  optuna.journal
    train/N…-hash/   eval/N…-D…-hash/   (steps: step.json, results, _SUCCESS)
    runs/N…-hash/    the trainer's own directory of each training step (checkpoints, weights)
    cache/           the tokenized corpus every run shares
    rounds/round-NNNN.json   report/   mlflow/
    validate/…  validate-eval/…  validation-plan.json  validation.json   (the validation stage)
    posttrain/…  posttrain-eval/…  posttrain/fit-{mode}.json  posttrain.json (post-training)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2.infra.storage import hash8, is_done, mark_done, read_json, write_json

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


@dataclass(frozen=True)
class Step:
    """One unit of work: a stage, a readable name, its config and its upstream step directories."""

    stage: str
    name: str
    config: dict[str, Any]
    deps: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not _NAME.match(self.stage) or not _NAME.match(self.name):
            raise ValueError(f"step stage/name must match {_NAME.pattern}: "
                             f"{self.stage}/{self.name}")

    @property
    def hash8(self) -> str:
        return hash8(self.stage, self.config, sorted(self.deps))

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.hash8}"

    def manifest(self) -> dict[str, Any]:
        return {"stage": self.stage, "name": self.name, "hash8": self.hash8,
                "config": self.config, "deps": list(self.deps)}


def _at(name: str) -> property:
    return property(lambda self: self.root / name, doc=f"{{root}}/{name}")


@dataclass(frozen=True)
class StudyPaths:
    """Where each file of a study lives under its root."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    def step(self, step: Step) -> Path:
        return self.root / step.stage / step.dirname

    def trainer(self, step_dir: str | Path) -> Path:
        """Where the trainer of a training step keeps its run (checkpoints, weights, metrics):
        ``{root}/runs/{name}-{hash8}``, beside the step, so the step's done-marker does not
        checksum gigabytes of checkpoints; the trainer writes its own ``_SUCCESS`` there."""
        return Path(step_dir).parents[1] / "runs" / Path(step_dir).name

    def step_dirs(self) -> list[Path]:
        """Every step and trainer directory under the root (train/*, eval/*, runs/*, …)."""
        return sorted(p for p in self.root.glob("*/*") if p.is_dir()
                      and p.parent.name not in ("rounds", "report", "mlflow", "cache"))

    config = _at("study.yaml")            # the study as run (validated, defaults filled in)
    state = _at("study.json")             # the driver's state: strategy, MLflow parent, finished
    lock = _at("driver.lock")
    journal = _at("optuna.journal")       # the ledger (unless select.storage names a database)
    cache = _at("cache")                  # the tokenized corpus every run shares
    rounds = _at("rounds")
    validation_plan = _at("validation-plan.json")  # saved before the validation stage trains
    validation = _at("validation.json")   # what the validation stage trained and measured
    posttrain = _at("posttrain.json")     # what the post-training stage trained and fitted
    report = _at("report")
    mlflow = _at("mlflow")

    def posttrain_fit(self, mode: str) -> Path:
        """The laws fitted on the checkpoints post-trained in ``mode`` (a RoundRecord)."""
        return self.root / "posttrain" / f"fit-{mode}.json"

    def round(self, num_runs: int) -> Path:
        return self.rounds / f"round-{num_runs:04d}.json"

    @property
    def mlflow_uri(self) -> str:
        """The default tracking store of a study: a sqlite file inside its root."""
        return f"sqlite:///{(self.mlflow / 'mlflow.db').resolve()}"

    def read_state(self) -> dict[str, Any]:
        return read_json(self.state) if self.state.exists() else {}

    def write_state(self, state: dict[str, Any]) -> None:
        write_json(self.state, state)


def study_root(cfg, override: str | Path | None = None, suffix: str = "") -> Path:
    """A study's root: ``--root``, else the study file's ``root``, else ``runs/<name><suffix>``
    (a simulation of a study lives beside it in ``runs/<name>-sim``)."""
    return Path(override or cfg.root or Path("runs") / f"{cfg.name}{suffix}")


def run_step(step: Step, paths: StudyPaths, body: Callable[[Path], None]) -> Path:
    """Run ``body(out_dir)`` unless the step is done; mark it done last. Returns the directory."""
    out = paths.step(step)
    if is_done(out):
        return out
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "step.json", step.manifest())
    body(out)
    mark_done(out, step.manifest())
    return out

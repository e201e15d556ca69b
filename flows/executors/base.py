"""What the study loop asks of an executor: train a run, evaluate a checkpoint.

    class MyExecutor:                      # satisfies Executor (a typing.Protocol)
        kind = "mine"; max_parallel = 1; tracks_training = False; shows_progress = False
        def step_config(self) -> dict: ...
        def check(self, reqs, *, source="study") -> None: ...
        def train(self, req, out_dir, *, base_dir=None, parent_run_id=None) -> list[Checkpoint]: ...
        def evaluate(self, ckpt, out_dir, *, ks=None, num_samples=None,
                     parent_run_id=None) -> Evaluation: ...
        def posttrain(self, ckpt, mode, out_dir, *, parent_run_id=None) -> Posttrained: ...
        # (optional: an executor without it skips the post-training stage, saying so)

Two implementations sit side by side: ``real.RealExecutor`` (DeepSpeed training, sampling) and
``simulated.SimulatedExecutor`` (draws from a known law). The driver (``t2.flows.driver``) runs
each call inside a step directory that is done only when ``_SUCCESS`` exists, so an executor
only has to write its results into ``out_dir``; a run that continues another (``base_dir``: that
run's training step directory) extends its trunk past its longest D (the trainer keeps only the
trunk state before a run's last decay, so lower D at that size are new runs; see
``t2.flows.plan.candidates``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from t2.flows.plan import RunRequest
from t2.flows.records import Checkpoint, Evaluation, Posttrained


class Executor(Protocol):
    kind: str               # "real", "simulate", …: recorded in every step's hash
    max_parallel: int       # training runs the executor can run at once
    tracks_training: bool   # train() opens its own MLflow child run (else the driver does)
    shows_progress: bool    # train() writes a metrics.jsonl worth a progress bar

    def step_config(self) -> dict:
        """What makes this executor's results differ: part of every step's hash."""

    def check(self, reqs: list[RunRequest], *, source: str = "study") -> None:
        """Refuse (``ConfigError``, one line) planned runs this executor could not run."""

    def train(self, req: RunRequest, out_dir: Path, *, base_dir: Path | None = None,
              parent_run_id: str | None = None) -> list[Checkpoint]:
        """Train (or resume) ``req`` inside ``out_dir``; one checkpoint per D of the request."""

    def evaluate(self, ckpt: Checkpoint, out_dir: Path, *, ks: list[int] | None = None,
                 num_samples: int | None = None,
                 parent_run_id: str | None = None) -> Evaluation:
        """One checkpoint's task losses at ``ks`` (default the study's ``eval.ks``), from
        ``num_samples`` samples per problem (default ``eval.num_samples``), under ``out_dir``."""


@runtime_checkable
class PosttrainExecutor(Executor, Protocol):
    """An executor that can post-train (the real one); others skip the stage."""

    def posttrain(self, ckpt: Checkpoint, mode: str, out_dir: Path, *,
                  parent_run_id: str | None = None) -> Posttrained:
        """Fine-tune ``ckpt`` in ``mode`` ("ft" or "sft", ``posttrain`` settings) inside
        ``out_dir``; the post-trained checkpoint keeps ``ckpt``'s N and D."""

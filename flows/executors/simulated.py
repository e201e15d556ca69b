"""A law-based executor: training and evaluation replaced by draws from a known law plus noise.

    t2 simulate examples/tiny.yaml --true-law examples/true_law.json --noise 0.01 --strategy active

The study loop, its steps, Optuna ledger, fits and stopping rules are the real ones
(``t2.flows.driver``); only the executor differs (``t2.flows.executors.base``). Costs are
counted as real training FLOPs (``t2.flows.plan.run_flops``); the law is a
``t2.flows.executors.truth`` law. Noise is multiplicative and deterministic (seeded by the study
seed and the step), so a resumed simulation reproduces the same draws:

    validation loss   L(N, D) · exp(σ·ε_run + σ/4·ε_ckpt)
    task loss at k    (L(N, D) + G/k^γ) · exp(σ·ε_run + σ/4·ε_ckpt + σ/4·ε_k)

ε_k is the per-k sampling noise and ε_ckpt a small per-checkpoint term. ε_run is the
seed-to-seed variation: with ``noise_mode="run"`` (default, as in real training) one draw per
training run, shared by every decayed checkpoint of its trunk, extensions included; with
``"checkpoint"`` one draw per checkpoint, as in a suite of separately seeded models (an easier
regime for designs that reuse trunks: each branch brings new seed noise to average out). The
active selector models the same structure (``select.noise_per``). A law without ``G``
has no k effect: task losses are then omitted and the study forecasts with a Chinchilla fit.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from t2.flows.executors.task_truth import TaskTruth
from t2.flows.executors.truth import TrueLaw
from t2.flows.plan import RunRequest
from t2.flows.records import Checkpoint, Evaluation, Observation, pooled
from t2.infra.config import ConfigError
from t2.infra.storage import atomic_write, hash8, read_json, write_json

# Tests: os._exit() inside the training step after this many finished ones (like kill -9).
EXIT_HOOK = "T2_SIM_EXIT_AFTER_RUNS"
TRUNK_FILE = "trunk.json"  # a training step's seed draw, which its extensions share


class SimulatedExecutor:
    """Executor whose training and evaluation are draws from ``law``; writes tiny JSON results."""

    kind = "simulate"
    tracks_training = False  # the driver opens the MLflow child of each training step
    shows_progress = False

    def __init__(self, law: TrueLaw, ks: list[int], *, noise: float = 0.01, seed: int = 0,
                 max_parallel: int = 4, noise_mode: str = "run",
                 tasks: dict[str, TaskTruth] | None = None, num_samples: int = 16):
        if not 0 <= noise < 1:
            raise ConfigError(f"--noise: expected 0 <= noise < 1, got {noise}")
        if noise_mode not in ("checkpoint", "run"):
            raise ConfigError(f"--noise-mode: expected checkpoint or run, got {noise_mode!r}")
        self.noise_mode = noise_mode
        self.law, self.ks, self.noise, self.seed = law, list(ks), float(noise), int(seed)
        self.max_parallel = max_parallel
        self.num_trained = 0
        self.tasks, self.num_samples = dict(tasks or {}), int(num_samples)

    def step_config(self) -> dict:
        """What makes simulated results differ: part of every step's hash."""
        out = {"executor": "simulate", "law": self.law.to_dict(), "noise": self.noise,
               "seed": self.seed, "noise_mode": self.noise_mode}
        if self.tasks:  # only then, so studies without per-task laws keep their hashes
            out["tasks"] = {name: t.to_dict() for name, t in sorted(self.tasks.items())}
            out["num_samples"] = self.num_samples
        return out

    def check(self, reqs: list[RunRequest], *, source: str = "study") -> None:
        """Nothing to check: any (N, D) can be drawn."""

    def _rng(self, *key) -> np.random.Generator:
        return np.random.default_rng(int(hash8(self.seed, *key), 16))

    def train(self, req: RunRequest, out_dir: Path, *, base_dir: Path | None = None,
              parent_run_id: str | None = None) -> list[Checkpoint]:
        """One checkpoint per D: N, D, validation loss, the result directory."""
        if base_dir is not None:  # the same trunk, hence the same seed noise
            eps_run = read_json(Path(base_dir) / TRUNK_FILE)["eps_run"]
        else:
            eps_run = float(self._rng("run", Path(out_dir).name).standard_normal())
        write_json(Path(out_dir) / TRUNK_FILE, {"eps_run": eps_run})
        records = []
        rerun = (req.seed,) if req.seed else ()  # another seed of a held point: its own draws
        for D in req.Ds:
            if self.noise_mode == "checkpoint":
                eps_run = float(self._rng("run", req.N, D, *rerun).standard_normal())
            eps = self._eps(eps_run, self._rng(req.N, D, *rerun).standard_normal())
            val = float(self.law.loss(req.N, D) * np.exp(eps))
            rdir = out_dir / f"D{D:.4g}"
            write_json(rdir / "train.json", {"N": req.N, "D": D, "val_loss": val, "eps": eps,
                                             "seed": req.seed})
            records.append(Checkpoint(N=req.N, D=D, val_loss=val, result_dir=str(rdir),
                                      flops=6.0 * req.N * D))
            if os.environ.get(EXIT_HOOK) == str(self.num_trained):
                os._exit(17)  # mid-run, after a partial write, before the step is done
        self.num_trained += 1
        return records

    def evaluate(self, ckpt: Checkpoint, out_dir: Path, *, ks: list[int] | None = None,
                 num_samples: int | None = None,
                 parent_run_id: str | None = None) -> Evaluation:
        """Task loss −log pass@k at each k (empty without a k effect); with per-task laws, per
        task (pooled = their mean) plus each task's per-problem table."""
        N, D = ckpt.N, ckpt.D
        ks = list(ks or self.ks)
        tj = read_json(Path(ckpt.result_dir) / "train.json")
        eps, rerun = tj["eps"], (tj["seed"],) if tj.get("seed") else ()
        if self.tasks:
            tasks = {name: self._noisy(t.task_loss, N, D, ks, eps, name, *rerun)
                     for name, t in sorted(self.tasks.items())}
            problems = self._problems(N, D, num_samples or self.num_samples, out_dir, rerun)
            ev = Evaluation(loss_k=pooled(tasks), eval_dir=str(out_dir), tasks=tasks,
                            problems=str(problems))
        elif self.law.has_k:
            ev = Evaluation(loss_k=self._noisy(self.law.task_loss, N, D, ks, eps, *rerun),
                            eval_dir=str(out_dir))
        else:
            ev = Evaluation(loss_k={}, eval_dir=str(out_dir))
        write_json(out_dir / "summary.json", ev.to_dict())
        return ev

    def _eps(self, eps_run: float, z_ckpt: float) -> float:
        """A checkpoint's log-loss noise from its run's seed draw and its own standard draw."""
        return self.noise * (eps_run + z_ckpt / 4)

    def _noisy(self, task_loss, N, D, ks, eps, *key, z_k=None) -> dict[int, float]:
        """The law's losses at ``ks`` times the checkpoint's noise and per-k sampling noise
        (``z_k``: its standard draws, else drawn from the checkpoint's key)."""
        if z_k is None:
            z_k = self._rng("k", N, D, *key).standard_normal(len(ks))
        L = task_loss(N, D, np.asarray(ks, float)) * np.exp(eps + self.noise / 4 * z_k)
        return {int(k): float(v) for k, v in zip(ks, L)}

    def _problems(self, N: float, D: float, n: int, out_dir: Path, rerun: tuple = ()) -> Path:
        """Each task's per-problem (n, c, p) at (N, D), as a real evaluation's table."""
        import pandas as pd

        frames = []
        for name, t in sorted(self.tasks.items()):
            p, c = t.problems(N, D, n, self._rng("problems", N, D, name, *rerun))
            frames.append(pd.DataFrame({"task": name, "problem_id": np.arange(len(p)),
                                        "n": n, "c": c, "p": p, "nll": -np.log(p)}))
        path = Path(out_dir) / "per_problem.parquet"
        buf = io.BytesIO()
        pd.concat(frames, ignore_index=True).to_parquet(buf, index=False)
        atomic_write(path, buf.getvalue())
        return path

    def redraw(self, design, rng: np.random.Generator) -> list[Observation]:
        """The observations of ``design`` with fresh noise from ``rng``, in memory: the same
        noise model as ``train`` and ``evaluate`` (a run's seed draw shared by its trunk, or one
        per checkpoint), for judging a design over many noise draws instead of the one its study
        saw. ``design``: (trial, trunk, N, D) per checkpoint, trunk the run whose seed it
        shares. Pooled task losses only (per-task truths are not redrawn)."""
        seeds: dict = {}
        out = []
        for trial, trunk, N, D in design:
            if self.noise_mode == "checkpoint" or trunk not in seeds:
                seeds[trunk] = float(rng.standard_normal())
            eps = self._eps(seeds[trunk], float(rng.standard_normal()))
            ckpt = Checkpoint(N=N, D=D, val_loss=float(self.law.loss(N, D) * np.exp(eps)),
                              result_dir="", flops=6.0 * N * D)
            loss_k = {}
            if self.law.has_k:
                loss_k = self._noisy(self.law.task_loss, N, D, self.ks, eps,
                                     z_k=rng.standard_normal(len(self.ks)))
            out.append(Observation(run=trial, checkpoint=ckpt,
                                   evaluation=Evaluation(loss_k=loss_k, eval_dir="")))
        return out

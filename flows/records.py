"""What the stages of a study hand each other, as frozen records with JSON round trips.

    ckpt = Checkpoint(N=2e5, D=4e6, val_loss=3.1, result_dir="…/D4e+06")   # training made it
    ev = Evaluation(loss_k={1: 2.3, 4: 1.7}, eval_dir="…")                  # sampling scored it
    obs = Observation(run=3, checkpoint=ckpt, evaluation=ev)                 # one row of every fit
    Observation.from_dict(obs.to_dict()) == obs

A training run (``t2.flows.plan.RunRequest``) yields one ``Checkpoint`` per decayed D; each is
evaluated into an ``Evaluation``; the Optuna ledger keeps the finished run's observations in its
trial. A round of the study loop ends in a ``RoundRecord`` (``rounds/round-NNNN.json``, MLflow,
``t2 status``, the report's history plot).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Checkpoint:
    """One decayed checkpoint of a training run."""

    N: float                    # parameters, with embeddings
    D: float                    # training tokens
    val_loss: float             # held-out loss of the pretraining data
    result_dir: str             # the trainer's result directory of this D
    hf_dir: str | None = None   # the HF export (real training)
    flops: float | None = None  # 6·N·D of this checkpoint
    epochs: float | None = None  # passes over the most repeated data source (real training)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Checkpoint:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's task losses: −log pass@k at each k, per task and pooled over tasks.

    ``loss_k`` is the mean over tasks of each task's mean over problems (the study's pooled
    target); ``tasks`` the same per task; ``problems`` a parquet table with one row per
    (task, problem): ``task, problem_id, n, c, p`` (sampled counts and the gold answer's
    likelihood), the data of Approach 2.
    """

    loss_k: dict[int, float]
    eval_dir: str = ""
    tasks: dict[str, dict[int, float]] = field(default_factory=dict)
    problems: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"loss_k": _str_keys(self.loss_k), "eval_dir": self.eval_dir,
                "tasks": {t: _str_keys(v) for t, v in sorted(self.tasks.items())},
                "problems": self.problems}

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        return cls(loss_k=_int_keys(data.get("loss_k", {})), eval_dir=data.get("eval_dir", ""),
                   tasks={t: _int_keys(v) for t, v in data.get("tasks", {}).items()},
                   problems=data.get("problems", ""))


def pooled(tasks: dict[str, dict[int, float]]) -> dict[int, float]:
    """{k: mean over tasks} at the k every task has: the study's pooled task loss."""
    ks = sorted(set.intersection(*(set(v) for v in tasks.values()))) if tasks else []
    return {k: sum(v[k] for v in tasks.values()) / len(tasks) for k in ks}


def _str_keys(loss_k: dict) -> dict[str, float]:
    return {str(k): float(v) for k, v in sorted(loss_k.items())}


def _int_keys(loss_k: dict) -> dict[int, float]:
    return {int(k): float(v) for k, v in loss_k.items()}


@dataclass(frozen=True)
class Observation:
    """A finished run's checkpoint and its evaluation: what the fits read."""

    run: int                    # the ledger's trial number of the training run
    checkpoint: Checkpoint
    evaluation: Evaluation

    @property
    def N(self) -> float:
        return self.checkpoint.N

    @property
    def D(self) -> float:
        return self.checkpoint.D

    @property
    def val_loss(self) -> float:
        return self.checkpoint.val_loss

    @property
    def loss_k(self) -> dict[int, float]:
        return self.evaluation.loss_k

    def to_dict(self) -> dict[str, Any]:
        return {**self.checkpoint.to_dict(), **self.evaluation.to_dict()}

    @classmethod
    def from_dict(cls, data: dict, run: int) -> Observation:
        return cls(run=run, checkpoint=Checkpoint.from_dict(data),
                   evaluation=Evaluation.from_dict(data))


@dataclass(frozen=True)
class Posttrained:
    """One pretrained checkpoint after post-training (``mode`` "ft" or "sft"): ``checkpoint``
    keeps the pretraining N, D and validation loss (the laws are fitted in those), with the
    post-trained weights; ``flops`` is the post-training's own 6·N·tokens, ``seconds`` its
    wall time."""

    mode: str
    source: Checkpoint
    checkpoint: Checkpoint
    flops: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source.to_dict(),
                "checkpoint": self.checkpoint.to_dict(), "flops": self.flops,
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict) -> Posttrained:
        return cls(mode=data["mode"], source=Checkpoint.from_dict(data["source"]),
                   checkpoint=Checkpoint.from_dict(data["checkpoint"]),
                   flops=float(data["flops"]), seconds=float(data["seconds"]))


@dataclass(frozen=True)
class RoundRecord:
    """One round of the study loop: the design so far and the forecast fitted to it.

    ``forecast`` is (T, 3) N*, D*, k* per target, ``interval`` (T, 3, 2), ``width`` (T,) the
    relative width of N*'s interval, ``law`` the point law and ``samples`` its bootstrap laws
    (parameter dicts), ``N_error`` (T,) the forecast's error against a known truth (simulation).
    ``laws`` holds the same per task × approach (``task, approach, law, samples, forecast,
    interval``, or ``reason`` where a law is not identifiable), Approach 2 fitted to
    ``approach2`` ("counts" or "likelihood"). ``k_trend`` (``slope, t, rel, num_checkpoints,
    flags``): whether the T² law's one k exponent drifts with the loss (``t2.fitting.misfit``);
    where it flags, ``drift`` (``law, samples``) is the law whose k exponent follows the loss
    (``t2.fitting.drift``) and ``forecast``, ``interval``, ``width``, ``N_error`` are its.
    """

    num_runs: int
    num_checkpoints: int
    flops: float
    kind: str | None = None
    law: dict | None = None
    samples: list[dict] = field(default_factory=list)
    forecast: list | None = None
    interval: list | None = None
    width: list | None = None
    N_error: list | None = None
    laws: list[dict] = field(default_factory=list)
    approach2: str | None = None   # Approach 2's data (eval.approach2); None: before it was kept
    k_trend: dict | None = None    # the k exponent's drift with the loss (t2.fitting.misfit)
    drift: dict | None = None      # {law, samples} of the drift law, where k_trend flags

    @property
    def fitted(self) -> bool:
        return self.forecast is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> RoundRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

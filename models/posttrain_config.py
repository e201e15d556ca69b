"""The typed config of a post-training run and the rule that derives its LR and batch.

    cfg = PosttrainConfig(mode="sft", tasks=["arithmetic"])         # or t2 posttrain ... --set
    hp = resolve_posttrain(cfg, num_examples=1000, pretrain_lr=3e-3, num_params=2e5,
                           max_len=128, world_size=1)
    hp.lr, hp.batch_size, hp.num_steps, hp.warmup_steps

The study config embeds ``PosttrainConfig`` (one mode per run). Defaults follow the T² paper
(Roberts et al. 2026, arXiv 2604.01411: FT and SFT, 6 epochs on a task's train split) where it
is known and otherwise these documented rules, each overridable:

* **LR**: ``lr_frac`` (0.1) of the checkpoint's own pretraining peak LR (its train.json).
  Llama 2 fine-tuned at 2e-5 after a 3e-4 pretraining peak, i.e. 1/15 (Touvron et al. 2023,
  arXiv 2307.09288, sec. 2.2 and 3.1); a tenth is that order, at the upper end for the few
  hundred steps of a small run. ``lr`` sets it outright.
* **Schedule**: linear warmup over ``warmup_frac`` of the steps, constant, then a linear decay
  over the last ``decay_frac`` to ``min_lr_frac`` of the peak: warmup-stable-decay (Hägele et
  al. 2024, arXiv 2405.18392), the same t2.models.schedule.WSD pretraining uses, one branch.
* **Batch** (sequences per optimizer step, over all ranks): 64 as in Llama 2's SFT, fewer
  for small train sets so that an epoch has at least ``MIN_STEPS_PER_EPOCH`` optimizer steps;
  a power of two times the world size. ``batch_size`` sets it outright; ``micro_batch`` the
  sequences per rank per micro-step (default: what fits t2.models.hparams' token budget).
* AdamW weight decay 0.1 and gradient clipping 1.0, as in Llama 2's fine-tuning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator
from t2.infra.config import Spec, distinct
from t2.models.config import DistSpec, TrackingSpec, decay_fits_after_warmup
from t2.models.hparams import _micro_batch

MAX_BATCH_SEQS = 64  # Llama 2 SFT (Touvron et al. 2023, sec. 3.1)
MIN_STEPS_PER_EPOCH = 8


class PosttrainConfig(Spec):
    """Fine-tune one finished pretraining checkpoint on the train split of one or more tasks."""

    mode: Literal["ft", "sft"] = Field(..., description="ft: loss on every token of prompt + "
                                       "answer; sft: loss on the answer tokens only")
    tasks: list[str] = Field(..., min_length=1, description="task names; several are mixed "
                             "(each contributes its own train split)")
    epochs: float = Field(6.0, gt=0, le=1000, description="passes over the train set (the T² "
                          "paper: 6)")
    num_train_problems: int | None = Field(
        None, ge=1, description="training problems per task (None: a real task's whole "
        "split, 1000 for a synthetic one)")
    task_kwargs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="task -> generator settings, as for evaluation")
    allow_hub: bool = Field(False, description="real tasks: download the official train "
                            "splits (ARC-Easy, OpenBookQA, SciQ) instead of the shipped ones")
    eval_num_problems: int | None = Field(
        None, ge=1, description="the evaluation's problem count, for the split hashes (None: "
        "every evaluation problem)")
    eval_seed: int = Field(0, ge=0, description="the evaluation's seed, for the split hashes")
    lr: float | None = Field(None, gt=0, lt=1, description="peak LR (default: lr_frac of the "
                             "checkpoint's pretraining peak)")
    lr_frac: float = Field(0.1, gt=0, le=1, description="peak LR as a fraction of the "
                           "pretraining peak LR")
    batch_size: int | None = Field(None, ge=1, description="sequences per optimizer step, all "
                                   "ranks together (default: the documented rule)")
    micro_batch: int | None = Field(None, ge=1, description="sequences per rank per micro-step")
    warmup_frac: float = Field(0.03, ge=0, lt=1, description="warmup, fraction of the steps")
    decay_frac: float = Field(0.2, gt=0, le=1, description="final linear decay, fraction of "
                              "the steps")
    min_lr_frac: float = Field(0.0, ge=0, lt=1, description="final LR as a fraction of peak")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay")
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm (0 = off)")
    max_seq_len: int | None = Field(None, ge=8, description="longest sequence (default: the "
                                    "checkpoint's context); longer prompts lose their left end")
    seed: int = Field(0, ge=0, description="seed of the training problems and of the order")
    checkpoint_every: int = Field(50, ge=1, description="steps between resumable checkpoints")
    log_every: int = Field(10, ge=1, description="steps between MLflow metrics")
    dist: DistSpec = Field(default_factory=DistSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)

    _distinct = field_validator("tasks")(classmethod(distinct))

    _fits_after_warmup = field_validator("decay_frac")(classmethod(decay_fits_after_warmup))


@dataclass(frozen=True)
class PosttrainHparams:
    num_examples: int
    world_size: int
    max_len: int
    batch_size: int  # sequences per optimizer step over all ranks
    micro_batch: int  # sequences per rank per micro-step
    grad_accum: int
    lr: float
    pretrain_lr: float | None
    num_steps: int
    warmup_steps: int
    decay_frac: float
    min_lr_frac: float
    weight_decay: float
    grad_clip: float


def batch_rule(num_examples: int, world_size: int) -> int:
    """MAX_BATCH_SEQS, or less so an epoch has >= MIN_STEPS_PER_EPOCH steps: a power of two
    per rank, times the world size."""
    per_rank = max(1, min(MAX_BATCH_SEQS, num_examples // MIN_STEPS_PER_EPOCH) // world_size)
    return 2 ** int(math.log2(per_rank)) * world_size


def resolve_posttrain(cfg: PosttrainConfig, *, num_examples: int, pretrain_lr: float | None,
                      num_params: float, max_len: int, world_size: int) -> PosttrainHparams:
    """The run's settings; explicit fields of ``cfg`` win. ValueError names the field."""
    if cfg.lr is None and pretrain_lr is None:
        raise ValueError("lr: the checkpoint records no pretraining LR (no train.json beside "
                         "it); set lr")
    lr = cfg.lr if cfg.lr is not None else cfg.lr_frac * pretrain_lr
    batch = cfg.batch_size or batch_rule(num_examples, world_size)
    if batch % world_size:
        raise ValueError(f"batch_size: {batch} is not a multiple of the {world_size} ranks")
    per_rank = batch // world_size
    micro = cfg.micro_batch or _micro_batch(num_params, max_len, per_rank)
    if per_rank % micro:
        raise ValueError(f"micro_batch: {micro} does not divide the {per_rank} sequences per "
                         "rank of a batch")
    steps = max(1, math.ceil(cfg.epochs * num_examples / batch))
    return PosttrainHparams(
        num_examples=num_examples, world_size=world_size, max_len=max_len, batch_size=batch,
        micro_batch=micro, grad_accum=per_rank // micro, lr=float(lr),
        pretrain_lr=pretrain_lr, num_steps=steps,
        warmup_steps=math.ceil(cfg.warmup_frac * steps), decay_frac=cfg.decay_frac,
        min_lr_frac=cfg.min_lr_frac, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)


def schedule(hp: PosttrainHparams):
    """The WSD schedule of the run: one decay branch ending at the last step (use branch 0)."""
    from t2.models.schedule import WSD

    return WSD(peak_lr=hp.lr, warmup_steps=hp.warmup_steps, decay_steps=(hp.num_steps,),
               decay_frac=hp.decay_frac, min_lr_frac=hp.min_lr_frac)

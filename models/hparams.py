"""Batch size, learning rate and schedule lengths as pure functions of (N, D): one dial per axis.

    from t2.models.hparams import resolve
    hp = resolve(num_params=2e5, num_tokens=2e6, spec=cfg.train, seq_len=256, world_size=1)
    hp.batch_tokens, hp.micro_batch, hp.grad_accum, hp.lr, hp.num_steps, hp.decay_steps

Every value the user leaves as None in ``TrainSpec`` is derived here; explicit values win.
Compute C = 6 * N * D with N = total parameters (the paper's convention). DeepSeek measured C as
M * D with M the non-embedding FLOPs per token (attention included): close to 6ND for mid-size
models, while for tiny byte models 6ND is up to ~2x larger (embeddings), which only lowers the LR
slightly (C^-0.125) and is absorbed by the batch floor below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# DeepSeek LLM (Bi et al. 2024, sec. 3.1, eq. 1): B_opt = 0.292 C^0.3271 tokens,
# lr = 0.3118 C^-0.125
BATCH_COEF, BATCH_EXP = 0.292, 0.3271
LR_COEF, LR_EXP = 0.3118, -0.125
# Floor so tiny CPU runs still average enough sequences per step (4k tokens ~ 16 x 256).
MIN_BATCH_TOKENS = 4096
# At least this many optimizer steps per run: batch is capped at D / MIN_STEPS (Porian et al. 2024
# find small models need small batches; a run of a handful of steps cannot be tuned at all).
MIN_STEPS = 50
# Cap on the LR: the DeepSeek fit starts near 1e17 FLOPs; far below that its extrapolation keeps
# rising, so it is held at 2e-2, the top of the usual small-model AdamW range.
MAX_LR = 2e-2
# Micro-batch memory heuristic (no citation; activation memory per token grows with N): a 1B model
# gets up to ~8k tokens per micro-step (a few GB of bf16 activations), tiny models up to 16k.
MICRO_TOKENS_COEF, MAX_MICRO_TOKENS = 8e12, 16384


@dataclass(frozen=True)
class Hparams:
    """Resolved optimisation settings of one run (all token counts are global, over ranks)."""

    num_params: float
    num_tokens: float
    seq_len: int
    world_size: int
    batch_tokens: int  # global batch: world_size * grad_accum * micro_batch * seq_len
    micro_batch: int  # sequences per rank per micro-step
    grad_accum: int  # micro-steps per optimizer step
    lr: float  # peak learning rate
    warmup_tokens: int
    warmup_steps: int
    num_steps: int  # optimizer steps to reach num_tokens
    decay_steps: tuple[int, ...]  # final step of each decayed checkpoint (one per decay point)
    decay_frac: float
    min_lr_frac: float
    weight_decay: float
    grad_clip: float


def deepseek_batch_tokens(compute: float) -> float:
    """DeepSeek LLM (2024) eq. 1: optimal batch in tokens for compute C."""
    return BATCH_COEF * compute ** BATCH_EXP


def deepseek_lr(compute: float) -> float:
    """DeepSeek LLM (2024) eq. 1: optimal peak LR for compute C."""
    return LR_COEF * compute ** LR_EXP


def _micro_batch(num_params: float, seq_len: int, seqs_per_rank: int) -> int:
    budget = min(MAX_MICRO_TOKENS, MICRO_TOKENS_COEF / max(num_params, 1.0))
    cap = max(1, min(seqs_per_rank, int(budget // seq_len)))
    return max(m for m in range(1, cap + 1) if seqs_per_rank % m == 0)


def steps_for(tokens: float, batch_tokens: int) -> int:
    """Optimizer steps to consume ``tokens`` (rounded to the nearest step, at least 1)."""
    return max(1, round(tokens / batch_tokens))


def resolve(num_params: float, num_tokens: float, spec, seq_len: int, world_size: int) -> Hparams:
    """Derive the run's Hparams from N, D and a ``TrainSpec`` (explicit values in spec win)."""
    if num_params <= 0 or num_tokens <= 0 or seq_len < 1 or world_size < 1:
        raise ValueError("num_params, num_tokens, seq_len, world_size must be positive")
    compute = 6.0 * num_params * num_tokens
    row = seq_len * world_size  # one sequence on every rank
    if spec.batch_tokens is not None:
        if spec.batch_tokens % row:
            raise ValueError(f"train.batch_tokens: {spec.batch_tokens} is not a multiple of "
                             f"seq_len * world_size = {row}")
        batch_tokens = spec.batch_tokens
    else:
        target = max(MIN_BATCH_TOKENS, deepseek_batch_tokens(compute))
        target = min(target, num_tokens / MIN_STEPS)
        # Sequences per rank rounded to a power of two (within sqrt(2) of the rule, where the
        # loss is flat in B): micro-batches then always divide it evenly.
        batch_tokens = 2 ** max(0, round(math.log2(max(target / row, 1.0)))) * row
    seqs_per_rank = batch_tokens // row
    if spec.micro_batch is not None:
        if seqs_per_rank % spec.micro_batch:
            raise ValueError(f"train.micro_batch: {spec.micro_batch} does not divide the "
                             f"{seqs_per_rank} sequences per rank of a {batch_tokens}-token batch")
        micro_batch = spec.micro_batch
    else:
        micro_batch = _micro_batch(num_params, seq_len, seqs_per_rank)
    if num_tokens < batch_tokens:
        raise ValueError(f"train.tokens: {num_tokens:g} is less than one batch "
                         f"({batch_tokens} tokens)")
    points = sorted({*spec.decay_at, num_tokens}) if hasattr(spec, "decay_at") else [num_tokens]
    warmup_tokens = int(spec.warmup_frac * points[0])
    lr = spec.lr if spec.lr is not None else min(MAX_LR, deepseek_lr(compute))
    return Hparams(
        num_params=float(num_params), num_tokens=float(num_tokens), seq_len=seq_len,
        world_size=world_size, batch_tokens=batch_tokens, micro_batch=micro_batch,
        grad_accum=seqs_per_rank // micro_batch, lr=float(lr), warmup_tokens=warmup_tokens,
        warmup_steps=math.ceil(warmup_tokens / batch_tokens),
        num_steps=steps_for(num_tokens, batch_tokens),
        decay_steps=tuple(steps_for(p, batch_tokens) for p in points),
        decay_frac=spec.decay_frac, min_lr_frac=spec.min_lr_frac,
        weight_decay=spec.weight_decay, grad_clip=spec.grad_clip,
    )

"""DeepSpeed for t2: typed settings -> ds_config -> engine, checkpoint save/load, safe loading.

(``t2.infra.dist`` also imports deepspeed, to initialise its process group.)

    from t2.infra.deepspeed import ds_config, build_engine
    cfg = ds_config(zero_stage=2, precision="auto", micro_batch=8, grad_accum=1, world_size=2)
    engine, optimizer = build_engine(model, cfg, lr=1e-3, weight_decay=0.1)

ZeRO 0-3 on CPU (gloo, fp32, torch AdamW: no op builds) and on CUDA (nccl, bf16, fused AdamW).
The optimizer returned is the plain torch one: its ``param_groups`` are the dicts DeepSpeed's ZeRO
wrappers step with, so setting ``lr`` there drives the schedule at every stage.
"""

from __future__ import annotations

import os
import pickle
import warnings

if os.environ.get("DS_ACCELERATOR") is None:
    import torch as _torch

    if not _torch.cuda.is_available():
        os.environ["DS_ACCELERATOR"] = "cpu"  # be explicit rather than let DS probe and warn

import deepspeed
import torch

# torch 2.13 warns on every ZeRO step about its own collectives; harmless, so keep logs readable.
warnings.filterwarnings("ignore", message=".*all_gather_into_tensor.*", category=FutureWarning)
warnings.filterwarnings("ignore", message=".*reduce_scatter_tensor.*", category=FutureWarning)


def resolve_precision(precision: str = "auto") -> str:
    """auto -> bf16 on CUDA, fp32 on CPU (CPU bf16 through DeepSpeed gains little below 5M)."""
    if precision != "auto":
        return precision
    return "bf16" if torch.cuda.is_available() else "fp32"


def ds_config(*, zero_stage: int, precision: str, micro_batch: int, grad_accum: int,
              world_size: int, grad_clip: float = 0.0) -> dict:
    """The DeepSpeed JSON config for one run (no optimizer/scheduler sections: t2 owns both)."""
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"dist.zero_stage: must be 0-3, got {zero_stage}")
    bf16 = resolve_precision(precision) == "bf16"
    zero = {"stage": zero_stage}
    if zero_stage == 3:
        # Lets the exporter gather full weights on rank 0 for the HF copy.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "train_batch_size": micro_batch * grad_accum * world_size,
        "zero_optimization": zero,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": False},
        "gradient_clipping": float(grad_clip),
        "steps_per_print": 10**12,
        "wall_clock_breakdown": False,
    }


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only; norms and biases (1-D tensors) are not decayed."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float,
                   betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.Optimizer:
    """torch AdamW (fused on CUDA); no DeepSpeed op is JIT-built on CPU."""
    fused = torch.cuda.is_available()
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=1e-8,
                             fused=fused or None)


def build_engine(model: torch.nn.Module, config: dict, *, lr: float, weight_decay: float):
    """(engine, torch optimizer). Needs the process group (``t2.infra.dist.init``)."""
    if torch.cuda.is_available():
        model = model.to(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    optimizer = make_optimizer(model, lr, weight_decay)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    return engine, optimizer


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def full_state_dict(engine) -> dict | None:
    """Full model weights on rank 0 (None elsewhere); a collective call under ZeRO-3."""
    if engine.zero_optimization_stage() == 3:
        state = engine._zero3_consolidated_16bit_state_dict()
        return state if engine.global_rank == 0 else None
    if engine.global_rank != 0:
        return None
    return {k: v.detach().cpu().clone() for k, v in engine.module.state_dict().items()}


def save(engine, directory: str, tag: str, client_state: dict) -> None:
    """Every rank writes its shard under ``directory/tag``; no ``latest`` file (t2 finds it)."""
    engine.save_checkpoint(directory, tag=tag, client_state=client_state, save_latest=False)


def _safe_globals() -> list:
    """The few plain DeepSpeed types its own checkpoints pickle (besides tensors and builtins)."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


def check_no_pickled_code(path: str | os.PathLike) -> None:
    """Refuse a checkpoint whose ``*.pt`` files need more than torch's ``weights_only``
    unpickler (tensors, containers, numbers) plus the DeepSpeed types above.

    DeepSpeed 0.19.8 reads its files with ``torch.load(..., weights_only=False)``, i.e. with
    the full unpickler, which runs whatever code a crafted file names; every file is first
    opened here with the restricted unpickler, so one that names any other callable is refused
    before DeepSpeed sees it."""
    from pathlib import Path

    for f in sorted(Path(path).glob("*.pt")):
        try:
            with torch.serialization.safe_globals(_safe_globals()):
                torch.load(f, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError) as e:
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise ValueError(f"checkpoint file {f}: refused, not loadable with "
                             f"weights_only=True ({first})") from None


def load(engine, directory: str, tag: str) -> dict:
    """Restore model, optimizer and engine counters in place; returns the saved client_state.
    Files holding pickled code are refused first (see ``check_no_pickled_code``)."""
    check_no_pickled_code(os.path.join(directory, tag))
    path, client_state = engine.load_checkpoint(directory, tag=tag)
    if path is None:
        raise FileNotFoundError(f"no DeepSpeed checkpoint {directory}/{tag}")
    return client_state

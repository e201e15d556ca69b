"""Tokens/s of t2's DeepSpeed training step vs a plain PyTorch loop, same model/batch/dtype/threads.

    python benchmarks/train_throughput.py                 # ~1M and ~5M-param models, fp32, CPU
    python benchmarks/train_throughput.py --params 1e6 --steps 8

Both sides train the same random-init Llama rung (t2.models.ladder) on the same batches with
torch AdamW (same param groups, betas, weight decay) and gradient clipping at 1.0:
plain = forward, cross-entropy, backward, clip, step, zero_grad; t2 = ``train_step`` on the
engine from ``t2.infra.deepspeed.build_engine`` (ZeRO-0, world size 1). Both are warmed up, and
steps are interleaved one by one (plain, t2, plain, t2, ...) so machine noise hits both alike.
Achieved FLOP/s uses the exact training FLOPs per token (t2.models.sizing) and is compared with a
measured fp32 matmul peak. The last line is ``ratio=<t2/plain>`` (geometric mean over models).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from t2.infra import deepspeed as ds
from t2.infra.dist import init
from t2.models.config import ModelSpec
from t2.models.ladder import build_model, shape_for
from t2.models.sizing import flops_per_token, param_counts
from t2.models.tokenizer import BYTE_VOCAB_SIZE
from t2.models.train_loop import train_step

LR, WEIGHT_DECAY, CLIP = 1e-3, 0.1, 1.0


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Practical fp32 peak (FLOP/s) of an n x n matmul with the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def plain_stepper(model):
    opt = ds.make_optimizer(model, LR, WEIGHT_DECAY)

    def step(x):
        logits = model(input_ids=x[:, :-1]).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return step


def t2_stepper(model, micro_batch: int):
    cfg = ds.ds_config(zero_stage=0, precision="fp32", micro_batch=micro_batch, grad_accum=1,
                       world_size=1, grad_clip=CLIP)
    engine, opt = ds.build_engine(model, cfg, lr=LR, weight_decay=WEIGHT_DECAY)
    return lambda x: train_step(engine, opt, LR, [x])


def timed(step, x) -> float:
    t = time.perf_counter()
    step(x)
    return time.perf_counter() - t


def bench(num_params: float, args) -> float:
    config = shape_for(ModelSpec(params=num_params, seq_len=args.seq_len), BYTE_VOCAB_SIZE)
    n = param_counts(config)
    fpt = flops_per_token(config, args.seq_len)["train_exact"]
    micro = args.batch_tokens // args.seq_len
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, BYTE_VOCAB_SIZE, (micro, args.seq_len + 1), generator=g)
               for _ in range(args.steps)]
    plain = plain_stepper(build_model(config, 0))
    mine = t2_stepper(build_model(config, 0), micro)
    for x in batches[:2]:  # warm-up: allocator, first-step optimizer state, DS buffers
        timed(plain, x), timed(mine, x)
    secs = {"plain": 0.0, "t2": 0.0}
    for x in batches:
        secs["plain"] += timed(plain, x)
        secs["t2"] += timed(mine, x)
    tokens = args.steps * args.batch_tokens
    tok_s = {k: tokens / v for k, v in secs.items()}
    ratio = tok_s["t2"] / tok_s["plain"]
    flops = {k: v * fpt for k, v in tok_s.items()}
    print(f"depth={config.num_hidden_layers} N={n['total']:,} (non-emb {n['non_embedding']:,}) "
          f"seq={args.seq_len} "
          f"batch={args.batch_tokens} fp32 threads={torch.get_num_threads()}: "
          f"plain {tok_s['plain']:,.0f} tok/s ({flops['plain'] / 1e9:.1f} GFLOP/s), "
          f"t2 {tok_s['t2']:,.0f} tok/s ({flops['t2'] / 1e9:.1f} GFLOP/s, "
          f"{flops['t2'] / args.peak:.0%} of matmul peak), t2/plain {ratio:.3f}", flush=True)
    return ratio


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=float, nargs="+", default=[1e6, 5e6],
                   help="target N per model (nearest ladder rung)")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--steps", type=int, default=10, help="timed steps per side and model")
    args = p.parse_args()
    init("gloo")
    args.peak = matmul_peak()
    print(f"fp32 matmul peak: {args.peak / 1e9:.1f} GFLOP/s "
          f"(2048^3, {torch.get_num_threads()} threads)", flush=True)
    ratios = [bench(n, args) for n in args.params]
    print(f"ratio={math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")


if __name__ == "__main__":
    main()

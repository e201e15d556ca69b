"""The model size ladder: one dial (depth) -> a Llama-style ``transformers`` config -> a model.

    from t2.models.ladder import shape_for, build_model, ladder_table
    config = shape_for(ModelSpec(params=2e5), vocab_size=259)   # nearest rung by total N
    model = build_model(config, seed=0)                          # random init, no hub
    python -m t2.models.ladder 259 256                           # print the ladder

Shape rules (depth ``L`` is the only dial, as in nanochat):
  * width ``d = 48 * L`` rounded (ties down) to a multiple of the head dim (32 below width 512,
    else 64), at least 64;
    48 is narrower than nanochat's 64 so that the smallest rungs with a byte vocabulary (259)
    land near 0.1-0.3M params without 5x gaps between rungs;
  * heads = d / head_dim, full multi-head attention (no GQA, ``num_key_value_heads == heads``);
  * SwiGLU FFN width = 8/3 * d rounded up to a multiple of 32 (Llama's "multiple_of" rule);
  * no biases, RMSNorm, RoPE (theta 10000), context ``max_position_embeddings = seq_len``.
A target ``params`` picks the rung whose total N (with embeddings, the paper's convention) is
nearest in log space.
"""

from __future__ import annotations

import math
import sys

from t2.models.config import ModelSpec

ASPECT = 48  # width per layer
MAX_DEPTH = 96
MIN_WIDTH = 64  # two heads of 32; depth 1 at width 32 would leave a 9x gap to depth 2
FFN_MULTIPLE = 32
ROPE_THETA = 10000.0


def _head_dim(width_raw: float) -> int:
    return 32 if width_raw < 512 else 64


def width_for_depth(depth: int) -> int:
    """Model width d of a rung: ASPECT*depth rounded to a multiple of the head dim (ties down,
    which keeps the step from depth 2 to 3 at 2.5x in N rather than 3.8x)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    raw = ASPECT * depth
    hd = _head_dim(raw)
    return max(MIN_WIDTH, math.ceil(raw / hd - 0.5) * hd)


def ffn_width(width: int) -> int:
    """SwiGLU hidden width: 8/3 * d rounded up to a multiple of FFN_MULTIPLE."""
    return math.ceil(8 * width / 3 / FFN_MULTIPLE) * FFN_MULTIPLE


def shape(depth: int) -> dict:
    """Depth -> {depth, width, heads, head_dim, ffn} of one rung."""
    width = width_for_depth(depth)
    hd = _head_dim(ASPECT * depth)
    return {"depth": depth, "width": width, "heads": width // hd, "head_dim": hd,
            "ffn": ffn_width(width)}


def params_for_depth(depth: int, vocab_size: int, tie: bool = False) -> int:
    """Total N (embeddings included; the unembedding counted once more unless tied) of a rung."""
    s = shape(depth)
    d, f, L = s["width"], s["ffn"], s["depth"]
    per_layer = 4 * d * d + 3 * d * f + 2 * d  # q,k,v,o + gate,up,down + two RMSNorms
    return L * per_layer + d + vocab_size * d * (1 if tie else 2)


def depth_for_params(num_params: float, vocab_size: int, tie: bool = False) -> int:
    """The depth whose total N is nearest to ``num_params`` in log space."""
    if not num_params > 0:
        raise ValueError(f"model.params must be > 0, got {num_params}")
    return min(range(1, MAX_DEPTH + 1),
               key=lambda L: abs(math.log(params_for_depth(L, vocab_size, tie) / num_params)))


def config_for_depth(depth: int, vocab_size: int, seq_len: int, tie: bool = False,
                     **token_ids) -> LlamaConfig:  # noqa: F821
    from transformers import LlamaConfig

    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    s = shape(depth)
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=s["width"], intermediate_size=s["ffn"],
        num_hidden_layers=depth, num_attention_heads=s["heads"],
        num_key_value_heads=s["heads"], head_dim=s["head_dim"], hidden_act="silu",
        max_position_embeddings=seq_len, initializer_range=0.02, rms_norm_eps=1e-5,
        tie_word_embeddings=tie, attention_bias=False, mlp_bias=False,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        bos_token_id=token_ids.get("bos_token_id"), eos_token_id=token_ids.get("eos_token_id"),
        pad_token_id=token_ids.get("pad_token_id"),
    )


def shape_for(spec: ModelSpec, vocab_size: int, *, bos_token_id: int | None = None,
              eos_token_id: int | None = None, pad_token_id: int | None = None):
    """ModelSpec (target N or depth) + vocabulary size -> ``transformers.LlamaConfig``."""
    tie = spec.tie_embeddings
    depth = spec.depth if spec.depth is not None else depth_for_params(spec.params, vocab_size, tie)
    return config_for_depth(depth, vocab_size, spec.seq_len, tie, bos_token_id=bos_token_id,
                            eos_token_id=eos_token_id, pad_token_id=pad_token_id)


def build_model(config, seed: int):
    """A randomly initialised ``LlamaForCausalLM``: same seed, same weights; never touches a hub."""
    import torch
    from transformers import LlamaForCausalLM

    # The global RNG is borrowed (and restored) so that init is a function of the seed alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model


def ladder_table(vocab_size: int, seq_len: int, max_depth: int = 48,
                 tie: bool = False) -> list[dict]:
    """Rungs 1..max_depth: shape plus N (total), N (non-embedding) and train FLOPs per token."""
    from t2.models.sizing import flops_per_token, param_counts

    rows = []
    for L in range(1, max_depth + 1):
        cfg = config_for_depth(L, vocab_size, seq_len, tie)
        counts = param_counts(cfg)
        rows.append({**shape(L), "params": counts["total"],
                     "params_nonemb": counts["non_embedding"],
                     "train_flops_per_token": flops_per_token(cfg, seq_len)["train_exact"]})
    return rows


def main(argv: list[str]) -> int:
    vocab = int(argv[0]) if argv else 259
    seq_len = int(argv[1]) if len(argv) > 1 else 256
    print(f"{'depth':>5} {'width':>6} {'heads':>5} {'ffn':>6} {'N':>14} {'N_nonemb':>14}")
    for r in ladder_table(vocab, seq_len):
        print(f"{r['depth']:>5} {r['width']:>6} {r['heads']:>5} {r['ffn']:>6} "
              f"{r['params']:>14,} {r['params_nonemb']:>14,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

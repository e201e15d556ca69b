"""Decode attention over a shared prompt prefix: n sample rows read one copy of their prompt's KV.

Replicating a prompt's KV cache to n rows (``Cache.batch_repeat_interleave``) makes every decode
step read, and every cache append copy, n copies of a few-hundred-token prefix: at k = 64 that
memory traffic, not arithmetic, dominates sampling on CPU. Here the prefill cache of the B
prompts is kept once ([B, heads, P, head_dim]) and a plain ``DynamicCache`` holds only the
tokens generated so far ([rows, heads, t, head_dim]). During decoding the model runs with the
attention implementation ``"t2_shared_prefix"`` (registered in transformers'
``AttentionInterface``), which computes for each row the softmax over [prefix keys of its prompt,
its own generated keys] jointly, so the result equals ordinary attention over the concatenation.
Rows of one prompt are gathered into a [B, rows_per_prompt] grid so the prefix part is one
batched matmul with the prompt rows as queries (no copy of the prefix).

    prefix = SharedPrefix.from_cache(prefill_cache, prompt_mask, owner)   # owner: row -> prompt
    with shared_prefix_attention(model):
        model(input_ids=tok[:, None], position_ids=pos[:, None], cache=suffix_cache,
              use_cache=True, t2_prefix=prefix)
"""

from __future__ import annotations

import contextlib

import torch

NAME = "t2_shared_prefix"


class SharedPrefix:
    """The prompts' KV per layer plus the row -> prompt grid used by the attention function."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor],
                 prompt_mask: torch.Tensor, owner: torch.Tensor):
        self.keys, self.values = keys, values          # per layer [B, Hkv, P, hd]
        self.pad = ~prompt_mask.bool()[:, None, None, :]  # [B, 1, 1, P]: True where padding
        self.set_rows(owner)

    @classmethod
    def from_cache(cls, cache, prompt_mask: torch.Tensor, owner: torch.Tensor) -> SharedPrefix:
        layers = cache.layers
        return cls([layer.keys for layer in layers], [layer.values for layer in layers],
                   prompt_mask, owner)

    def set_rows(self, owner: torch.Tensor) -> None:
        """``owner[r]`` is row r's prompt; rows of one prompt are contiguous and in order."""
        device = self.keys[0].device
        owner = owner.to(device)
        num_prompts = self.keys[0].shape[0]
        counts = torch.bincount(owner, minlength=num_prompts)
        starts = torch.cumsum(counts, 0) - counts
        width = max(int(counts.max()), 1)
        slot = torch.arange(width, device=device)[None, :]
        self.valid = slot < counts[:, None]                              # [B, W]
        self.grid = torch.where(self.valid, starts[:, None] + slot, 0)   # row index per cell
        self.flat_valid = self.valid.flatten().nonzero().squeeze(-1)     # cells holding rows
        self.full = bool(self.valid.all())                               # grid == all rows


def _repeat_heads(x: torch.Tensor, times: int) -> torch.Tensor:
    return x if times == 1 else x.repeat_interleave(times, dim=1)


def _rows_to_grid(x: torch.Tensor, prefix: SharedPrefix) -> torch.Tensor:
    """[R, H, ...] in row order -> [B, H, W, ...] on the prompt grid (a view when full)."""
    num_prompts, width = prefix.grid.shape
    if not prefix.full:
        x = x[prefix.grid.flatten()]
    return x.reshape(num_prompts, width, *x.shape[1:]).transpose(1, 2)


def _grid_to_rows(x: torch.Tensor, prefix: SharedPrefix) -> torch.Tensor:
    """[B, H, W, ...] laid out on the prompt grid -> [R, H, ...] in row order."""
    num_prompts, heads, width = x.shape[:3]
    flat = x.transpose(1, 2).reshape(num_prompts * width, heads, *x.shape[3:])
    return flat if prefix.full else flat[prefix.flat_valid]


def shared_prefix_attention_forward(module, query, key, value, attention_mask, scaling=None,
                                    dropout=0.0, t2_prefix: SharedPrefix | None = None, **_):
    """Attention for one new token per row: query [R, H, 1, d]; key/value [R, Hkv, t, d]."""
    if t2_prefix is None or query.shape[2] != 1:
        raise RuntimeError(f"{NAME} attention only serves decode steps with a t2_prefix")
    prefix, layer = t2_prefix, module.layer_idx
    heads, dim = query.shape[1], query.shape[-1]
    scaling = dim ** -0.5 if scaling is None else scaling
    groups = heads // key.shape[1]
    pk = _repeat_heads(prefix.keys[layer], groups)                     # [B, H, P, d]
    pv = _repeat_heads(prefix.values[layer], groups)
    key, value = _repeat_heads(key, groups), _repeat_heads(value, groups)  # [R, H, t, d]
    q = query[:, :, 0, :]                                              # [R, H, d]
    qg = _rows_to_grid(q, prefix)                                      # [B, H, W, d]
    s_pre = (qg @ pk.transpose(-1, -2)) * scaling                      # [B, H, W, P]
    s_pre = s_pre.float().masked_fill(prefix.pad, float("-inf"))
    s_suf = torch.einsum("rhd,rhtd->rht", q, key).float() * scaling    # [R, H, t]
    s_suf_g = _rows_to_grid(s_suf, prefix)                             # [B, H, W, t]
    probs = torch.cat([s_pre, s_suf_g], dim=-1).softmax(dim=-1).to(query.dtype)
    prefix_len = pk.shape[2]
    out_g = probs[..., :prefix_len] @ pv                               # [B, H, W, d]
    suffix_probs = _grid_to_rows(probs[..., prefix_len:], prefix)      # [R, H, t]
    out = _grid_to_rows(out_g, prefix) + torch.einsum("rht,rhtd->rhd", suffix_probs, value)
    return out[:, None, :, :], None                                    # [R, 1, H, d]


@contextlib.contextmanager
def shared_prefix_attention(model):
    """Run ``model`` with the shared-prefix attention inside the block, then restore it."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, shared_prefix_attention_forward)
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before


def supports_shared_prefix(model) -> bool:
    """Only plain full attention models (no sliding window, no logit softcap) use the fast path."""
    config = model.config
    if getattr(config, "sliding_window", None) or getattr(config, "attn_logit_softcapping", None):
        return False
    if getattr(config, "is_encoder_decoder", False):
        return False
    try:
        from transformers import AttentionInterface  # noqa: F401
    except ImportError:
        return False
    return getattr(model, "_supports_attention_backend", False)

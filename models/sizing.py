"""Parameter and FLOP accounting of a Llama config: one source for train and inference compute.

    from t2.models.sizing import param_counts, flops_per_token, inference_flops
    param_counts(config)["total"]                      # == sum(p.numel()) of build_model(config)
    flops_per_token(config, seq_len)["train_exact"]    # FLOPs per trained token
    inference_flops(config, prompt_len=64, new_tokens=32, num_samples=8)

Conventions (all FLOPs count a multiply-add as 2):
  * N ("total") = every parameter tensor once: input embedding, all blocks (attention, SwiGLU MLP,
    RMSNorm gains), final norm, and the unembedding unless it is tied to the input embedding.
    This is the paper's N (embeddings included).
  * "non_embedding" = total minus the input embedding and (untied) unembedding tables (Kaplan's N).
  * Forward FLOPs per token = 2 * (weight-matmul params, the unembedding included, the embedding
    lookup excluded) + attention: QK^T and AV, 2*d each per attended key per layer. Attention is
    causal: the token at position t (1-based) attends to t keys, so averaged over a window of T
    tokens it attends to (T+1)/2 keys. (A kernel computing the full T x T matrix would do about
    twice that attention work; we count the useful work.) Norms, softmax, RoPE and the SwiGLU
    activation are elementwise, O(d) per token, and left out.
  * Training = forward + backward = 3 x forward (backward is twice the forward matmuls).
"""

from __future__ import annotations


def _dims(config) -> tuple[int, int, int, int, int, int, bool]:
    d = config.hidden_size
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    q_dim = config.num_attention_heads * head_dim
    kv_dim = (config.num_key_value_heads or config.num_attention_heads) * head_dim
    return (d, q_dim, kv_dim, config.intermediate_size, config.num_hidden_layers,
            config.vocab_size, bool(config.tie_word_embeddings))


def _block_matmul_params(config) -> int:
    d, q_dim, kv_dim, f, L, _, _ = _dims(config)
    attn = d * q_dim + 2 * d * kv_dim + q_dim * d  # q, k, v, o projections
    return L * (attn + 3 * d * f)  # + gate, up, down


def param_counts(config) -> dict:
    """Parameter counts of ``config`` under every convention (see the module docstring).

    Keys: total, non_embedding, embedding (input table V*d), unembedding (extra params of the
    output projection: V*d if untied else 0), total_tied / total_untied (total with / without
    tying), unembedding_matmul (V*d, the output matmul's size either way).
    """
    d, _, _, _, L, V, tie = _dims(config)
    norms = L * 2 * d + d  # two RMSNorm gains per block + the final norm
    non_embedding = _block_matmul_params(config) + norms
    embedding = V * d
    unembedding = 0 if tie else V * d
    return {
        "total": non_embedding + embedding + unembedding,
        "non_embedding": non_embedding,
        "embedding": embedding,
        "unembedding": unembedding,
        "total_tied": non_embedding + embedding,
        "total_untied": non_embedding + 2 * embedding,
        "unembedding_matmul": V * d,
    }


def forward_flops_per_token(config, num_keys: float) -> float:
    """Forward FLOPs of one token that attends to ``num_keys`` keys (itself included)."""
    d, q_dim, _, _, L, V, _ = _dims(config)
    matmul = 2 * (_block_matmul_params(config) + V * d)
    attention = L * 2 * (2 * q_dim * num_keys)  # QK^T and AV, each 2*q_dim per key
    return float(matmul + attention)


def prefill_flops_per_token(config, prompt_len: int) -> float:
    """Forward FLOPs per prompt token, averaged over a causal prompt of ``prompt_len`` tokens."""
    if prompt_len < 1:
        raise ValueError(f"prompt_len must be >= 1, got {prompt_len}")
    return forward_flops_per_token(config, (prompt_len + 1) / 2)


def decode_flops_per_token(config, context_len: int) -> float:
    """Forward FLOPs of one new token at position ``context_len`` (it attends to that many keys,
    the KV cache plus itself); the cache makes earlier tokens free."""
    if context_len < 1:
        raise ValueError(f"context_len must be >= 1, got {context_len}")
    return forward_flops_per_token(config, context_len)


def flops_per_token(config, seq_len: int) -> dict:
    """FLOPs per token for training windows of ``seq_len`` tokens, plus inference references.

    train_6N_total = 6 * N_total (the paper's C = 6 N D with N incl. embeddings; ``train_6N`` is
    this one); train_6N_nonemb = 6 * N_non_embedding (Kaplan); forward = exact forward at the
    causal mean context; train_exact = 3 * forward; prefill = prefill_flops_per_token(seq_len);
    decode = decode_flops_per_token(seq_len).
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    counts = param_counts(config)
    forward = prefill_flops_per_token(config, seq_len)
    return {
        "train_6N": 6.0 * counts["total"],
        "train_6N_total": 6.0 * counts["total"],
        "train_6N_nonemb": 6.0 * counts["non_embedding"],
        "forward": forward,
        "train_exact": 3.0 * forward,
        "prefill": forward,
        "decode": decode_flops_per_token(config, seq_len),
    }


def inference_flops(config, prompt_len: int, new_tokens: int, num_samples: int,
                    shared_prefill: bool = True) -> float:
    """Total FLOPs to draw ``num_samples`` completions of ``new_tokens`` tokens for one prompt.

    The prompt is prefilled once (``shared_prefill``, a shared KV cache) or once per sample.
    Prefill yields the first new token's logits; each sample then runs ``new_tokens - 1`` decode
    steps at contexts prompt_len+1 .. prompt_len+new_tokens-1 (the last token is never fed back).
    """
    if num_samples < 1 or new_tokens < 0:
        raise ValueError("num_samples must be >= 1 and new_tokens >= 0")
    prefill = prompt_len * prefill_flops_per_token(config, prompt_len)
    num_prefills = 1 if shared_prefill else num_samples
    # sum over i = 1 .. new_tokens-1 of decode(prompt_len + i), in closed form (linear in i)
    steps = max(new_tokens - 1, 0)
    per_key = decode_flops_per_token(config, 2) - decode_flops_per_token(config, 1)
    decode = steps * (forward_flops_per_token(config, 0)
                      + per_key * (prompt_len + (steps + 1) / 2))
    return float(num_prefills * prefill + num_samples * decode)

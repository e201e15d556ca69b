"""Parameter and FLOP accounting against real modules, torch's FLOP counter and hand counts.

Run: .venv/bin/python -m pytest tests/models/test_sizing.py -q
"""

import pytest
import torch
from t2.models.ladder import build_model, config_for_depth, params_for_depth
from t2.models.sizing import (
    decode_flops_per_token,
    flops_per_token,
    forward_flops_per_token,
    inference_flops,
    param_counts,
    prefill_flops_per_token,
)
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig


def _hand_config(tie=False):
    """V=10, d=4, 2 heads of 2, FFN 8, one layer: small enough to count by hand."""
    return LlamaConfig(vocab_size=10, hidden_size=4, intermediate_size=8, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, head_dim=2,
                       max_position_embeddings=16, tie_word_embeddings=tie)


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_total_params_equal_the_numel_of_the_built_model(depth, tie):
    cfg = config_for_depth(depth, 259, 64, tie=tie)
    model = build_model(cfg, seed=0)
    counts = param_counts(cfg)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["total"] == params_for_depth(depth, 259, tie)
    tables = model.model.embed_tokens.weight.numel() + (0 if tie else model.lm_head.weight.numel())
    assert counts["non_embedding"] == counts["total"] - tables
    assert counts["total_tied" if tie else "total_untied"] == counts["total"]


def test_total_tied_is_what_the_tied_model_has():
    untied, tied = config_for_depth(2, 300, 32), config_for_depth(2, 300, 32, tie=True)
    assert param_counts(untied)["total_tied"] == sum(
        p.numel() for p in build_model(tied, 0).parameters())
    assert param_counts(tied)["total_untied"] == param_counts(untied)["total"]


def test_param_counts_by_hand_on_a_tiny_config():
    c = param_counts(_hand_config())
    # embed 10*4; q,k,v,o 4*16; gate,up,down 3*4*8; norms 2*4 + 4; lm_head 10*4
    assert c == {"total": 40 + 64 + 96 + 12 + 40, "non_embedding": 64 + 96 + 12,
                 "embedding": 40, "unembedding": 40, "total_tied": 212, "total_untied": 252,
                 "unembedding_matmul": 40}
    assert param_counts(_hand_config(tie=True))["unembedding"] == 0


def test_flops_by_hand_on_a_tiny_config():
    cfg = _hand_config()
    matmul = 2 * (64 + 96 + 40)  # weight matmuls incl. unembedding, per token
    # causal window of 3: positions attend to 1, 2, 3 keys; QK^T and AV cost 2*d each per key
    per_position = [matmul + 2 * 2 * 4 * t for t in (1, 2, 3)]
    f = flops_per_token(cfg, seq_len=3)
    assert f["forward"] == pytest.approx(sum(per_position) / 3) == 432
    assert f["train_exact"] == 3 * 432
    assert f["train_6N"] == f["train_6N_total"] == 6 * 252
    assert f["train_6N_nonemb"] == 6 * 172
    assert f["decode"] == decode_flops_per_token(cfg, 3) == matmul + 16 * 3
    assert prefill_flops_per_token(cfg, 5) * 5 == sum(matmul + 16 * t for t in range(1, 6))


def test_inference_flops_by_hand_with_shared_and_unshared_prefill():
    cfg = _hand_config()
    matmul, prompt, new, k = 400, 4, 3, 5
    prefill = sum(matmul + 16 * t for t in range(1, prompt + 1))
    decode = sum(matmul + 16 * t for t in (prompt + 1, prompt + 2))  # new-1 fed-back tokens
    assert inference_flops(cfg, prompt, new, k) == prefill + k * decode
    assert inference_flops(cfg, prompt, new, k, shared_prefill=False) == k * (prefill + decode)
    assert inference_flops(cfg, prompt, 1, k) == prefill  # first token comes from the prefill


def test_inference_flops_equal_the_step_by_step_sum_on_a_ladder_model():
    cfg = config_for_depth(3, 4096, 512)
    for prompt, new in [(1, 1), (7, 2), (100, 300)]:
        prefill = sum(forward_flops_per_token(cfg, t) for t in range(1, prompt + 1))
        decode = sum(decode_flops_per_token(cfg, prompt + i) for i in range(1, new))
        assert inference_flops(cfg, prompt, new, 3) == pytest.approx(prefill + 3 * decode)
    assert inference_flops(cfg, 10, 0, 4) == inference_flops(cfg, 10, 1, 4)


def test_forward_and_backward_flops_match_torchs_flop_counter_on_a_real_model():
    cfg = config_for_depth(2, 259, 64)
    cfg._attn_implementation = "eager"  # explicit matmuls, which the counter sees
    model = build_model(cfg, seed=0)
    seq = 24
    x = torch.randint(0, 259, (2, seq))
    with FlopCounterMode(display=False) as fwd:
        loss = model(input_ids=x, labels=x).loss
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    # eager attention computes the full masked T x T matrix: every position "attends" to T keys
    assert fwd.get_total_flops() == 2 * seq * forward_flops_per_token(cfg, num_keys=seq)
    assert bwd.get_total_flops() == 2 * fwd.get_total_flops()


def test_exact_training_flops_exceed_6n_nonemb_by_attention_and_unembedding_only():
    cfg = config_for_depth(4, 4096, 512)
    f, c = flops_per_token(cfg, 512), param_counts(cfg)
    norms = 4 * 2 * cfg.hidden_size + cfg.hidden_size
    attention = 3 * 4 * 2 * 2 * cfg.hidden_size * (512 + 1) / 2
    assert f["train_exact"] == pytest.approx(
        f["train_6N_nonemb"] - 6 * norms + 6 * c["unembedding_matmul"] + attention)


def test_bad_lengths_raise():
    cfg = _hand_config()
    with pytest.raises(ValueError, match="prompt_len"):
        prefill_flops_per_token(cfg, 0)
    with pytest.raises(ValueError, match="context_len"):
        decode_flops_per_token(cfg, 0)
    with pytest.raises(ValueError, match="num_samples"):
        inference_flops(cfg, 4, 2, 0)

"""The size ladder: shapes, target-N lookup, deterministic random init.

Run: .venv/bin/python -m pytest tests/models/test_ladder.py -q
"""

import itertools
import math

import pytest
import torch
from t2.models.config import ModelSpec
from t2.models.ladder import (
    MAX_DEPTH,
    build_model,
    config_for_depth,
    depth_for_params,
    ladder_table,
    params_for_depth,
    shape,
    shape_for,
)


def test_every_rung_has_whole_heads_of_32_to_64_and_a_swiglu_ffn_near_8_thirds():
    for depth in range(1, MAX_DEPTH + 1):
        s = shape(depth)
        assert s["heads"] * s["head_dim"] == s["width"]
        assert 32 <= s["head_dim"] <= 64
        assert s["ffn"] % 32 == 0
        assert 0 <= s["ffn"] - 8 * s["width"] / 3 < 32


def test_total_params_grow_with_depth_and_neighbouring_rungs_are_within_3x():
    params = [params_for_depth(d, 259) for d in range(1, MAX_DEPTH + 1)]
    assert all(b > a for a, b in itertools.pairwise(params))
    assert all(b / a < 3.2 for a, b in itertools.pairwise(params))


def test_target_params_pick_the_rung_nearest_in_log_space():
    for target in [1e5, 2e5, 3e5, 1e6, 5e7, 1e9]:
        depth = depth_for_params(target, 259)
        err = abs(math.log(params_for_depth(depth, 259) / target))
        for other in (depth - 1, depth + 1):
            if 1 <= other <= MAX_DEPTH:
                assert err <= abs(math.log(params_for_depth(other, 259) / target))


def test_exact_rung_sizes_map_back_to_their_depth_for_tied_and_untied():
    for tie in (False, True):
        for depth in (1, 2, 5, 20):
            assert depth_for_params(params_for_depth(depth, 4096, tie), 4096, tie) == depth


def test_the_ladder_reaches_tiny_byte_models_and_about_one_billion_params():
    tiny = shape_for(ModelSpec(params=2e5), vocab_size=259)
    assert 1e5 <= params_for_depth(tiny.num_hidden_layers, 259) <= 3e5
    big = shape_for(ModelSpec(params=1e9, seq_len=2048), vocab_size=4096)
    assert abs(params_for_depth(big.num_hidden_layers, 4096) / 1e9 - 1) < 0.1


def test_shape_for_builds_a_llama_config_from_the_depth_dial():
    cfg = shape_for(ModelSpec(depth=3, seq_len=128, tie_embeddings=True), vocab_size=300,
                    eos_token_id=1, bos_token_id=0, pad_token_id=2)
    s = shape(3)
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) == (
        3, s["width"], s["ffn"])
    assert cfg.num_attention_heads == cfg.num_key_value_heads == s["heads"]
    assert cfg.max_position_embeddings == 128 and cfg.vocab_size == 300
    assert cfg.tie_word_embeddings and cfg.eos_token_id == 1 and cfg.pad_token_id == 2


def test_bad_targets_raise_value_errors_naming_the_field():
    with pytest.raises(ValueError, match="model.params"):
        depth_for_params(0, 259)
    with pytest.raises(ValueError, match="depth"):
        shape(0)


def test_build_model_is_deterministic_under_its_seed_and_leaves_the_global_rng_alone():
    cfg = config_for_depth(2, 259, 64)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = build_model(cfg, seed=7), build_model(cfg, seed=7), build_model(cfg, seed=8)
    assert torch.equal(torch.rand(1), before)  # global stream untouched
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.layers.0.self_attn.q_proj.weight"],
                           sc["model.layers.0.self_attn.q_proj.weight"])


def test_a_built_model_runs_forward_and_backward_with_tied_unembedding():
    cfg = config_for_depth(1, 259, 32, tie=True)
    model = build_model(cfg, seed=0)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    x = torch.randint(0, 259, (2, 32))
    out = model(input_ids=x, labels=x)
    assert out.logits.shape == (2, 32, 259)
    assert abs(out.loss.item() - math.log(259)) < 0.5  # random init: near-uniform predictions
    out.loss.backward()
    assert model.model.embed_tokens.weight.grad is not None


def test_ladder_table_lists_rungs_with_their_sizes_and_compute():
    rows = ladder_table(259, 256, max_depth=6)
    assert [r["depth"] for r in rows] == list(range(1, 7))
    assert [r["params"] for r in rows] == [params_for_depth(d, 259) for d in range(1, 7)]
    assert all(r["train_flops_per_token"] > 6 * r["params_nonemb"] for r in rows)

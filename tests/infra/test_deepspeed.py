"""ds_config from typed settings, and checkpoints with done-markers on a real engine:
python -m pytest tests/infra/test_deepspeed.py -q
"""

import pytest
import torch
from t2.infra import deepspeed as ds
from t2.infra.checkpoint import (
    complete_checkpoints,
    latest_checkpoint,
    load_checkpoint,
    prune,
    save_checkpoint,
)
from t2.infra.dist import dist_info, init


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_ds_config_sets_batch_zero_stage_and_cpu_precision(stage):
    cfg = ds.ds_config(zero_stage=stage, precision="auto", micro_batch=4, grad_accum=3,
                       world_size=2, grad_clip=1.0)
    assert cfg["train_batch_size"] == 24
    assert cfg["zero_optimization"]["stage"] == stage
    assert cfg["bf16"]["enabled"] is torch.cuda.is_available()
    assert "optimizer" not in cfg  # torch AdamW is passed in: no op build on CPU


def test_zero_stage_four_is_rejected_naming_the_field():
    with pytest.raises(ValueError, match="dist.zero_stage"):
        ds.ds_config(zero_stage=4, precision="fp32", micro_batch=1, grad_accum=1, world_size=1)


def test_weight_decay_skips_one_dimensional_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = ds.param_groups(model, 0.1)
    assert [p.ndim for p in decay["params"]] == [2]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3


def _engine(seed):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, max_position_embeddings=16))
    cfg = ds.ds_config(zero_stage=2, precision="fp32", micro_batch=2, grad_accum=1, world_size=1)
    return ds.build_engine(model, cfg, lr=1e-2, weight_decay=0.1)


def _train(engine, steps):
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randint(0, 32, (2, 9), generator=g)
        engine.backward(engine(input_ids=x, labels=x).loss)
        engine.step()


@pytest.mark.slow
def test_checkpoints_count_only_with_their_marker_and_restore_weights_and_rng(tmp_path):
    assert init("gloo").world_size == 1 and dist_info().rank == 0
    engine, _ = _engine(0)
    _train(engine, 2)
    save_checkpoint(engine, tmp_path, progress=2, client_state={"elapsed": 1.5})
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    save_checkpoint(engine, tmp_path, progress=4, client_state={}, manifest={"branch_point": 0})
    weights = {k: v.clone() for k, v in engine.module.state_dict().items()}
    (tmp_path / "step-9").mkdir()  # a crashed save: no marker, never "latest"
    assert [m["progress"] for _, m in complete_checkpoints(tmp_path)] == [2, 4]
    path, manifest = latest_checkpoint(tmp_path)
    assert path.name == "step-4" and manifest["branch_point"] == 0

    fresh, _ = _engine(1)
    state = load_checkpoint(fresh, path)
    assert state["progress"] == 4
    assert all(torch.equal(v, weights[k]) for k, v in fresh.module.state_dict().items())
    assert torch.equal(torch.rand(3), expected_draw)  # the RNG continues where it was saved
    assert load_checkpoint(fresh, tmp_path / "step-2")["elapsed"] == 1.5

    save_checkpoint(engine, tmp_path, progress=6, client_state={})
    removed = prune(tmp_path, keep_last=1, keep=lambda m: "branch_point" in m)
    assert sorted(p.name for p in removed) == ["step-2", "step-9"]
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-4", "step-6"]

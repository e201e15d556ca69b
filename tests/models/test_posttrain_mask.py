"""Post-training losses, batches and hparams on a tiny real model (fast, no DeepSpeed):
python -m pytest tests/models/test_posttrain_mask.py -q
"""

import pytest
import torch
from t2.infra.config import ConfigError, parse_config
from t2.models.config import ModelSpec
from t2.models.ladder import build_model, shape_for
from t2.models.posttrain_config import PosttrainConfig, batch_rule, resolve_posttrain
from t2.models.posttrain_data import (
    IGNORE,
    Batches,
    Example,
    TrainSet,
    encode_set,
    loss_sum,
    split_ids,
    targets,
)
from t2.models.tokenizer import get_tokenizer

PROMPT, ANSWER = "12+7-3=16\n40-8+1=33\n5+5+5=", "15\n"


@pytest.fixture(scope="module")
def tok():
    return get_tokenizer("byte")


@pytest.fixture(scope="module")
def model(tok):
    config = shape_for(ModelSpec(depth=1, seq_len=64), len(tok), pad_token_id=tok.pad_token_id)
    return build_model(config, seed=0)


def _grads(model, ids: list[int], labels: list[int]) -> torch.Tensor:
    model.zero_grad()
    x, y = torch.tensor([ids]), torch.tensor([labels])
    loss_sum(model(input_ids=x).logits, y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_sft_targets_mask_the_prompt_and_keep_every_answer_token(tok):
    ids, num_prompt = split_ids(tok, PROMPT, ANSWER, max_len=64)
    assert len(ids) == len(PROMPT) + len(ANSWER) and num_prompt == len(PROMPT)  # bytes
    sft, ft = targets(ids, num_prompt, "sft"), targets(ids, num_prompt, "ft")
    assert sft[:num_prompt] == [IGNORE] * num_prompt and sft[num_prompt:] == ids[num_prompt:]
    assert ft == ids
    with pytest.raises(ValueError, match="mode"):
        targets(ids, num_prompt, "rl")


@pytest.mark.parametrize("mode", ["sft", "ft"])
def test_prompt_targets_move_the_gradient_under_ft_only(model, tok, mode):
    """Perturb what the prompt positions are asked to predict, keep the input: the gradient is
    bit-identical under sft (the prompt gives none) and changes under ft."""
    ids, num_prompt = split_ids(tok, PROMPT, ANSWER, max_len=64)
    perturbed = list(ids)
    perturbed[1:num_prompt] = [(t + 17) % len(tok) for t in ids[1:num_prompt]]
    base = _grads(model, ids, targets(ids, num_prompt, mode))
    moved = _grads(model, ids, targets(perturbed, num_prompt, mode))
    assert base.abs().sum() > 0
    if mode == "sft":
        assert torch.equal(base, moved)
    else:
        assert not torch.allclose(base, moved)


def test_sft_loss_has_zero_gradient_at_every_prompt_position(model, tok):
    ids, num_prompt = split_ids(tok, PROMPT, ANSWER, max_len=64)
    logits = model(input_ids=torch.tensor([ids])).logits.detach().requires_grad_()
    loss_sum(logits, torch.tensor([targets(ids, num_prompt, "sft")])).backward()
    per_position = logits.grad[0].abs().sum(-1)
    # position t predicts token t + 1: only those predicting an answer token carry gradient
    assert torch.all(per_position[:num_prompt - 1] == 0)
    assert torch.all(per_position[num_prompt - 1:-1] > 0)


def test_long_prompts_lose_their_left_end_never_the_answer(tok):
    ids, num_prompt = split_ids(tok, PROMPT, ANSWER, max_len=10)
    assert len(ids) == 10 and ids[num_prompt:] == tok(ANSWER)["input_ids"]
    assert tok.decode(ids) == (PROMPT + ANSWER)[-10:]
    with pytest.raises(ValueError, match="does not fit"):
        split_ids(tok, PROMPT, ANSWER, max_len=3)


def _encoded(tok, n=20, mode="sft"):
    examples = tuple(Example("arithmetic", f"a-{i}", f"{i}+{i}=", f"{2 * i}\n") for i in range(n))
    return encode_set(TrainSet(examples, {}), tok, mode, max_len=32)


def test_batches_are_a_pure_function_of_seed_step_rank_and_world(tok):
    data = _encoded(tok)
    one = Batches(data, seed=3, batch_size=8, world_size=1, micro_batch=2)
    again = Batches(data, seed=3, batch_size=8, world_size=1, micro_batch=2)
    two = Batches(data, seed=3, batch_size=8, world_size=2, micro_batch=2)
    for step in (0, 2, 5, 11):
        assert one.step_indices(step) == again.step_indices(step)
        ranks = [i for r in range(2) for m in range(two.grad_accum)
                 for i in two.micro_indices(step, r, m)]
        singles = [i for m in range(one.grad_accum) for i in one.micro_indices(step, 0, m)]
        assert ranks == singles == one.step_indices(step)  # same examples at any world size
        assert one.step_targets(step) == two.step_targets(step)
    ids, labels = one.micro(4, 0, 1)
    ids2, labels2 = again.micro(4, 0, 1)
    assert torch.equal(ids, ids2) and torch.equal(labels, labels2)
    assert (labels[ids == data.pad_id] == IGNORE).all()


def test_each_epoch_is_a_seeded_shuffle_of_every_example(tok):
    data = _encoded(tok)
    b = Batches(data, seed=0, batch_size=4, world_size=1, micro_batch=4)
    epochs = [b.indices(e * len(data), len(data)) for e in range(3)]
    assert all(sorted(e) == list(range(len(data))) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    other = Batches(data, seed=1, batch_size=4, world_size=1, micro_batch=4)
    assert other.indices(0, len(data)) != epochs[0]


def test_lr_and_batch_follow_the_documented_rule_and_overrides_win():
    cfg = PosttrainConfig(mode="sft", tasks=["arithmetic"])
    hp = resolve_posttrain(cfg, num_examples=1000, pretrain_lr=3e-3, num_params=2e5,
                           max_len=128, world_size=1)
    assert hp.lr == pytest.approx(3e-4) and hp.batch_size == 64
    assert hp.num_steps == -(-6 * 1000 // 64) and hp.warmup_steps == -(-3 * hp.num_steps // 100)
    assert batch_rule(100, 1) == 8 and batch_rule(100, 2) == 8 and batch_rule(3, 4) == 4
    small = resolve_posttrain(cfg.model_copy(update={"lr": 1e-4, "batch_size": 6,
                                                     "micro_batch": 3, "epochs": 1.0}),
                              num_examples=30, pretrain_lr=None, num_params=2e5, max_len=128,
                              world_size=2)
    assert (small.lr, small.batch_size, small.micro_batch, small.grad_accum) == (1e-4, 6, 3, 1)
    assert small.num_steps == 5
    with pytest.raises(ValueError, match="^lr: "):
        resolve_posttrain(cfg, num_examples=10, pretrain_lr=None, num_params=2e5, max_len=64,
                          world_size=1)
    with pytest.raises(ValueError, match="^batch_size: "):
        resolve_posttrain(cfg.model_copy(update={"batch_size": 5}), num_examples=10,
                          pretrain_lr=1e-3, num_params=2e5, max_len=64, world_size=2)


@pytest.mark.parametrize("data, field", [
    ({"mode": "rl", "tasks": ["arithmetic"]}, "mode"),
    ({"mode": "sft", "tasks": []}, "tasks"),
    ({"mode": "sft", "tasks": ["arithmetic", "arithmetic"]}, "tasks"),
    ({"mode": "ft", "tasks": ["arithmetic"], "epochs": 0}, "epochs"),
    ({"mode": "ft", "tasks": ["arithmetic"], "learning_rate": 1e-3}, "learning_rate"),
    ({"mode": "ft", "tasks": ["arithmetic"], "warmup_frac": 0.5, "decay_frac": 0.6},
     "decay_frac"),
])
def test_bad_config_is_one_line_naming_the_field(data, field):
    with pytest.raises(ConfigError) as err:
        parse_config(data, PosttrainConfig, "study.yaml")
    assert str(err.value).startswith(f"study.yaml: {field}: ") and "\n" not in str(err.value)

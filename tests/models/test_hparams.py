"""Batch, LR and step counts derived from (N, D): pure, consistent, and overridable.

Run: .venv/bin/python -m pytest tests/models/test_hparams.py -q
"""

import dataclasses

import pytest
from t2.models.config import TrainSpec
from t2.models.hparams import deepseek_batch_tokens, deepseek_lr, resolve


def _consistent(hp):
    assert hp.batch_tokens == hp.world_size * hp.grad_accum * hp.micro_batch * hp.seq_len
    assert hp.num_steps * hp.batch_tokens == pytest.approx(hp.num_tokens, rel=0.5 / hp.num_steps)


def test_a_tiny_cpu_run_gets_a_batch_of_4k_to_16k_tokens_and_hundreds_of_steps():
    hp = resolve(2e5, 2e6, TrainSpec(tokens=2e6, decay_at=[5e5, 1e6]), seq_len=256, world_size=1)
    assert 4096 <= hp.batch_tokens <= 16384
    assert 100 <= hp.num_steps <= 500
    assert 1e-3 <= hp.lr <= 2e-2
    assert hp.decay_steps == tuple(round(d / hp.batch_tokens) for d in (5e5, 1e6, 2e6))
    assert hp.warmup_tokens == int(0.05 * 5e5)
    _consistent(hp)


def test_batch_and_lr_follow_deepseek_scaling_at_a_billion_params():
    n, d = 1e9, 2e10
    hp = resolve(n, d, TrainSpec(tokens=d), seq_len=2048, world_size=8)
    assert hp.batch_tokens == pytest.approx(deepseek_batch_tokens(6 * n * d), rel=0.1)
    assert hp.lr == pytest.approx(deepseek_lr(6 * n * d))
    assert 1e-4 < hp.lr < 2e-3 and hp.micro_batch <= 2
    _consistent(hp)


def test_bigger_compute_means_bigger_batches_and_smaller_learning_rates():
    spec = TrainSpec(tokens=1e12)
    small = resolve(1e7, 2e8, spec, 512, 1)
    big = resolve(1e8, 2e9, spec, 512, 1)
    assert big.batch_tokens > small.batch_tokens and big.lr < small.lr


def test_explicit_values_in_the_train_spec_win():
    spec = TrainSpec(tokens=1e6, batch_tokens=8192, micro_batch=4, lr=3e-3)
    hp = resolve(2e5, 1e6, spec, seq_len=256, world_size=2)
    assert (hp.batch_tokens, hp.micro_batch, hp.grad_accum, hp.lr) == (8192, 4, 4, 3e-3)
    _consistent(hp)


def test_resolve_is_pure_and_frozen():
    spec = TrainSpec(tokens=3e6)
    a, b = resolve(3e5, 3e6, spec, 128, 2), resolve(3e5, 3e6, spec, 128, 2)
    assert a == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.lr = 1.0


def test_too_few_tokens_for_one_batch_raise_naming_train_tokens():
    with pytest.raises(ValueError, match="train.tokens"):
        resolve(2e5, 1000, TrainSpec(tokens=1000), seq_len=256, world_size=8)


def test_inconsistent_explicit_batches_raise_naming_the_field():
    with pytest.raises(ValueError, match="train.batch_tokens"):
        resolve(2e5, 1e6, TrainSpec(tokens=1e6, batch_tokens=1000), 256, 1)
    with pytest.raises(ValueError, match="train.micro_batch"):
        resolve(2e5, 1e6, TrainSpec(tokens=1e6, batch_tokens=4096, micro_batch=3), 256, 1)

"""Fixtures for the sampling / shard / evaluate tests: a tiny random checkpoint in t2's format.

``tests/evaluation/conftest.py`` turns them into the session fixtures ``tiny_model`` and
``tiny_checkpoint``; ``build_tiny``/``save_tiny`` are plain functions for other uses.
"""

from __future__ import annotations


def build_tiny(depth: int = 1, seed: int = 0, seq_len: int = 512):
    """A random ladder model with the byte tokenizer, EOS/PAD ids wired into its config."""
    from t2.models.config import ModelSpec
    from t2.models.ladder import build_model, shape_for
    from t2.models.tokenizer import get_tokenizer

    tok = get_tokenizer("byte")
    spec = ModelSpec(depth=depth, seq_len=seq_len)
    config = shape_for(spec, len(tok), bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return build_model(config, seed=seed), tok


def save_tiny(out_dir, depth: int = 1, seed: int = 0):
    model, tok = build_tiny(depth, seed)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return out_dir

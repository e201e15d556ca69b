"""Evaluation-area fixtures: a tiny random t2 checkpoint (model + byte tokenizer), built once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sampling_fixtures import build_tiny, save_tiny


@pytest.fixture(scope="session")
def tiny_model():
    """(LlamaForCausalLM in eval mode, byte tokenizer): depth-1 ladder model, random init."""
    model, tok = build_tiny()
    return model.eval(), tok


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """The same model saved as t2 writes checkpoints: config.json, safetensors, tokenizer."""
    return save_tiny(tmp_path_factory.mktemp("ckpt") / "hf")

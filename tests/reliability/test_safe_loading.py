"""t2 never unpickles code from a checkpoint: DeepSpeed shards must pass torch's
``weights_only`` unpickler first (DeepSpeed itself loads with ``weights_only=False``), RNG state
is saved as plain lists, and HF checkpoints load from safetensors only.
python -m pytest tests/reliability/test_safe_loading.py -q
"""

import os

import pytest
import torch
from t2.infra.checkpoint import load_checkpoint, rng_state
from t2.infra.deepspeed import check_no_pickled_code
from t2.infra.storage import mark_done


class Payload:
    """Unpickling this runs ``os.system`` (what a crafted checkpoint would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_shard_holding_a_pickled_callable_is_refused_unexecuted(tmp_path):
    ckpt = tmp_path / "ckpt" / "step-3"
    ckpt.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"module": {"w": torch.zeros(2)}, "extra": Payload(marker)},
               ckpt / "mp_rank_00_model_states.pt")
    mark_done(ckpt, {"progress": 3})  # even with valid checksums
    with pytest.raises(ValueError, match="mp_rank_00_model_states.pt: refused"):
        load_checkpoint(engine=None, path=ckpt)  # refused before DeepSpeed is asked
    assert not marker.exists()


def test_t2s_own_checkpoint_state_loads_with_the_weights_only_unpickler(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"progress": 7, "rng": rng_state(), "loss_window": [1.5, 2.0]}, path)
    state = torch.load(path, weights_only=True)
    assert state["progress"] == 7 and len(state["rng"]["numpy"][1]) == 624
    check_no_pickled_code(tmp_path)  # passes: nothing outside the allowlist


def test_an_hf_checkpoint_with_only_a_pickled_bin_file_is_not_loaded(tmp_path):
    from t2.evaluation.workers import load_checkpoint as load_hf
    from t2.models.config import ModelSpec
    from t2.models.ladder import build_model, shape_for

    config = shape_for(ModelSpec(depth=1, seq_len=64), 259)
    model = build_model(config, seed=0)
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()  # weights only as a pickle, with a payload in it
    marker = tmp_path / "pwned"
    torch.save({**model.state_dict(), "extra": Payload(marker)}, tmp_path / "pytorch_model.bin")
    with pytest.raises((OSError, ValueError)):
        load_hf(tmp_path, device="cpu")
    assert not marker.exists()

"""A 2-rank gloo post-training run through Ray Train on CPU, the same worker as world size 1:
python -m pytest tests/models/test_posttrain_ray.py -q
"""

import pytest
from t2.evaluation.tasks import train_set
from t2.infra.storage import is_done, read_json
from t2.models.posttrain import posttrain
from t2.models.posttrain_config import PosttrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# a bare HF checkpoint (no train.json), so the LR is given; 32 problems, 8 a step: 4 steps
PT = {"mode": "sft", "tasks": ["arithmetic"], "epochs": 1.0, "num_train_problems": 32,
      "lr": 1e-3, "batch_size": 8, "micro_batch": 2, "checkpoint_every": 2,
      "tracking": {"enabled": False}}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from t2.models.config import ModelSpec
    from t2.models.ladder import build_model, shape_for
    from t2.models.tokenizer import get_tokenizer

    tok = get_tokenizer("byte")
    config = shape_for(ModelSpec(depth=1, seq_len=128), len(tok), bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    out = tmp_path_factory.mktemp("ckpt") / "hf"
    build_model(config, seed=0).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def test_two_ranks_on_ray_train_match_one_rank_in_process(checkpoint, tmp_path):
    one = PosttrainConfig.model_validate(PT)
    two = PosttrainConfig.model_validate(PT | {"dist": {"num_workers": 2, "zero_stage": 2,
                                                         "threads_per_worker": 1}})
    ts = train_set(one.tasks, num=one.num_train_problems, seed=one.seed)
    a = read_json(posttrain(one, checkpoint, tmp_path / "one", ts) / "posttrain.json")
    out = posttrain(two, checkpoint, tmp_path / "two", ts)
    b = read_json(out / "posttrain.json")
    assert is_done(out) and is_done(out / "hf", verify=True)
    assert (a["world_size"], b["world_size"], b["zero_stage"]) == (1, 2, 2)
    assert b["hparams"]["grad_accum"] == 2 and a["hparams"]["grad_accum"] == 4
    # the same examples at every step, the loss a token mean over the global batch: only the
    # summation order differs between 1 rank x 4 micro-steps and 2 ranks x 2
    assert len(b["losses"]) == 4
    assert b["losses"] == pytest.approx(a["losses"], rel=1e-4)
    assert (b["tokens"], b["answer_tokens"]) == (a["tokens"], a["answer_tokens"])
    assert posttrain(two, checkpoint, tmp_path / "two", ts) == out  # rerun: no Ray start

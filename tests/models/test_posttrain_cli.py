"""`t2 posttrain` input errors: one line naming what is wrong, exit 2, before any training:
python -m pytest tests/models/test_posttrain_cli.py -q
"""

import pytest
from t2.flows.cli.main import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from t2.models.config import ModelSpec
    from t2.models.ladder import build_model, shape_for
    from t2.models.tokenizer import get_tokenizer

    tok = get_tokenizer("byte")
    out = tmp_path_factory.mktemp("ckpt") / "hf"
    build_model(shape_for(ModelSpec(depth=1, seq_len=64), len(tok)), seed=0).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("args, message", [
    (["--task", "arithmetic", "--mode", "rl"], "t2 posttrain: mode: Input should be 'ft' or 'sft'"),
    (["--task", "arithmetic"], "t2 posttrain: mode: Field required"),
    (["--mode", "sft"], "t2 posttrain: tasks: Field required"),
    (["--task", "chess", "--mode", "sft"], "--task: unknown task 'chess'"),
    (["--task", "lambada", "--mode", "sft"], "--task: task lambada: no training split"),
    (["--task", "arithmetic", "--mode", "ft", "--set", "epochs=-1"], "epochs: "),
    (["--task", "arithmetic", "--mode", "ft", "--set", "lr_rate=1"], "lr_rate: unknown field"),
    (["--task", "arithmetic", "--mode", "ft"], "lr: the checkpoint records no pretraining LR"),
])
def test_bad_input_is_one_line_and_exit_2(checkpoint, tmp_path, capsys, args, message):
    assert main(["posttrain", str(checkpoint), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("t2: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["posttrain", str(missing), "--task", "arithmetic", "--mode", "sft"]) == 2
    err = capsys.readouterr().err
    assert f"CHECKPOINT {missing}: no config.json" in err and err.count("\n") == 1
    assert not missing.exists()

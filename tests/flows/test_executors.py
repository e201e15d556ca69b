"""The real executor's pieces: run configs from the study, task losses, Ray slots."""

import math
import os

import numpy as np
import pandas as pd
import pytest
from t2.flows.config import load_study
from t2.flows.executors.real import RealExecutor, run_config, task_losses
from t2.flows.plan import RunRequest


def test_run_config_carries_the_study_template_and_the_requested_checkpoints(sim_study, tmp_path):
    cfg = load_study(sim_study(), ["train.lr=0.002", "model.seq_len=64"])
    uri = RealExecutor(cfg, tmp_path).paths.mlflow_uri
    rc = run_config(cfg, RunRequest(N=2e5, Ds=(1e6, 2e6, 4e6)), "x-1", tracking_uri=uri)
    assert rc.model.params == 2e5 and rc.model.seq_len == 64 and rc.train.lr == 0.002
    assert rc.train.tokens == 4e6 and rc.train.decay_points == [1e6, 2e6, 4e6]
    assert rc.tracking.uri.startswith("sqlite:///") and str(tmp_path) in rc.tracking.uri


def test_task_loss_is_the_mean_negative_log_pass_at_k_over_problems_and_tasks():
    table = pd.DataFrame({"task": ["a", "a", "b"], "n": [4, 4, 4], "c": [0, 2, 4],
                          "nll": [math.log(10), math.log(2), 0.1]})
    got = task_losses(table, [1, 2], "likelihood")
    p = np.exp(-table["nll"].to_numpy())
    per = -np.log(1 - (1 - p) ** 2)
    assert got[2] == pytest.approx(np.mean([per[:2].mean(), per[2]]))
    sampled = task_losses(table, [1, 2], "sampled")
    pass1 = np.array([1 / 5, 0.5, 1.0])  # c = 0 floored at 1/(n + 1)
    assert sampled[1] == pytest.approx(np.mean([-np.log(pass1[:2]).mean(), 0.0]))
    assert got[1] > got[2] and sampled[1] > sampled[2]


@pytest.mark.ray
def test_runs_in_parallel_as_the_ray_cluster_allows(sim_study, tmp_path):
    import ray

    cfg = load_study(sim_study(), ["dist.use_ray=true", "dist.num_workers=1"])
    try:
        ex = RealExecutor(cfg, tmp_path)
        assert ex.max_parallel == int(ray.cluster_resources()["CPU"]) == (os.cpu_count() or 1)
    finally:
        ray.shutdown()
    assert RealExecutor(load_study(sim_study()), tmp_path).max_parallel == 1


def test_a_given_ray_address_means_the_cluster_or_a_one_line_refusal(sim_study, tmp_path):
    from t2.infra.config import ConfigError

    cfg = load_study(sim_study())  # dist.num_workers: 1, which alone keeps runs in-process
    with pytest.raises(ConfigError, match=r"--ray-address 127.0.0.1:9: nothing answers"):
        RealExecutor(cfg, tmp_path, ray_address="127.0.0.1:9")
    off = load_study(sim_study(), ["dist.use_ray=false"])
    with pytest.raises(ConfigError, match="dist.use_ray is false"):
        RealExecutor(off, tmp_path, ray_address="127.0.0.1:9")

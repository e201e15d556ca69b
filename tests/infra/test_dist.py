"""Rank/world helpers: python -m pytest tests/infra/test_dist.py -q"""

import pytest
from t2.infra import dist

DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def test_without_a_launcher_a_world_of_one_with_a_free_port_is_declared(monkeypatch):
    for var in DIST_VARS:
        monkeypatch.delenv(var, raising=False)
    dist.set_single_process_env()
    import os

    assert [os.environ[v] for v in DIST_VARS[:4]] == ["0", "1", "0", "127.0.0.1"]
    assert 0 < int(os.environ["MASTER_PORT"]) < 65536


def test_a_launchers_rank_variables_are_left_alone(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("MASTER_PORT", "29555")
    dist.set_single_process_env()
    import os

    assert (os.environ["RANK"], os.environ["MASTER_PORT"]) == ("3", "29555")


@pytest.mark.parametrize("ranks, requested, expected_at_least", [(1, None, 1), (64, None, 1),
                                                                  (2, 7, 7)])
def test_cpu_threads_split_the_cores_between_ranks(ranks, requested, expected_at_least):
    n = dist.cpu_threads_per_rank(ranks, requested)
    assert n >= expected_at_least
    if requested is None:
        import os

        assert n == max(1, len(os.sched_getaffinity(0)) // ranks)


def test_backend_auto_is_gloo_on_cpu_and_explicit_choices_win():
    import torch

    assert dist.resolve_backend("auto") == ("nccl" if torch.cuda.is_available() else "gloo")
    assert dist.resolve_backend("gloo") == "gloo"

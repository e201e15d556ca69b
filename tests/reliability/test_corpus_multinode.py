"""A corpus tokenized on a real two-node Ray cluster (``ray start --head`` + ``ray start
--address``, 1 CPU each): Ray Data spreads the shards over both nodes, the index records which
node built each shard, and the result equals an in-process build.
python -m pytest tests/reliability/test_corpus_multinode.py -q
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import local_cluster
from t2.infra.storage import read_json
from t2.models.config import DataSpec
from t2.models.corpus_build import read_split
from t2.models.data import prepare_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from corpus_helpers import documents, write

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_both_nodes_tokenize_shards_and_the_corpus_equals_a_local_build(tmp_path):
    import ray
    from t2.infra.ray_cluster import start_or_join_ray

    docs = documents(1200, seed=5)
    for i in range(8):
        write(tmp_path / "in", "jsonl.gz", docs[i * 150:(i + 1) * 150], name=f"part-{i}")
    spec = DataSpec(files={"web": [str(tmp_path / "in" / "*.jsonl.gz")]}, val_fraction=0.05)
    with local_cluster(num_nodes=2) as cluster:
        assert start_or_join_ray(cluster.address, log_to_driver=False)
        try:
            corpus = prepare_corpus(spec, tmp_path / "cluster-cache")
        finally:
            ray.shutdown()
    assert corpus.meta["build"]["runner"] == "ray"  # Ray was joined: the shards ran on it
    shards = read_json(corpus.path / "index.json")["shards"]
    nodes = {s["node_id"] for s in shards}
    assert len(shards) == 8 and nodes == set(cluster.node_ids)  # both nodes built shards
    assert sum(corpus.meta["shards_per_node"].values()) == 8
    local = prepare_corpus(spec, tmp_path / "local-cache", use_ray=False)
    assert local.path.name == corpus.path.name
    for split in ("train", "val"):
        assert np.array_equal(read_split(corpus.path, split), read_split(local.path, split))

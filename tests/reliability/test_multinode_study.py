"""A whole study on a real two-node Ray cluster on one machine, its driver submitted as a Ray job.

``ray job submit --working-dir SUBMIT -- python -m t2.flows.cli run study.yaml --root ROOT``
(no ``--ray-address``: the job's driver finds its cluster in RAY_ADDRESS; the study file is the
uploaded working directory's, the root an absolute path every node sees). The two seed runs
are one-rank Ray Train jobs of one CPU each, so the executor sees two slots and trains them at
once, one per node; each checkpoint's sampling runs on a Ray actor of the same footprint. The
files prove it: the Ray node id in each run's ``workers/rank-0.json`` and in each evaluation
shard's done-marker. Resubmitting the finished study is a no-op.
python -m pytest tests/reliability/test_multinode_study.py -q
"""

import subprocess
import sys
import time

import pytest
import yaml
from cluster_helpers import RAY, local_cluster
from t2.evaluation.shards import shard_worker
from t2.flows import ledger
from t2.flows.config import load_study
from t2.flows.steps import StudyPaths
from t2.infra.storage import read_json

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# Two seed runs (3 checkpoints) spend the whole budget: the study stops after them ("budget").
STUDY = {
    "name": "cluster",
    "model": {"params_min": 5.0e4, "params_max": 7.0e5, "ladder": True, "seq_len": 64},
    "data": {"tokenizer": "byte", "corpus_tokens": 1.0e5},
    "train": {"batch_tokens": 2048, "lr": 3.0e-3, "checkpoint_every": 5, "log_every": 5},
    "dist": {"num_workers": 1, "threads_per_worker": 1, "use_ray": True, "zero_stage": 0,
             "precision": "fp32"},
    "budget": {"train_flops": 6.2e10, "compute": [1.0e10, 3.0e10, 9.0e10, 2.7e11],
               "targets": [{"c_train": 1.0e14, "c_inf": 1.0e7}]},
    "design": {"tokens_per_param": [0.05, 3], "seed": "ratios",
               "seed_ratios": [0.05, 0.15, 0.45, 1.35], "seed_budgets": 1, "num_ratios": 6},
    "eval": {"tasks": ["arithmetic"], "num_samples": 2, "ks": [1, 2], "num_problems": 4,
             "max_new_tokens": 4},
    "select": {"runs_per_round": 1, "max_rounds": 1, "num_bootstrap": 8},
}


def submit(cluster, submit_dir, root, timeout: float = 480) -> tuple[str, float]:
    """``ray job submit`` (blocks while it tails the job's logs), then ``ray job status``;
    the job's logs and the submission's wall time."""
    job_id = f"t2-study-{time.monotonic_ns()}"
    t0 = time.monotonic()
    proc = subprocess.run(
        [RAY, "job", "submit", "--address", cluster.dashboard, "--submission-id", job_id,
         "--working-dir", str(submit_dir), "--", sys.executable, "-m", "t2.flows.cli", "run",
         "study.yaml", "--root", str(root)],
        env=cluster.env, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.monotonic() - t0
    status = subprocess.run([RAY, "job", "status", "--address", cluster.dashboard, job_id],
                            env=cluster.env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and f"Job '{job_id}' succeeded" in status.stdout, (
        f"{status.stdout}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout, wall


def _successes(root) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("_SUCCESS") if "report" not in p.parts}


def test_a_study_submitted_as_a_ray_job_trains_and_samples_on_both_nodes(tmp_path):
    submit_dir, root = tmp_path / "submit", tmp_path / "root"
    submit_dir.mkdir()
    (submit_dir / "study.yaml").write_text(yaml.safe_dump(STUDY))
    with local_cluster(num_nodes=2, dashboard=True, separate_temp_dirs=True) as cluster:
        out, wall = submit(cluster, submit_dir, root)
        print(f"study job: {wall:.0f} s")
        assert "stopped (budget) after 2 runs" in out
        done = _successes(root)
        out, wall = submit(cluster, submit_dir, root, timeout=120)  # finished: a no-op
        print(f"rerun job: {wall:.0f} s")
        assert _successes(root) == done
    nodes = set(cluster.node_ids)

    state = StudyPaths(root).read_state()
    assert state["finished"] and state["reason"] == "budget"
    assert (root / "report" / "_SUCCESS").is_file() and (root / "report" / "report.md").is_file()
    trials = ledger.open_ledger(load_study(submit_dir / "study.yaml"), root).get_trials()
    complete = [t for t in trials if t.state == ledger.TrialState.COMPLETE]
    assert len(trials) == len(complete) == 2
    assert sum(len(t.user_attrs["checkpoints"]) for t in complete) == 3

    # training: one run per node, at the same time (the executor saw two 1-CPU slots)
    runs = sorted(p for p in (root / "runs").iterdir() if (p / "_SUCCESS").is_file())
    assert len(runs) == 2
    ranks = [read_json(r / "workers" / "rank-0.json") for r in runs]
    assert {w["node_id"] for w in ranks} == nodes
    for run, rank in zip(runs, ranks):  # every checkpoint of a run says where it was trained
        for info in run.glob("results/*/train.json"):
            assert [p["node_id"] for p in read_json(info)["placement"]] == [rank["node_id"]]
    spans = [((r / "config.yaml").stat().st_mtime, (r / "_SUCCESS").stat().st_mtime)
             for r in runs]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # the runs overlapped

    # sampling: on Ray actors spread over both nodes (the driver runs on the head only)
    shards = sorted((root / "eval").glob("*/evaluation/samples/*/shard-*"))
    assert len(shards) == 3 == len(list((root / "eval").glob("*/evaluation.json")))
    workers = [shard_worker(d) for d in shards]
    assert {w["node_id"] for w in workers} == nodes

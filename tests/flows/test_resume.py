"""Kill -9 during (simulated) training, rerun: nothing finished is redone, MLflow has no
duplicates; the parent run holds the expected children, read back with MLflow's client."""

import os
import subprocess
import sys
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient
from t2.flows import ledger
from t2.flows.config import load_study
from t2.flows.executors.simulated import EXIT_HOOK
from t2.flows.status import run_rows
from t2.flows.steps import StudyPaths


def _cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "t2.flows.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _successes(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("_SUCCESS")
            if "report" not in p.parts}


def _runs(root, experiment="t2"):
    client = MlflowClient(tracking_uri=StudyPaths(root).mlflow_uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


@pytest.mark.slow
def test_kill_during_training_then_rerun_redoes_nothing_and_duplicates_no_runs(
        sim_study, law_file, tmp_path):
    study = sim_study()
    root = tmp_path / "root"
    args = ["simulate", str(study), "--true-law", str(law_file), "--root", str(root),
            "--set", "tracking.enabled=true", "--set", "select.max_rounds=3", "--no-report"]
    killed = _cli(*args, env_extra={EXIT_HOOK: "4"})
    assert killed.returncode == 17, killed.stderr
    before = _successes(root)
    cfg = load_study(study, ["tracking.enabled=true", "select.max_rounds=3"])
    stale = ledger.open_ledger(cfg, root).get_trials(
        states=(ledger.TrialState.RUNNING,))
    assert stale and all("step_dir" in t.user_attrs for t in stale)
    partial = {t.number: t.user_attrs["step_dir"] for t in stale}

    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    after = _successes(root)
    assert all(after[p] == t for p, t in before.items())  # finished steps untouched
    assert len(after) > len(before)
    trials = ledger.open_ledger(cfg, root).get_trials()
    failed = [t.number for t in trials if t.state == ledger.TrialState.FAIL]
    assert sorted(failed) == sorted(partial)
    retries = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    for number, step_dir in partial.items():  # resumed in the same directory
        assert retries[number].state == ledger.TrialState.COMPLETE
        assert retries[number].user_attrs["step_dir"] == step_dir
    rows = {r.number: r for r in run_rows(ledger.open_ledger(cfg, root), StudyPaths(root))}
    for number in partial:  # `t2 status`: an interrupted run is requeued, not failed
        assert (rows[number].state, rows[number].progress) == (
            "requeued", f"→ #{retries[number].number}")
    assert {r.state for r in rows.values()} == {"requeued", "complete"}

    runs = _runs(root)
    parent_id = StudyPaths(root).read_state()["mlflow_run_id"]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parents] == [parent_id]
    names = Counter(r.info.run_name for r in runs)
    assert max(names.values()) == 1  # no duplicates
    complete = [t for t in trials if t.state == ledger.TrialState.COMPLETE]
    num_ckpts = sum(len(t.user_attrs["Ds"]) for t in complete)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    kinds = Counter(r.data.params.get("kind") for r in children)
    assert kinds == {"train": len(complete), "eval": num_ckpts}
    history = MlflowClient(tracking_uri=StudyPaths(root).mlflow_uri).get_metric_history(
        parent_id, "flops_spent")
    steps = [m.step for m in history]
    assert len(steps) == len(set(steps)) >= 2  # per-round study metrics, each round once

    again = _cli(*args)  # a finished study: a no-op
    assert again.returncode == 0 and len(_runs(root)) == len(runs)
    assert _successes(root) == after

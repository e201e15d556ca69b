"""A real tiny study end to end: train (DeepSpeed, world size 1), sample, fit, select, report.

Killed with SIGKILL while its second training run is under way, rerun, and killed again while
an evaluation step is under way (frozen with SIGSTOP first, so the kill lands mid-step), then
rerun to the end: nothing finished is redone, the interrupted run resumes from its checkpoint,
the half-done evaluation is redone in its own directory and MLflow run, the Optuna trials that
had finished are intact, MLflow holds one parent and no duplicate runs; a last run of the
finished study is a no-op that returns in seconds. Run with ``-s`` to see how long each resume
took.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from study_files import REAL_STUDY
from t2.flows import ledger
from t2.flows.config import load_study
from t2.flows.steps import StudyPaths

STUDY = REAL_STUDY


def _start(study: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "t2.flows.cli", "run", str(study),
                             "--root", str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _successes(root: Path) -> dict:
    """Done-markers of steps and training results (not of the trainer's rolling checkpoints,
    which it prunes, nor of the report, which a resumed study rewrites)."""
    return {p: p.stat().st_mtime_ns for p in root.rglob("_SUCCESS")
            if "report" not in p.parts and "ckpt" not in p.parts}


def _second_run_checkpointed(root: Path) -> bool:
    """A training run finished and a later one has a complete resumable checkpoint."""
    runs = sorted(root.glob("runs/*"))
    finished = [r for r in runs if (r / "_SUCCESS").exists()]
    return bool(finished) and any(not (r / "_SUCCESS").exists()
                                  and list(r.glob("ckpt/step-*/_SUCCESS")) for r in runs)


def _unfinished_evaluation(root: Path) -> Path | None:
    """An evaluation step under way: its MLflow child exists, its done-marker does not."""
    return next((d for d in sorted(root.glob("eval/*"))
                 if (d / "tracking.json").exists() and not (d / "_SUCCESS").exists()), None)


def _kill_during_evaluation(proc: subprocess.Popen, root: Path, deadline: float) -> Path:
    """SIGKILL the study while an evaluation step is unfinished: the study is frozen (SIGSTOP)
    and looked at before the kill, so the step cannot finish in between."""
    while True:
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "no evaluation step under way in time"
        if _unfinished_evaluation(root) is not None:
            os.killpg(proc.pid, signal.SIGSTOP)
            step = _unfinished_evaluation(root)
            if step is not None:
                _kill(proc)
                return step
            os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.1)


def _finished_trials(cfg, root: Path) -> dict:
    study = ledger.open_ledger(cfg, root)
    return {t.number: (t.params, t.value, t.user_attrs.get("checkpoints"))
            for t in study.get_trials() if t.state == ledger.TrialState.COMPLETE}


@pytest.mark.slow
def test_real_study_survives_kill_9_and_a_finished_rerun_is_a_no_op(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY))
    cfg = load_study(study)
    root = tmp_path / "root"
    t0 = time.time()
    proc = _start(study, root)
    deadline = time.time() + 240
    while not _second_run_checkpointed(root):
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "no second training run with a checkpoint in time"
        time.sleep(0.5)
    _kill(proc)
    print(f"\nkill -9 during training after {time.time() - t0:.1f} s")
    before = _successes(root)
    assert before
    interrupted = [r for r in root.glob("runs/*") if not (r / "_SUCCESS").exists()]

    t1 = time.time()  # rerun, killed again while it evaluates
    proc = _start(study, root)
    step = _kill_during_evaluation(proc, root, time.time() + 300)
    killed_at = time.time()
    eval_child = json.loads((step / "tracking.json").read_text())["run_id"]
    for run in interrupted:
        resumed = json.loads((run / "resumes.jsonl").read_text().splitlines()[0])
        print(f"resume 1: training resumed at step {resumed['progress']} "
              f"(checkpoint found and loaded in {resumed['seconds']:.2f} s), run finished "
              f"{(run / '_SUCCESS').stat().st_mtime - t1:.1f} s after the restart")
    assert all((r / "_SUCCESS").exists() for r in interrupted)
    assert all(_successes(root)[p] == t for p, t in before.items())
    shards = sorted(str(p.parent.relative_to(step)) for p in step.rglob("_SUCCESS"))
    print(f"kill -9 during evaluation {killed_at - t1:.1f} s after the restart: {step.name}, "
          f"finished shards {shards or 'none'}")
    before = _successes(root)
    kept_trials = _finished_trials(cfg, root)

    t2 = time.time()
    proc = _start(study, root)
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, out
    print(f"resume 2: the evaluation redone in {(step / '_SUCCESS').stat().st_mtime - t2:.1f} s, "
          f"the study finished in {time.time() - t2:.1f} s")
    assert "interrupted run(s) queued again" in out
    after = _successes(root)
    assert all(after[p] == t for p, t in before.items())  # no finished step redone
    assert (step / "_SUCCESS").is_file() and (step / "evaluation.json").is_file()
    # the redone evaluation reattached to its MLflow run
    assert json.loads((step / "tracking.json").read_text())["run_id"] == eval_child
    now_trials = _finished_trials(cfg, root)
    assert all(now_trials[n] == t for n, t in kept_trials.items())  # Optuna history intact
    trials = ledger.open_ledger(cfg, root).get_trials()
    done = [t for t in trials if t.state == ledger.TrialState.COMPLETE]
    failed = [t.number for t in trials if t.state == ledger.TrialState.FAIL]
    retry = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    assert len(done) >= 3 and len(failed) >= 2 and sorted(retry) == sorted(failed)
    for number in failed:  # each interrupted trial was queued again once, until one finished
        while number in retry:
            number = retry[number].number
        assert trials[number].state == ledger.TrialState.COMPLETE
    report = json.loads((root / "report" / "report.json").read_text())
    assert (root / "report" / "_SUCCESS").is_file()
    if "error" not in report:  # a fit at this toy scale may be degenerate; then it says so
        assert report["forecast"][0]["N"] > 0 and (root / "report" / "forecast.png").is_file()

    client = MlflowClient(tracking_uri=StudyPaths(root).mlflow_uri)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parent_id = StudyPaths(root).read_state()["mlflow_run_id"]
    assert [r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags] == [parent_id]
    assert max(Counter(r.info.run_name for r in runs).values()) == 1
    assert all(r.info.status == "FINISHED" for r in runs)  # reattached runs were ended too
    assert eval_child in {r.info.run_id for r in runs}
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    names = sorted(r.info.run_name for r in children)
    num_ckpts = sum(len(t.user_attrs["Ds"]) for t in done)
    assert sum(n.startswith("eval-") for n in names) == num_ckpts
    assert sum(n.startswith(f"{cfg.name}-") for n in names) == len(done)  # training runs

    t0 = time.time()
    proc = _start(study, root)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and time.time() - t0 < 30, out
    assert _successes(root) == after
    assert len(client.search_runs([exp.experiment_id], max_results=1000)) == len(runs)

"""Per-task laws by both T² approaches, the report's per-task table, and the validation stage:
python -m pytest tests/flows/test_task_laws.py -q"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from study_files import TRUE_LAW, write_study
from t2.fitting.fit import fit_chinchilla
from t2.flows.executors.simulated import EXIT_HOOK, SimulatedExecutor
from t2.flows.executors.task_truth import parse_task_truths
from t2.flows.executors.truth import TrueLaw
from t2.flows.plan import RunRequest
from t2.flows.records import Observation
from t2.flows.report import chinchilla_bootstrap
from t2.flows.report_tasks import task_table
from t2.flows.rounds import fit_arrays
from t2.flows.steps import StudyPaths
from t2.flows.task_fits import LawFit, fit_task_laws, resampling_units
from t2.infra.storage import read_json

pytestmark = pytest.mark.slow  # simulated studies and per-task bootstraps: tens of seconds
TASKS = {  # two tasks with different laws of both approaches (mean accuracy 0.05-0.5)
    "recall": {"E": 0.3, "A": 300.0, "B": 900.0, "alpha": 0.30, "beta": 0.32, "G": 2.0,
               "gamma": 0.5, "theta1": 2.5, "theta2": -1.0, "theta3": 3.0, "theta4": -0.3,
               "num_problems": 200},
    "reason": {"E": 0.6, "A": 700.0, "B": 3000.0, "alpha": 0.36, "beta": 0.38, "G": 3.0,
               "gamma": 0.35, "theta1": 3.5, "theta2": -1.0, "theta3": 2.5, "theta4": -0.2,
               "num_problems": 200},
}


def _observations(tmp_path, seed: int):
    ex = SimulatedExecutor(TrueLaw(**TRUE_LAW), [1, 4, 16, 64], noise=0.003, seed=seed,
                           tasks=parse_task_truths({"tasks": TASKS}), num_samples=64)
    obs = []
    for i, N in enumerate(np.geomspace(5e6, 2e8, 6)):
        for j, r in enumerate((10, 40, 160, 640, 2560)):
            out = tmp_path / f"run{i}-{j}"
            (out / "eval").mkdir(parents=True)
            ckpt = ex.train(RunRequest(N=float(N), Ds=(float(r * N),)), out)[0]
            obs.append(Observation(run=10 * i + j, checkpoint=ckpt,
                                   evaluation=ex.evaluate(ckpt, out / "eval")))
    return obs


@pytest.mark.parametrize("seed", [0, 1])
def test_per_task_fits_recover_the_laws_planted_in_each_task_by_both_approaches(tmp_path, seed):
    laws = fit_task_laws(_observations(tmp_path, seed), [(2.56e19, 2e9)], primary=None,
                         num_bootstrap=8, seed=0)
    assert [(f.task, f.approach) for f in laws] == [("reason", 1), ("reason", 2),
                                                    ("recall", 1), ("recall", 2)]
    for f in laws:
        assert f.boot is not None, f.reason
        truth = TASKS[f.task]
        if f.approach == 1:
            for name in ("alpha", "beta", "gamma", "G"):
                assert f.boot.law.params[name] == pytest.approx(truth[name], rel=0.05), name
            assert f.forecast is not None and not f.reason
        else:
            for name in ("theta1", "theta2", "theta3", "theta4"):
                assert f.boot.law.params[name] == pytest.approx(truth[name], abs=0.15), name
    a1 = {f.task: f.boot.law for f in laws if f.approach == 1}
    assert abs(a1["recall"].alpha - a1["reason"].alpha) > 0.03  # told apart, not pooled


def test_a_law_without_a_forecast_is_said_to_be_not_identifiable():
    class Target:
        c_train, c_inf = 1e19, 1e9

    lines = task_table([{"task": "spatial", "approach": 2, "reason": "the fit failed (x)"}],
                       Target, 0.8)
    assert "| spatial | 2: Beta | not identifiable: the fit failed (x) |" in lines[-1]
    assert LawFit("spatial", 2, reason="x").forecast is None


def _study(tmp_path, **extra):
    law = tmp_path / "law.json"
    law.write_text(json.dumps({**TRUE_LAW, "tasks": TASKS}))
    study = write_study(tmp_path / "study.yaml", {
        "select.max_rounds": 1, "select.num_bootstrap": 8, "eval.ks": [1, 4, 16],
        "validation.enabled": True, **extra})
    return study, law


def _simulate(study, law, root, env=None):
    return subprocess.run([sys.executable, "-m", "t2.flows.cli", "simulate", str(study),
                           "--true-law", str(law), "--root", str(root)], check=False,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_report_rows_per_task_and_the_validation_stage_resumes_after_kill_9(tmp_path):
    study, law = _study(tmp_path)
    root = tmp_path / "root"
    first = _simulate(study, law, root)
    assert first.returncode == 0, first.stderr
    paths = StudyPaths(root)
    plan = read_json(paths.validation_plan)
    assert [v["model"] for v in plan] == ["t2", "chinchilla"]
    report = (paths.report / "report.md").read_text()
    for task in ("reason", "recall", "pooled"):
        for approach in ("1: −log pass@k", "2: Beta"):
            assert f"| {task} | {approach} |" in report
    assert "## Validation" in report and "| t2 | recall |" in report

    # kill -9 inside the validation stage's second training run, then rerun: nothing redone
    again = tmp_path / "again"
    killed = _simulate(study, law, again, {EXIT_HOOK: str(_num_selection_runs(root) + 1)})
    assert killed.returncode == 17
    done = {p: p.stat().st_mtime_ns for p in again.glob("*/*/_SUCCESS")}
    assert any("validate" in str(p) for p in done)  # the first validation run had finished
    rerun = _simulate(study, law, again)
    assert rerun.returncode == 0, rerun.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())
    keys = ("model", "N", "D", "k")
    runs = [[{k: r[k] for k in keys} for r in read_json(p.validation)["runs"]]
            for p in (StudyPaths(again), paths)]
    assert runs[0] == runs[1]

    # new validation budgets and Approach 2 on likelihoods: validation planned again, the
    # final laws refitted, nothing sampled again
    evals = {p: p.stat().st_mtime_ns for p in root.glob("eval/*/_SUCCESS")}
    pooled_a2 = _pooled_approach2(paths)
    _study(tmp_path, **{"validation.budgets": [{"c_train": 3e19, "c_inf": 1e10}],
                        "eval.approach2": "likelihood"})
    changed = _simulate(study, law, root)
    assert changed.returncode == 0, changed.stderr
    assert {(v["c_train"], v["c_inf"]) for v in read_json(paths.validation_plan)} == {
        (3e19, 1e10)}
    assert evals and all(p.stat().st_mtime_ns == t for p, t in evals.items())
    assert _pooled_approach2(paths) != pooled_a2


def _pooled_approach2(paths):
    rows = read_json(paths.report / "report.json")["per_task"][0]  # the first target's
    return [r for r in rows if r["task"] == "pooled" and r["approach"] == 2]


def _num_selection_runs(root) -> int:
    return len(list((root / "train").glob("*/_SUCCESS")))


def test_a_design_of_one_trunk_per_size_still_gets_intervals_by_both_approaches(tmp_path):
    """One long run per size with decayed branches (examples/cpu.yaml's seed): resampling runs
    would drop whole sizes in most resamples; checkpoints are drawn within each size instead."""
    ex = SimulatedExecutor(TrueLaw(**TRUE_LAW), [1, 4, 16, 64], noise=0.003, seed=0,
                           tasks=parse_task_truths({"tasks": TASKS}), num_samples=64)
    obs = []
    for i, N in enumerate(np.geomspace(5e6, 2e8, 4)):
        out = tmp_path / f"run{i}"
        (out / "eval").mkdir(parents=True)
        for ckpt in ex.train(RunRequest(N=float(N), Ds=tuple(r * N for r in (10, 40, 160))), out):
            obs.append(Observation(run=i, checkpoint=ckpt,
                                   evaluation=ex.evaluate(ckpt, out / "eval")))
    units, kind = resampling_units(obs)
    assert kind == "checkpoints" and len(set(units.values())) == len(obs) == 12
    laws = fit_task_laws(obs, [(2.56e19, 2e9)], primary=None, num_bootstrap=8, seed=0)
    for f in laws:
        assert f.forecast is not None and not f.reason, (f.task, f.approach, f.reason)
        assert len(f.boot.laws) >= 7, (f.task, f.approach, f.boot.num_failed)
        lo, hi = np.exp(f.forecast.interval(0.8)[0, 0])
        assert lo < hi  # the resamples differ: an interval, not a point
    many = [Observation(run=o.run * 10 + j, checkpoint=o.checkpoint, evaluation=o.evaluation)
            for j, o in enumerate(obs)]  # every checkpoint its own run
    assert resampling_units(many)[1] == "runs"

    # the Chinchilla model's band in the task plots: the same units, an interval around its N
    chin = fit_chinchilla(**fit_arrays(obs, "chinchilla")[0])
    boot = chinchilla_bootstrap(obs, chin, num=16, seed=0)
    lo, hi = boot.interval(lambda law: law.N_opt(2.56e19), 0.8)
    assert len(boot.laws) >= 14 and lo < chin.N_opt(2.56e19) < hi

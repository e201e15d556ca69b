"""The post-training stage in a real tiny study: switched on after the study finished, it runs
alone (nothing pretrained is redone), and a rerun of the finished study is a no-op:
python -m pytest tests/flows/test_posttrain_study.py -q -s      # -s prints the stage's time
"""

import time

import pytest
import yaml
from mlflow.tracking import MlflowClient
from study_files import REAL_STUDY
from t2.flows.cli.main import main
from t2.flows.steps import StudyPaths
from t2.infra.storage import read_json

# 16 arithmetic training problems, 2 steps of 8 per checkpoint: seconds each
POSTTRAIN = {"enabled": True, "modes": ["sft"], "epochs": 1.0, "num_train": 16,
             "batch_size": 8, "checkpoints": "last"}


def _files(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
            and "mlflow" not in p.parts and p.name != "driver.lock"}


@pytest.mark.slow
def test_stage_switched_on_later_runs_alone_and_a_rerun_is_a_no_op(tmp_path, capsys):
    study, root = tmp_path / "study.yaml", tmp_path / "root"
    study.write_text(yaml.safe_dump(REAL_STUDY))
    assert main(["run", str(study), "--root", str(root)]) == 0
    paths = StudyPaths(root)
    pretrained = {p: p.stat().st_mtime_ns for p in root.rglob("_SUCCESS")
                  if "report" not in p.parts}
    assert not paths.posttrain.exists()

    study.write_text(yaml.safe_dump({**REAL_STUDY, "posttrain": POSTTRAIN}))
    t0 = time.time()
    assert main(["run", str(study), "--root", str(root)]) == 0
    with capsys.disabled():
        print(f"\npost-training stage on a finished study: {time.time() - t0:.1f} s")
    assert {p: p.stat().st_mtime_ns for p in pretrained} == pretrained  # nothing redone
    done = read_json(paths.posttrain)
    runs = {c["run"] for c in done["modes"]["sft"]["checkpoints"]}
    steps = sorted((root / "posttrain").glob("sft-*"))
    assert len(steps) == len(runs) == len(list((root / "posttrain-eval").glob("sft-*"))) > 0
    assert done["flops"] > 0
    assert done["flops"] == pytest.approx(sum(c["flops"] for c in
                                              done["modes"]["sft"]["checkpoints"]))
    for c in done["modes"]["sft"]["checkpoints"]:  # same N, D; other weights
        assert (c["checkpoint"]["N"], c["checkpoint"]["D"]) == (c["source"]["N"],
                                                                c["source"]["D"])
        assert c["checkpoint"]["hf_dir"] != c["source"]["hf_dir"]
        assert c["evaluation"]["tasks"]["arithmetic"] != c["pretrained"]["tasks"]["arithmetic"]
    assert "fitted" in done["modes"]["sft"] and paths.posttrain_fit("sft").is_file()
    report = (paths.report / "report.md").read_text()
    assert "## Post-training: does the overtraining advantage survive?" in report
    assert "### SFT:" in report and "pass@1 post-trained" in report
    assert read_json(paths.report / "report.json")["posttrain"]["flops"] == done["flops"]

    client = MlflowClient(paths.mlflow_uri)
    names = [r.info.run_name for r in client.search_runs(
        [client.get_experiment_by_name("t2").experiment_id], max_results=1000)]
    assert sum(n.startswith("posttrain-eval-sft-") for n in names) == len(runs)
    assert sum(n.startswith("sft-") for n in names) == len(runs)  # the post-training runs

    capsys.readouterr()
    assert main(["status", str(root)]) == 0
    assert f"post-training stage: {done['flops']:.3g} FLOPs (sft: {len(runs)} checkpoints)" in \
        capsys.readouterr().out.replace("\n", " ")

    before = _files(root)
    t1 = time.time()
    assert main(["run", str(study), "--root", str(root)]) == 0
    assert time.time() - t1 < 30
    assert _files(root) == before


def test_a_simulated_study_skips_the_stage_and_the_report_says_why(tmp_path):
    import json

    from study_files import TRUE_LAW, write_study
    from t2.flows.config import load_study
    from t2.flows.driver import Driver
    from t2.flows.executors.simulated import SimulatedExecutor
    from t2.flows.executors.truth import load_true_law
    from t2.flows.report_posttrain import posttrain_lines, posttrain_section

    (tmp_path / "law.json").write_text(json.dumps(TRUE_LAW))
    cfg = load_study(write_study(tmp_path / "s.yaml", {"posttrain": {"enabled": True}}))
    ex = SimulatedExecutor(load_true_law(tmp_path / "law.json"), cfg.eval.ks, seed=0)
    logs, paths = [], StudyPaths(tmp_path / "root")
    Driver(cfg, paths.root, ex, log=logs.append).posttrain()
    assert logs == [("posttrain: skipped: the simulate executor has no post-trained models to "
                    "draw")]
    assert read_json(paths.posttrain) == {"skipped": logs[0][len("posttrain: skipped: "):],
                                          "modes": {}, "flops": 0.0}
    lines = posttrain_lines(cfg, posttrain_section(cfg, paths, [], None, 0.8), 0.8)
    assert lines[2] == "Not run: the simulate executor has no post-trained models to draw."


def test_validate_refuses_a_posttrain_task_without_a_train_split(tmp_path, capsys):
    from study_files import write_study

    path = write_study(tmp_path / "s.yaml", {"posttrain": {"enabled": True, "tasks": ["lambada"]}})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: posttrain.tasks: task lambada: no training " \
        "split ships with the evaluation data" in err


@pytest.mark.parametrize("which, expected", [
    ("all", [(1e5, 1e6), (1e5, 4e6), (2e5, 2e6), (4e5, 4e6)]),
    ("last", [(1e5, 4e6), (2e5, 2e6), (4e5, 4e6)]),
    ("first_round", [(1e5, 1e6), (1e5, 4e6), (2e5, 2e6)]),
])
def test_the_checkpoints_to_post_train(which, expected):
    from study_files import study_dict
    from t2.flows.config import StudyConfig
    from t2.flows.posttrain import posttrain_checkpoints
    from t2.flows.records import Checkpoint, Evaluation, Observation

    cfg = StudyConfig.model_validate(study_dict({"posttrain": {"checkpoints": which}}))
    obs = [Observation(run, Checkpoint(N=N, D=D, val_loss=3.0, result_dir=f"r{run}-{D}"),
                       Evaluation(loss_k={1: 1.0}))
           for run, N, D in [(2, 4e5, 4e6), (0, 1e5, 1e6), (0, 1e5, 4e6), (1, 2e5, 2e6)]]
    chosen = posttrain_checkpoints(cfg, obs, rounds={0: 0, 1: 0, 2: 1})
    assert [(o.N, o.D) for o in chosen] == expected

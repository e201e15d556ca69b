"""A step's nested MLflow run is created once, even when a kill falls right after its creation."""

from mlflow.tracking import MlflowClient
from t2.flows.config import load_study
from t2.flows.steps import StudyPaths
from t2.flows.tracking import CHILD_FILE, StudyTracking


def _children(root, parent_id):
    client = MlflowClient(tracking_uri=StudyPaths(root).mlflow_uri)
    exp = client.get_experiment_by_name("t2-test")
    return [r for r in client.search_runs([exp.experiment_id])
            if r.data.tags.get("mlflow.parentRunId") == parent_id]


def test_a_child_created_but_not_saved_before_a_kill_is_reattached_not_duplicated(sim_study,
                                                                                  tmp_path):
    cfg = load_study(sim_study(), ["tracking.enabled=true", "tracking.experiment=t2-test"])
    root = tmp_path / "root"
    tracking = StudyTracking(cfg, root, "active")
    step = root / "steps" / "train-N1e06-abcd1234"
    first = tracking.child(step, step.name, {"kind": "train", "N": 1e6})
    (step / CHILD_FILE).unlink()  # the kill fell between create_run and saving its id
    again = tracking.child(step, step.name, {"kind": "train", "N": 1e6})
    assert again.run_id == first.run_id
    other = tracking.child(root / "steps" / "eval-x", "eval-x", {"kind": "eval"})
    runs = _children(root, tracking.parent_id)
    assert sorted(r.info.run_name for r in runs) == ["eval-x", step.name]
    assert {r.info.run_id for r in runs} == {first.run_id, other.run_id}
    assert runs[0].data.params["kind"] in ("train", "eval")

"""A decay point's MLflow child run is created once, even when a kill falls between its creation
and the trainer keeping its id (tracking.json): the resumed trainer finds it by its step tag."""

from types import SimpleNamespace

from mlflow.tracking import MlflowClient
from t2.infra.storage import write_json
from t2.infra.tracking import open_tracker
from t2.models.config import RunConfig
from t2.models.train_loop import Loop


def _loop(out, uri, parent_id):
    cfg = RunConfig.model_validate({"name": "branchtest", "model": {"depth": 1, "seq_len": 64},
                                    "train": {"tokens": 2.4e4, "batch_tokens": 512},
                                    "tracking": {"uri": uri, "experiment": "t2-branch"}})
    return SimpleNamespace(info=SimpleNamespace(rank=0), run_id=parent_id, out=out, cfg=cfg,
                           D_points=[4096.0, 16384.0], counts={"total": 1000},
                           wsd=SimpleNamespace(decay_steps=[8, 32]),
                           hp=SimpleNamespace(batch_tokens=512))


def test_a_branch_run_created_but_not_kept_before_a_kill_is_reattached(tmp_path):
    out = tmp_path / "run"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = open_tracker(uri=uri, experiment="t2-branch", run_dir=out, run_name="branchtest")
    write_json(out / "tracking.json", {"run_id": parent.run_id, "children": {}})
    first = Loop._branch_tracker(_loop(out, uri, parent.run_id), 0)
    write_json(out / "tracking.json", {"run_id": parent.run_id, "children": {}})  # the kill
    again = Loop._branch_tracker(_loop(out, uri, parent.run_id), 0)
    other = Loop._branch_tracker(_loop(out, uri, parent.run_id), 1)
    assert again.run_id == first.run_id != other.run_id
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("t2-branch")
    names = sorted(r.info.run_name for r in client.search_runs([exp.experiment_id])
                   if r.data.tags.get("mlflow.parentRunId") == parent.run_id)
    assert names == ["branchtest/D-1.638e+04", "branchtest/D-4096"]

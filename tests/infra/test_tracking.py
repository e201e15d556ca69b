"""MLflow tracking behind one module: python -m pytest tests/infra/test_tracking.py -q"""

import pytest
from t2.infra.tracking import MlflowTracker, NullTracker, default_uri, flatten, open_tracker


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    """One store for the module (creating a sqlite store costs seconds); tests use their own
    experiment names."""
    return default_uri(tmp_path_factory.mktemp("mlflow"))


@pytest.mark.slow
def test_default_store_is_a_sqlite_file_in_the_run_directory(tmp_path):
    tr = open_tracker(uri=None, experiment="e", run_dir=tmp_path, run_name="r")
    tr.finish()
    assert isinstance(tr, MlflowTracker)
    assert tr.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert (tmp_path / "mlflow.db").is_file()


@pytest.mark.slow
def test_params_and_metrics_read_back_with_mlflows_own_client(tmp_path, uri):
    from mlflow.tracking import MlflowClient

    tr = open_tracker(uri=uri, experiment="e1", run_dir=tmp_path, run_name="r")
    tr.log_params(flatten({"train": {"lr": 0.01, "decay_at": [1, 2]}, "name": "r"}))
    for tokens, loss in [(100, 3.0), (200, 2.5)]:
        tr.log_metrics({"loss": loss}, step=tokens)
    tr.finish()
    client = MlflowClient(uri)
    run = client.get_run(tr.run_id)
    assert run.data.params == {"train.lr": "0.01", "train.decay_at": "[1, 2]", "name": "r"}
    assert [(m.step, m.value) for m in client.get_metric_history(tr.run_id, "loss")] == [
        (100, 3.0), (200, 2.5)]
    assert run.info.status == "FINISHED"
    exp = client.get_experiment_by_name("e1")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_child_runs_point_at_their_parent(tmp_path, uri):
    parent = open_tracker(uri=uri, experiment="e2", run_dir=tmp_path, run_name="study")
    child = open_tracker(uri=uri, experiment="e2", run_dir=tmp_path, run_name="run",
                         parent_run_id=parent.run_id)
    assert child.client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id


def test_reattaching_by_run_id_neither_duplicates_the_run_nor_replayed_steps(tmp_path, uri):
    from mlflow.tracking import MlflowClient

    first = open_tracker(uri=uri, experiment="e3", run_dir=tmp_path, run_name="r")
    first.log_params({"a": 1})
    first.log_metrics({"loss": 3.0}, step=1)
    first.log_metrics({"loss": 2.0}, step=2)  # then the process dies (no finish)
    again = open_tracker(uri=uri, experiment="e3", run_dir=tmp_path, run_name="r",
                         run_id=first.run_id)
    again.log_params({"a": 1, "b": 2})  # already-logged params are kept, new ones added
    for step, loss in [(2, 2.0), (3, 1.5)]:  # step 2 is replayed after resuming
        again.log_metrics({"loss": loss}, step=step)
    again.finish()
    client = MlflowClient(uri)
    assert len(client.search_runs([client.get_experiment_by_name("e3").experiment_id])) == 1
    assert [m.step for m in client.get_metric_history(first.run_id, "loss")] == [1, 2, 3]
    assert client.get_run(first.run_id).data.params == {"a": "1", "b": "2"}


def test_non_zero_ranks_and_disabled_tracking_get_the_null_tracker(tmp_path):
    for kw in ({"rank": 1}, {"enabled": False}):
        tr = open_tracker(uri=None, experiment="e", run_dir=tmp_path / "x", run_name="r", **kw)
        assert isinstance(tr, NullTracker) and tr.run_id is None
        tr.log_metrics({"loss": 1.0}, step=1)
    assert not (tmp_path / "x").exists()

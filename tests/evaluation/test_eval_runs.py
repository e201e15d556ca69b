"""An evaluation's MLflow run is created once under its step's run, even when the evaluation is
redone after a kill that fell between the run's creation and the step's done-marker: the redo
finds it by its step tag and logs each pass@k point once."""

from mlflow.tracking import MlflowClient
from t2.evaluation.evaluate import SUMMARY_FILE, TABLE_FILE, log_to_mlflow
from t2.infra.storage import write_json
from t2.infra.tracking import open_tracker


def test_a_redone_evaluation_reattaches_to_its_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = open_tracker(uri=uri, experiment="t2-eval", run_dir=tmp_path / "step",
                          run_name="eval-N1-D2")
    summary = {"arithmetic": {"ks": [1, 2], "pass_at_k": {"1": 0.25, "2": 0.4}}}
    out = tmp_path / "eval"
    out.mkdir()
    write_json(out / SUMMARY_FILE, summary)
    (out / TABLE_FILE).write_bytes(b"table")
    first = log_to_mlflow(out, summary, {"n": 2}, uri, "t2-eval", "hf", parent.run_id)
    again = log_to_mlflow(out, summary, {"n": 2}, uri, "t2-eval", "hf", parent.run_id)
    other = log_to_mlflow(out, summary, {"n": 2}, uri, "t2-eval", "hf", None)  # no parent
    assert first == again != other
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("t2-eval")
    nested = [r for r in client.search_runs([exp.experiment_id])
              if r.data.tags.get("mlflow.parentRunId") == parent.run_id]
    assert [r.info.run_name for r in nested] == ["evaluate-hf"]
    history = client.get_metric_history(first, "arithmetic/pass_at_k")
    assert [(m.step, m.value) for m in history] == [(1, 0.25), (2, 0.4)]

"""Tracking while the store is away: calls kept on disk, sent later, nothing twice.

The away store is an ``http://`` URI with nothing listening; the replays go to a sqlite store
(the outbox does not care which store takes them). tests/reliability/test_mlflow_outage.py does
the same with a real ``mlflow server`` that is killed and restarted.

    python -m pytest tests/infra/test_tracking_outbox.py -q
"""

import socket
import time

import pytest
from mlflow.tracking import MlflowClient
from t2.infra.tracking import default_uri, open_tracker, send_outboxes
from t2.infra.tracking_outage import OUTAGE
from t2.infra.tracking_outbox import OFFLINE_TAG, Outbox


@pytest.fixture
def dead_uri():
    """An http URI nobody answers, and a process that has seen no outage yet."""
    OUTAGE.reset()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return default_uri(tmp_path_factory.mktemp("mlflow"))


def _offline_study(dead_uri, base, experiment):
    """A parent with a child, both made while the store is away; metrics, then finished."""
    parent = open_tracker(uri=dead_uri, experiment=experiment, run_dir=base / "p", run_name="p")
    parent.log_params({"a": 1})
    child = open_tracker(uri=dead_uri, experiment=experiment, run_dir=base / "c", run_name="c",
                         parent_run_id=parent.run_id)
    for step in range(1, 51):
        child.log_metrics({"loss": 1.0 / step}, step=step)
    child.log_metrics({"loss": 9.9}, step=50)  # a replayed step: dropped
    child.finish()
    parent.log_metrics({"num_runs": 1}, step=1)
    parent.finish()
    return parent, child


def test_an_away_store_costs_one_warning_and_seconds_not_minutes(dead_uri, tmp_path, capfd):
    t0 = time.time()
    parent, child = _offline_study(dead_uri, tmp_path, "e")
    assert time.time() - t0 < 10  # one failed call; later calls skip the store for a while
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "unreachable" in err and dead_uri in err, err
    assert parent.run_id.startswith("offline-") and child.run_id.startswith("offline-")
    assert Outbox(tmp_path / "c").pending() and Outbox(tmp_path / "p").pending()
    assert not list(tmp_path.rglob("_SUCCESS"))


@pytest.mark.slow  # ~35 s: a real MLflow server comes back and receives the kept calls
def test_kept_calls_are_sent_once_in_order_with_parents_first(dead_uri, tmp_path, store):
    parent, child = _offline_study(dead_uri, tmp_path, "e1")
    assert send_outboxes(store, "e1", [tmp_path / "p", tmp_path / "c"])
    assert send_outboxes(store, "e1", [tmp_path / "p", tmp_path / "c"])  # nothing left: no-op
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("e1").experiment_id])
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    by_local = {r.data.tags[OFFLINE_TAG]: r for r in runs}
    p, c = by_local[parent.run_id], by_local[child.run_id]
    assert c.data.tags["mlflow.parentRunId"] == p.info.run_id and c.info.run_name == "c"
    history = client.get_metric_history(c.info.run_id, "loss")
    assert [m.step for m in history] == list(range(1, 51)) and history[-1].value == 1 / 50
    assert p.data.params == {"a": "1"} and p.data.metrics == {"num_runs": 1.0}
    # reattaching by the saved local id finds the server's run: no duplicate
    again = open_tracker(uri=store, experiment="e1", run_dir=tmp_path / "c", run_name="c",
                         run_id=child.run_id)
    assert again.run_id == c.info.run_id
    again.log_metrics({"loss": 0.001}, step=51)
    again.finish()
    assert len(client.search_runs([client.get_experiment_by_name("e1").experiment_id])) == 2
    assert len(client.get_metric_history(c.info.run_id, "loss")) == 51


def test_a_replay_cut_short_or_a_torn_line_loses_and_duplicates_nothing(dead_uri, tmp_path,
                                                                          store):
    tr = open_tracker(uri=dead_uri, experiment="e2", run_dir=tmp_path, run_name="r")
    for step in range(1, 6):
        tr.log_metrics({"loss": float(step)}, step=step)
    box = Outbox(tmp_path)
    with open(box.path, "ab") as f:  # a writer killed mid-line
        f.write(b'{"op": "metrics", "run": "x", "st')
    again = open_tracker(uri=dead_uri, experiment="e2", run_dir=tmp_path, run_name="r",
                         run_id=tr.run_id)
    again.log_metrics({"loss": 6.0}, step=6)  # after the torn line, on a line of its own
    again.finish()
    rows = box.unsent()
    assert [r["op"] for _, r in rows] == ["create", *["metrics"] * 6, "finish"]
    client = MlflowClient(store)
    assert send_outboxes(store, "e2", [tmp_path]) and not box.pending()
    box.mark_sent(0)  # as if the replay had died before it wrote how far it got: all again
    assert send_outboxes(store, "e2", [tmp_path])
    runs = client.search_runs([client.get_experiment_by_name("e2").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "loss")] == [
        1, 2, 3, 4, 5, 6]

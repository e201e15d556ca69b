"""``t2 ui ROOT`` serves the study's MLflow store on 127.0.0.1 and prints links that open the
study's runs (not MLflow's empty GenAI overview)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from t2.flows.config import load_study
from t2.flows.steps import StudyPaths
from t2.flows.tracking import StudyTracking
from t2.infra.config import dump_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ui_serves_the_study_store_on_localhost(sim_study, tmp_path):
    root = tmp_path / "r"
    cfg = load_study(sim_study(), ["tracking.enabled=true"])
    root.mkdir()
    (root / "study.yaml").write_text(dump_config(cfg))
    tracking = StudyTracking(cfg, root, "active")  # the store with the study's parent run
    tracking.finish()
    StudyPaths(root).write_state({"mlflow_run_id": tracking.parent_id})
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "t2.flows.cli", "ui", str(root), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        links = dict(line.split() for line in lines[1:])
        assert links["ui:"] == f"http://127.0.0.1:{port}"
        deadline = time.time() + 240  # mlflow ui: migrations, then gunicorn (slow on a busy box)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.time() < deadline
                time.sleep(0.5)
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=t2"
        with urllib.request.urlopen(api, timeout=5) as r:
            exp = json.loads(r.read())["experiment"]
        assert exp["name"] == "t2"
        runs = f"http://127.0.0.1:{port}/#/experiments/{exp['experiment_id']}/runs"
        assert links["runs:"] == runs and links["study:"] == f"{runs}/{tracking.parent_id}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

"""``t2 ui ROOT`` serves the study's MLflow store on 127.0.0.1 and prints the URL."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from t2.flows.study import load_study
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
    StudyTracking(cfg, root, "active").finish()  # the store with the study's parent run
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "t2.flows.cli", "ui", str(root), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        deadline = time.time() + 90
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
            assert b'"name": "t2"' in r.read().replace(b'":"', b'": "')
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

"""A tracking server that dies: the work goes on, the calls wait on disk, a rerun sends them.

A real ``mlflow server`` (sqlite backend) is started on a free port and SIGKILLed: once before
a tiny real training run, once in the middle of a simulated study. Both finish with their
results on disk and one warning line; after the server is started again on the same database
and port, rerunning the same command completes every MLflow run, with all metrics and no
duplicates.

    python -m pytest tests/reliability/test_mlflow_outage.py -q
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from study_files import study_dict, tiny_run
from t2.flows.config import load_study
from t2.flows.driver import run_study
from t2.flows.executors.simulated import SimulatedExecutor
from t2.flows.executors.truth import load_true_law
from t2.flows.steps import StudyPaths
from t2.flows.tracking import send_pending
from t2.infra.storage import is_done, read_json, read_jsonl
from t2.infra.tracking_outage import OUTAGE
from t2.infra.tracking_outbox import OFFLINE_TAG, OUTBOX, Outbox
from t2.models.config import RunConfig
from t2.models.train import train

pytestmark = pytest.mark.slow
MLFLOW = Path(sys.executable).parent / "mlflow"
LAW = Path(__file__).parents[2] / "examples" / "true_law.json"
STUDY = study_dict({"name": "outage"})  # the simulated study of tests/flows (tracked below)
# 29 steps, decay points at 1.2e4, 1.8e4, 2.4e4
RUN = tiny_run("t", tokens=2.4e4, decay_at=[1.2e4, 1.8e4], tracking=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``mlflow server`` in its own process group; the same database and port on a restart."""

    def __init__(self, base: Path):
        self.base, self.port, self.proc = base, _free_port(), None
        self.uri = f"http://127.0.0.1:{self.port}"

    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 240) -> float:
        t0 = time.time()
        with open(self.base / "server.log", "a") as log:
            self.proc = subprocess.Popen(
                [str(MLFLOW), "server", "--backend-store-uri",
                 f"sqlite:///{self.base}/mlflow.db", "--artifacts-destination",
                 str(self.base / "artifacts"), "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.time() - t0 < timeout:
            assert self.up(), (self.base / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - t0
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"mlflow server not up in {timeout} s")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("mlflow-server"))
    yield srv
    if srv.up():
        srv.kill()


@pytest.fixture
def fresh_outage_state():
    """This process has seen no outage yet (one warning per outage is asserted)."""
    OUTAGE.reset()


def _runs(client: MlflowClient, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=10000)


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_training_with_its_server_down_finishes_and_a_rerun_sends_its_runs(
        server, tmp_path, capfd, corpus_cache, fresh_outage_state):
    if server.up():
        server.kill()
    cfg = RunConfig.model_validate({**RUN, "tracking": {"uri": server.uri,
                                                        "experiment": "outage-train"}})
    out = tmp_path / "run"
    t0 = time.time()
    dirs = train(cfg, out, cache_dir=corpus_cache)
    took = time.time() - t0
    assert is_done(out) and all(is_done(d) for d in dirs)
    err = capfd.readouterr().err
    assert err.count("unreachable") == 1 and "Traceback" not in err, err
    local = read_json(out / "tracking.json")["run_id"]
    assert local.startswith("offline-") and Outbox(out).pending()
    print(f"training with the server down: {took:.1f} s")

    print(f"server up in {server.start():.1f} s")
    assert train(cfg, out, cache_dir=corpus_cache) == dirs  # finished: only sends the outbox
    assert not Outbox(out).pending()
    client = MlflowClient(server.uri)
    runs = _runs(client, "outage-train")
    parent = [r for r in runs if r.data.tags.get(OFFLINE_TAG) == local]
    assert len(parent) == 1 and len(runs) == 1 + len(dirs)
    pid = parent[0].info.run_id
    assert all(r.info.status == "FINISHED" for r in runs)
    rows = read_jsonl(out / "metrics.jsonl")
    assert _steps(client, pid, "loss") == [r["tokens"] for r in rows if r["D"] is None]
    assert parent[0].data.params["model.depth"] == "1"
    for d in dirs:
        summary = read_json(d / "train.json")
        child = next(r for r in runs if r.data.tags.get(OFFLINE_TAG) == summary["mlflow_run_id"])
        assert child.data.tags["mlflow.parentRunId"] == pid
        assert child.data.metrics["val_loss"] == summary["val_loss"]
        assert _steps(client, child.info.run_id, "loss") == [
            r["tokens"] for r in rows if r["D"] == summary["D_target"]]


def test_study_outlives_its_mlflow_server_and_a_rerun_completes_the_runs(
        server, tmp_path, capfd, fresh_outage_state):
    if not server.up():
        print(f"server up in {server.start():.1f} s")
    law_path = LAW
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({**STUDY, "tracking": {"uri": server.uri,
                                                           "experiment": "outage-study"}}))
    cfg, root, law = load_study(study), tmp_path / "root", load_true_law(law_path)

    class ServerDies(SimulatedExecutor):
        """The executor of ``t2 simulate``; the server is SIGKILLed when the seed runs are done
        and the next training starts (its MLflow child was just created)."""

        def train(self, req, out_dir, **kw):
            if self.num_trained == num_seed and server.up():
                server.kill()
            return super().train(req, out_dir, **kw)

    from t2.flows.plan import seed_design

    num_seed = len(seed_design(cfg))
    ex = ServerDies(law, cfg.eval.ks, noise=0.01, seed=cfg.select.seed,  # as `t2 simulate`
                    noise_mode="run")
    t0 = time.time()
    result = run_study(cfg, root, ex, log=lambda *a: None)
    took = time.time() - t0
    assert not server.up() and ex.num_trained > num_seed  # it went on without the server
    state = StudyPaths(root).read_state()
    assert state["finished"] and result.reason and not result.skipped
    n_rounds = len(list((root / "rounds").glob("round-*.json")))
    assert n_rounds >= 2 and StudyPaths(root).round(result.rounds[-1].num_runs).is_file()
    err = capfd.readouterr().err
    assert err.count("unreachable") == 1 and "Traceback" not in err, err
    kept = sorted(p.parent for p in root.rglob(OUTBOX))
    assert root / "mlflow" in kept and len(kept) > 2
    print(f"study with the server killed after {num_seed} runs: {took:.1f} s, "
          f"{ex.num_trained} runs, {n_rounds} rounds, {len(kept)} outboxes")

    print(f"server up again in {server.start():.1f} s")
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "t2.flows.cli", "simulate", str(study),
                           "--true-law", str(law_path), "--root", str(root), "--noise-mode", "run",
                           "--no-report"],
                          check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"rerun (sends {len(kept)} outboxes): {time.time() - t0:.1f} s")
    assert not any(Outbox(d).pending() for d in kept)

    client = MlflowClient(server.uri)
    runs = _runs(client, "outage-study")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parents] == [state["mlflow_run_id"]]
    pid = parents[0].info.run_id
    assert all(r.info.status == "FINISHED" for r in runs)
    assert max(Counter(r.info.run_name for r in runs).values()) == 1  # no duplicates
    names = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == pid}
    expected = {f"{stage}-{d.name}" for stage in ("train", "eval")
                for d in (root / stage).iterdir()}
    assert set(names) == expected and len(runs) == 1 + len(expected)
    assert any(OFFLINE_TAG in r.data.tags for r in names.values())  # some made while it was down
    rounds = sorted(int(p.stem.split("-")[1]) for p in (root / "rounds").glob("round-*.json"))
    assert _steps(client, pid, "num_runs") == rounds  # every round's metrics, once
    for d in (root / "eval").iterdir():
        ks = sorted(int(k) for k in read_json(d / "evaluation.json")["loss_k"])
        assert _steps(client, names[f"eval-{d.name}"].info.run_id, "task_loss") == ks
    for d in (root / "train").iterdir():
        Ds = sorted(int(r["D"]) for r in read_json(d / "checkpoints.json"))
        assert _steps(client, names[f"train-{d.name}"].info.run_id, "val_loss") == Ds
    assert send_pending(cfg, root) and len(_runs(client, "outage-study")) == len(runs)

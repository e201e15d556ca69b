"""Experiment tracking behind one small interface: MLflow on rank 0, a null twin elsewhere.

    from t2.infra.tracking import open_tracker
    tr = open_tracker(uri=None, experiment="t2", run_dir=out, run_name="tiny")  # sqlite in out/
    tr.log_params({"model.params": 2e5}); tr.log_metrics({"loss": 3.1}, step=4096); tr.finish()
    child = open_tracker(..., parent_run_id=tr.run_id)           # nested run (e.g. one per D)
    again = open_tracker(..., run_id=tr.run_id)                  # reattach on resume, no duplicate

The default store is ``sqlite:///{run_dir}/mlflow.db`` (MLflow's file store is disabled in 3.x).
Nothing reads inputs back from the tracker; it only mirrors what the run directory holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PARENT_TAG = "mlflow.parentRunId"


class Tracker(Protocol):
    run_id: str | None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def log_artifact(self, path: str | Path) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...


class NullTracker:
    """Accepts everything, records nothing: non-zero ranks, tracking disabled."""

    run_id = None

    def log_params(self, params): pass
    def log_metrics(self, metrics, step): pass
    def set_tags(self, tags): pass
    def log_artifact(self, path): pass
    def finish(self, status="FINISHED"): pass


def default_uri(run_dir: str | Path) -> str:
    return f"sqlite:///{Path(run_dir).resolve()}/mlflow.db"


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1}} -> {"train.lr": 1}; lists become their string form."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


class MlflowTracker:
    """One MLflow run through ``MlflowClient`` (no global "active run" state)."""

    def __init__(self, uri: str, experiment: str, run_name: str, *, run_id: str | None = None,
                 parent_run_id: str | None = None, tags: dict[str, str] | None = None):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self._last_step: dict[str, int] = {}
        if run_id is not None:
            self.client.update_run(run_id, status="RUNNING")
            self.run_id = run_id
            self._resumed = True
            return
        exp_id = experiment_id(self.client, experiment)
        all_tags = {**(tags or {}), **({PARENT_TAG: parent_run_id} if parent_run_id else {})}
        self.run_id = self.client.create_run(exp_id, run_name=run_name, tags=all_tags).info.run_id
        self._resumed = False

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        # Params are immutable in MLflow: a reattached run keeps those logged the first time.
        logged = self.client.get_run(self.run_id).data.params if self._resumed else {}
        items = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in logged]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def _floor(self, key: str) -> int:
        if key not in self._last_step:
            history = self.client.get_metric_history(self.run_id, key) if self._resumed else []
            self._last_step[key] = max((m.step for m in history), default=-1)
        return self._last_step[key]

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Steps at or below the last logged one are dropped, so a resumed run's replayed
        steps do not appear twice."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()
                 if int(step) > self._floor(k)]
        if items:
            self.client.log_batch(self.run_id, metrics=items)
            self._last_step.update({m.key: int(step) for m in items})

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


def experiment_id(client, name: str) -> str:
    """Get or create the experiment (tagged to open in MLflow's model-training view)."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, tags=EXPERIMENT_KIND)
        except Exception:  # another process created it first
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.tags.get("mlflow.experimentKind") is None:
        client.set_experiment_tag(exp.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
    return exp.experiment_id


def open_tracker(*, enabled: bool = True, uri: str | None, experiment: str,
                 run_dir: str | Path, run_name: str, run_id: str | None = None,
                 parent_run_id: str | None = None, rank: int = 0,
                 tags: dict[str, str] | None = None) -> Tracker:
    """MlflowTracker on rank 0 when enabled, else NullTracker."""
    if not enabled or rank != 0:
        return NullTracker()
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return MlflowTracker(uri or default_uri(run_dir), experiment, run_name, run_id=run_id,
                         parent_run_id=parent_run_id, tags=tags)

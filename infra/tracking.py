"""Experiment tracking behind one small interface: MLflow on rank 0, a null twin elsewhere.

    from t2.infra.tracking import open_tracker
    tr = open_tracker(uri=None, experiment="t2", run_dir=out, run_name="tiny")  # sqlite in out/
    tr.log_params({"model.params": 2e5}); tr.log_metrics({"loss": 3.1}, step=4096); tr.finish()
    child = open_tracker(..., parent_run_id=tr.run_id)           # nested run (e.g. one per D)
    again = open_tracker(..., run_id=tr.run_id)                  # reattach on resume, no duplicate
    send_outboxes(uri, "t2", [out, ...])                         # what an outage kept, now sent

The default store is ``sqlite:///{run_dir}/mlflow.db`` (MLflow's file store is disabled in 3.x).
Nothing reads inputs back from the tracker; it only mirrors what the run directory holds, so a
store that cannot be reached (a stopped ``mlflow server``) never fails the work: the calls are
kept in ``{run_dir}/.mlflow-outbox.jsonl`` (t2.infra.tracking_outbox), one line on stderr says
so once per outage, and the next tracker opened on that directory (or ``send_outboxes``) sends
them, reattaching by run id so nothing is duplicated. Calls to an ``http(s)://`` server use
short MLflow HTTP timeouts and few retries while a call is in flight (t2.infra.tracking_outage).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol

from t2.infra.tracking_outage import MAX_RETRY_S, OUTAGE, RETRY_S, first_line, http_env, warn
from t2.infra.tracking_outbox import (
    Outbox,
    Replay,
    Unresolved,
    is_permanent,
    new_local_id,
    now_ms,
)

EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PARENT_TAG = "mlflow.parentRunId"
STEP_TAG = "t2.step"  # names a nested run uniquely under its parent (created once)


def _quoted(value: str) -> str:
    """A string literal for an MLflow search filter."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
    """One MLflow run through ``MlflowClient`` (no global "active run" state).

    A call that fails because the store cannot be reached (or a sqlite store is locked) does not
    raise: the tracker goes offline, appends this call and the following ones to the outbox of
    ``run_dir`` and tries the server again after ``RETRY_S`` seconds, then twice as long each
    time up to ``MAX_RETRY_S`` (sending the outbox first when it is back).
    A run created offline gets a local id (``offline-…``) until the outbox is sent.
    A nested run carries ``STEP_TAG`` = its name (its parent's children are named uniquely), so
    one created and then killed before the caller kept its id is found again, not duplicated.
    """

    def __init__(self, uri: str, experiment: str, run_name: str, *, run_dir: str | Path,
                 run_id: str | None = None, parent_run_id: str | None = None,
                 tags: dict[str, str] | None = None):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        self.uri, self.experiment = uri, experiment
        self.box = Outbox(run_dir)
        self._last_step: dict[str, int] = {}
        self._resumed = run_id is not None
        self.run_id = run_id
        self.offline = self.dead = False
        self._retry_at, self._wait = 0.0, RETRY_S
        if parent_run_id is not None:
            tags = {STEP_TAG: run_name, **(tags or {})}
        if self._online(self._open, run_name, parent_run_id, tags) or run_id is not None:
            return
        self.run_id = new_local_id()
        self.box.append({"op": "create", "run": self.run_id, "experiment": experiment,
                         "name": run_name, "parent": parent_run_id, "tags": tags or {},
                         "ts": now_ms()})

    # -- online / offline --------------------------------------------------------------------
    def _open(self, run_name, parent_run_id, tags) -> None:
        replay = self._flush()  # what this directory kept from an earlier outage goes first
        if self.run_id is not None:
            self.run_id = replay.resolve(self.run_id)
            self.client.update_run(self.run_id, status="RUNNING")
            return
        exp_id = experiment_id(self.client, self.experiment)
        parent = replay.resolve(parent_run_id)
        all_tags = {**(tags or {}), **({PARENT_TAG: parent} if parent else {})}
        found = self._created_before(exp_id, all_tags)
        if found is not None:  # created, then killed before the caller could save its id
            self.run_id, self._resumed = found, True
            self.client.update_run(found, status="RUNNING")
            return
        self.run_id = self.client.create_run(exp_id, run_name=run_name, tags=all_tags).info.run_id

    def _created_before(self, exp_id: str, tags: dict[str, str]) -> str | None:
        """The run of the same parent carrying the same ``STEP_TAG`` value, if one exists: a
        nested run of one step is created once, even when a kill fell between its creation and
        the caller's saving of its id (the id lives only in the store then)."""
        if STEP_TAG not in tags or PARENT_TAG not in tags:
            return None
        runs = self.client.search_runs(
            [exp_id], filter_string=(f"tags.`{STEP_TAG}` = {_quoted(tags[STEP_TAG])} and "
                                     f"tags.`{PARENT_TAG}` = {_quoted(tags[PARENT_TAG])}"),
            max_results=1)
        return runs[0].info.run_id if runs else None

    def _flush(self) -> Replay:
        replay = Replay(self.client, self.experiment)
        if self.box.pending():
            replay.send(self.box, warn=warn)
        return replay

    def _online(self, send, *args) -> bool:
        """``send(*args)`` against the store. False when it cannot be reached: the caller then
        keeps the call in the outbox. True when sent, or dropped (rejected, or a dead run)."""
        if self.dead:
            return True
        if (self.offline or OUTAGE.recent(self.uri)) and not self._reconnect():
            self.offline = True
            return False
        try:
            with http_env(self.uri):
                send(*args)
        except Unresolved:  # a parent created offline elsewhere, not sent yet
            self.offline, self._retry_at = True, time.monotonic() + RETRY_S
            return False
        except Exception as err:  # noqa: BLE001 - tracking must never fail the work it tracks
            if is_permanent(err):
                warn(f"t2: MLflow rejected a call on run {self.run_id} "
                     f"({first_line(err)}); not logged")
                self.dead = send == self._open
                return True
            self.offline, self._retry_at = True, time.monotonic() + RETRY_S
            OUTAGE.failed(self.uri, err)
            return False
        OUTAGE.ok(self.uri)
        return True

    def _reconnect(self) -> bool:
        """Offline, now and then: if the store answers, send the outbox and go online."""
        now = time.monotonic()
        if now < self._retry_at or OUTAGE.recent(self.uri) or not self.offline:
            return False
        self._retry_at = now + self._wait  # a long outage: fewer tries (each may stall)
        self._wait = min(2 * self._wait, MAX_RETRY_S)
        try:
            with http_env(self.uri):
                self.client.get_experiment_by_name(self.experiment)  # is it back?
                self.run_id = self._flush().resolve(self.run_id)
        except Unresolved:
            return False
        except Exception as err:  # noqa: BLE001
            OUTAGE.failed(self.uri, err)
            return False
        OUTAGE.ok(self.uri)
        self.offline, self._resumed, self._wait = False, True, RETRY_S
        self._last_step.clear()  # the server's history decides again which steps are new
        return True

    # -- the Tracker interface ---------------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        values = {k: str(v)[:6000] for k, v in params.items()}
        if not self._online(self._send_params, values):
            self.box.append({"op": "params", "run": self.run_id, "params": values})

    def _send_params(self, values: dict[str, str]) -> None:
        from mlflow.entities import Param

        # Params are immutable in MLflow: a reattached run keeps those logged the first time.
        logged = self.client.get_run(self.run_id).data.params if self._resumed else {}
        items = [Param(k, v) for k, v in values.items() if k not in logged]
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
        ts, step = now_ms(), int(step)
        values = {k: float(v) for k, v in metrics.items()}
        if not self._online(self._send_metrics, values, step, ts):
            keep = {k: v for k, v in values.items() if step > self._last_step.get(k, -1)}
            if keep:
                self.box.append({"op": "metrics", "run": self.run_id, "step": step, "ts": ts,
                                 "metrics": keep})
                self._last_step.update(dict.fromkeys(keep, step))

    def _send_metrics(self, values: dict[str, float], step: int, ts: int) -> None:
        from mlflow.entities import Metric

        items = [Metric(k, v, ts, step) for k, v in values.items() if step > self._floor(k)]
        if items:
            self.client.log_batch(self.run_id, metrics=items)
            self._last_step.update({m.key: step for m in items})

    def set_tags(self, tags: dict[str, str]) -> None:
        values = {k: str(v) for k, v in tags.items()}
        if not self._online(self._send_tags, values):
            self.box.append({"op": "tags", "run": self.run_id, "tags": values})

    def _send_tags(self, values: dict[str, str]) -> None:
        for k, v in values.items():
            self.client.set_tag(self.run_id, k, v)

    def log_artifact(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        if not self._online(lambda: self.client.log_artifact(self.run_id, path)):
            self.box.append({"op": "artifact", "run": self.run_id, "path": path})

    def finish(self, status: str = "FINISHED") -> None:
        ts = now_ms()
        if not self._online(lambda: self.client.set_terminated(self.run_id, status=status,
                                                               end_time=ts)):
            self.box.append({"op": "finish", "run": self.run_id, "status": status, "ts": ts})


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
    return MlflowTracker(uri or default_uri(run_dir), experiment, run_name, run_dir=run_dir,
                         run_id=run_id, parent_run_id=parent_run_id, tags=tags)


def send_outboxes(uri: str, experiment: str, run_dirs, *, skip_if_down: bool = False) -> bool:
    """Send the calls kept in the outboxes of ``run_dirs``, in that order (a parent's directory
    before its children's). True when nothing is left; False (kept, one warning) otherwise.
    ``skip_if_down``: do not try a store that failed in this process less than RETRY_S ago."""
    boxes = [box for box in map(Outbox, run_dirs) if box.pending()]
    if not boxes:
        return True
    if skip_if_down and OUTAGE.recent(uri):
        return False
    from mlflow.tracking import MlflowClient

    replay, left = Replay(MlflowClient(tracking_uri=uri), experiment), 0
    with http_env(uri):
        for box in boxes:
            try:
                replay.send(box, warn=warn)
            except Unresolved as err:
                warn(f"t2: {box.path} waits for run {err}, not on the server yet; kept")
                left += 1
            except Exception as err:  # noqa: BLE001 - the store is away again: keep the rest
                OUTAGE.failed(uri, err)
                return False
    OUTAGE.ok(uri)
    return left == 0

"""MLflow for a study: one parent run per study, nested children per training run and evaluation.

    tr = StudyTracking(cfg, root, "active", run_id=saved_id)   # creates or reattaches the parent
    child = tr.child(step_dir, "eval-N2e5-D4e6", {"N": 2e5})  # reattaches: step_dir/tracking.json
    tr.log_round(record, step=num_runs); tr.finish()

The store is ``cfg.tracking.uri`` or a sqlite file under ``{root}/mlflow``. Run ids are saved
before any work (the parent's in ``study.json``, a child's in its step directory), so a resumed
study reattaches to the same runs and creates no duplicates. Disabled tracking gives null twins.

A tracking server that goes away never stops the study: each run keeps the calls it could not
make in its directory's outbox (t2.infra.tracking_outbox). Opening the study (a rerun, even of a
finished study: ``send_pending``) and finishing it send every outbox under the root, the parent's
first, so the runs end FINISHED with all their metrics once the server is back.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from t2.flows.config import StudyConfig
from t2.flows.records import RoundRecord
from t2.flows.steps import StudyPaths
from t2.infra.config import dump_config
from t2.infra.storage import read_json, write_json
from t2.infra.tracking import NullTracker, flatten, open_tracker, send_outboxes
from t2.infra.tracking_outbox import OUTBOX, is_local, resolved

CHILD_FILE = "tracking.json"


class StudyTracking:
    def __init__(self, cfg: StudyConfig, root: str | Path, strategy: str, *,
                 run_id: str | None = None):
        self.cfg, self.paths = cfg, StudyPaths(root)
        self.enabled = cfg.tracking.enabled
        self.uri = cfg.tracking.uri or self.paths.mlflow_uri
        if self.enabled and cfg.tracking.uri is None:
            self.paths.mlflow.mkdir(parents=True, exist_ok=True)
        if self.enabled:
            send_outboxes(self.uri, cfg.tracking.experiment, outbox_dirs(root), skip_if_down=True)
        self.parent = self._open(self.paths.mlflow, cfg.name, run_id=run_id,
                                 tags={"t2.study": cfg.name, "t2.strategy": strategy})
        if run_id is None and self.enabled:
            self.parent.log_params({**flatten(cfg.model_dump(mode="json")),
                                    "strategy": strategy})
            snapshot = self.paths.config
            if not snapshot.exists():
                snapshot.write_text(dump_config(cfg))
            self.parent.log_artifact(snapshot)

    @property
    def parent_id(self) -> str | None:
        return self.parent.run_id

    def _open(self, run_dir: Path, name: str, *, run_id=None, parent_run_id=None, tags=None):
        if not self.enabled:
            return NullTracker()
        return open_tracker(enabled=True, uri=self.uri, experiment=self.cfg.tracking.experiment,
                            run_dir=run_dir, run_name=name, run_id=run_id,
                            parent_run_id=parent_run_id, tags=tags)

    def child(self, step_dir: Path, name: str, params: dict):
        """The nested run of one step, created once and reattached on resume."""
        state = Path(step_dir) / CHILD_FILE
        saved = read_json(state) if state.exists() else {}
        tr = self._open(Path(step_dir), name, run_id=saved.get("run_id"),
                        parent_run_id=self.parent_id,
                        tags={"t2.study": self.cfg.name})
        if tr.run_id is not None and not saved.get("params_logged"):
            # the run id first (a rerun reattaches, no duplicate); the params once, even when a
            # kill fell between the two (logging the same values again is a no-op in MLflow)
            write_json(state, {"run_id": tr.run_id})
            tr.log_params(params)
            write_json(state, {"run_id": tr.run_id, "params_logged": True})
        return tr

    def log_round(self, rec: RoundRecord, step: int) -> None:
        """The round's forecast (N*, D*, k* and their interval per target; the drift law's where
        the k-trend check flagged, with its ``k_drift.kappa``), and the same for every task ×
        approach (``{task}.a{approach}.target{t}.N_opt``)."""
        metrics = {"flops_spent": rec.flops, "num_runs": rec.num_runs,
                   **_forecast_metrics("", rec.forecast, rec.interval)}
        if rec.k_trend:  # the k exponent's drift with the loss (t2.fitting.misfit)
            metrics.update({f"k_trend.{key}": float(rec.k_trend[key])
                            for key in ("t", "rel", "flags") if math.isfinite(rec.k_trend[key])})
        if rec.drift:  # the forecast above is the drift law's (t2.fitting.drift)
            metrics["k_drift.kappa"] = float(rec.drift["law"]["kappa"])
        for law in rec.laws:
            prefix = re.sub(r"[^A-Za-z0-9_./ -]", "_", f"{law['task']}.a{law['approach']}.")
            metrics.update(_forecast_metrics(prefix, law.get("forecast"), law.get("interval")))
        self.parent.log_metrics(metrics, step=step)

    def log_artifact(self, path: str | Path) -> None:
        self.parent.log_artifact(path)

    def finish(self) -> None:
        self.parent.finish()
        if self.enabled:  # the server may be back by now: send what the study kept
            send_pending(self.cfg, self.paths.root, skip_if_down=True)


def _forecast_metrics(prefix: str, forecast, interval) -> dict[str, float]:
    out = {}
    for t, row in enumerate(forecast or []):
        for j, name in enumerate(("N_opt", "D_opt", "k_opt")):
            key = f"{prefix}target{t}.{name}"
            if not math.isnan(row[j]):
                out[key] = row[j]
            lo, hi = interval[t][j]
            if not math.isnan(lo):
                out[f"{key}_lo"], out[f"{key}_hi"] = lo, hi
    return out


def outbox_dirs(root: str | Path) -> list[Path]:
    """Run directories of a study that hold an outbox, the parent's (``{root}/mlflow``) first."""
    paths = StudyPaths(root)
    return [paths.mlflow, *(d for d in paths.step_dirs() if (d / OUTBOX).exists())]


def send_pending(cfg: StudyConfig, root: str | Path, *, skip_if_down: bool = False) -> bool:
    """Send what a tracking outage left under ``root``; True when nothing is left. Also puts
    the server id of a parent run created offline into ``study.json``."""
    if not cfg.tracking.enabled:
        return True
    paths = StudyPaths(root)
    done = send_outboxes(cfg.tracking.uri or paths.mlflow_uri, cfg.tracking.experiment,
                         outbox_dirs(root), skip_if_down=skip_if_down)
    state = paths.read_state()
    local = state.get("mlflow_run_id")
    if is_local(local) and resolved(local):
        paths.write_state({**state, "mlflow_run_id": resolved(local)})
    return done

"""Where a study stands (``t2 status ROOT``) and how to open its MLflow UI (``t2 ui ROOT``).

    st = study_status("runs/tiny")      # runs, FLOPs vs budget, the newest forecast
    cmd, links = ui_command("runs/tiny", port=5000)

Status reads the study file, the Optuna ledger, the step directories and the newest round file;
it never changes anything, so it is safe while a study runs. ``t2.flows.cli.study`` prints it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from t2.flows import ledger
from t2.flows.config import StudyConfig, load_study
from t2.flows.posttrain import posttrained_so_far
from t2.flows.records import RoundRecord
from t2.flows.steps import StudyPaths
from t2.infra.config import ConfigError
from t2.infra.storage import is_done, read_json, read_jsonl


@dataclass(frozen=True)
class RunRow:
    number: int
    state: str
    role: str
    N: float
    Ds: list[float]
    progress: str
    val_loss: float | None
    epochs: float | None = None  # passes over the most repeated data source (real training)


@dataclass(frozen=True)
class StudyStatus:
    cfg: StudyConfig
    strategy: str
    finished: bool
    reason: str
    flops: float
    runs: list[RunRow]
    forecast: RoundRecord | None     # the newest fitted round
    validation_flops: float | None = None  # the validation stage's training, once it is done
    posttrain: dict | None = None  # mode -> (checkpoints post-trained, their FLOPs), if any


def study_config(root: str | Path) -> StudyConfig:
    path = StudyPaths(root).config
    if not path.is_file():
        raise ConfigError(f"{root}: not a study directory (no study.yaml)")
    return load_study(path)


def _progress(trial, paths: StudyPaths) -> str:
    """Checkpoints done of planned, or the training tokens of a running run."""
    step_dir = trial.user_attrs.get("step_dir")
    num = len(trial.user_attrs.get("Ds", []))
    if trial.state.name == "COMPLETE":
        return f"{num}/{num}"
    if not step_dir:
        return "-"
    metrics = paths.trainer(step_dir) / "metrics.jsonl"
    if metrics.exists():
        try:
            rows = read_jsonl(metrics)
        except ValueError:
            rows = []
        if rows and "tokens" in rows[-1]:
            return f"{rows[-1]['tokens'] / max(trial.user_attrs['Ds']):.0%}"
    return "done" if is_done(step_dir) else "started" if Path(step_dir).exists() else "-"


def run_rows(study, paths: StudyPaths) -> list[RunRow]:
    """One row per trial with a request. A trial a killed driver left running was failed and
    its request enqueued again (``ledger.recover``): it reads ``requeued``, its progress the
    trial that carries it on, not ``fail``."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}
    rows = []
    for t in trials:
        if "N" not in t.user_attrs:
            continue
        requeued = t.state.name == "FAIL" and t.number in retried
        rows.append(RunRow(
            number=t.number, state="requeued" if requeued else t.state.name.lower(),
            role=t.user_attrs.get("role", ""), N=t.user_attrs["N"], Ds=list(t.user_attrs["Ds"]),
            progress=f"→ #{retried[t.number]}" if requeued else _progress(t, paths),
            val_loss=t.value,
            epochs=max((c["epochs"] for c in t.user_attrs.get("checkpoints", [])
                        if c.get("epochs") is not None), default=None)))
    return rows


def newest_forecast(paths: StudyPaths) -> RoundRecord | None:
    for p in sorted(paths.rounds.glob("round-*.json"), reverse=True):
        rec = RoundRecord.from_dict(read_json(p))
        if rec.fitted:
            return rec
    return None


def study_status(root: str | Path) -> StudyStatus:
    paths = StudyPaths(root)
    cfg = study_config(root)
    state = paths.read_state()
    study = ledger.open_ledger(cfg, root)
    return StudyStatus(cfg=cfg, strategy=state.get("strategy", cfg.select.strategy),
                       finished=bool(state.get("finished")), reason=state.get("reason", ""),
                       flops=ledger.flops_spent(study), runs=run_rows(study, paths),
                       forecast=newest_forecast(paths),
                       validation_flops=read_json(paths.validation).get("flops")
                       if paths.validation.exists() else None,
                       posttrain={m: (len(v), sum(p.flops for p in v))
                                  for m, v in posttrained_so_far(paths).items()} or None)


def ui_command(root: str | Path, port: int) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow ui`` command for a study's store (on 127.0.0.1) and the links that open
    the study: its experiment's runs table and its parent run."""
    paths = StudyPaths(root)
    cfg = study_config(root)
    uri = cfg.tracking.uri or paths.mlflow_uri
    base = f"http://127.0.0.1:{port}"
    links = {"store": uri, "ui": base}
    try:
        from mlflow.tracking import MlflowClient

        exp = MlflowClient(tracking_uri=uri).get_experiment_by_name(cfg.tracking.experiment)
    except Exception:  # noqa: BLE001 - no store yet, or a server away: the bare UI still opens
        exp = None
    if exp is not None:
        links["runs"] = f"{base}/#/experiments/{exp.experiment_id}/runs"
        parent = paths.read_state().get("mlflow_run_id")
        if parent:
            links["study"] = f"{base}/#/experiments/{exp.experiment_id}/runs/{parent}"
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(port)]
    return cmd, links

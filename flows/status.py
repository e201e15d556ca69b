"""``t2 status ROOT`` (runs, FLOPs vs budget, forecast) and ``t2 ui ROOT`` (the MLflow UI).

    t2 status runs/tiny
    t2 ui runs/tiny --port 5000       # prints http://127.0.0.1:5000 and serves until Ctrl-C

Status reads the Optuna ledger, the step directories and the newest round file; it never
changes anything, so it is safe while a study runs.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from t2.flows import ledger
from t2.flows.steps import mlflow_uri, read_study_state, rounds_dir, trainer_dir
from t2.flows.study import StudyConfig, load_study
from t2.infra.config import ConfigError
from t2.infra.storage import is_done, read_json, read_jsonl


def _config(root: Path) -> StudyConfig:
    path = root / "study.yaml"
    if not path.is_file():
        raise ConfigError(f"{root}: not a study directory (no study.yaml)")
    return load_study(path)


def _progress(trial) -> str:
    """Checkpoints done of planned, or the training tokens of a running run."""
    step_dir = trial.user_attrs.get("step_dir")
    num = len(trial.user_attrs.get("Ds", []))
    if trial.state.name == "COMPLETE":
        return f"{num}/{num}"
    if not step_dir:
        return "-"
    metrics = trainer_dir(step_dir) / "metrics.jsonl"
    if metrics.exists():
        try:
            rows = read_jsonl(metrics)
        except ValueError:
            rows = []
        if rows and "tokens" in rows[-1]:
            return f"{rows[-1]['tokens'] / max(trial.user_attrs['Ds']):.0%}"
    return "done" if is_done(step_dir) else "started" if Path(step_dir).exists() else "-"


def runs_table(study) -> Table:
    table = Table(title="runs")
    for col in ("#", "state", "role", "N", "D", "tokens/param", "progress", "val loss"):
        table.add_column(col, justify="right")
    for t in study.get_trials(deepcopy=False):
        if "N" not in t.user_attrs:
            continue
        N, Ds = t.user_attrs["N"], t.user_attrs["Ds"]
        loss = f"{t.value:.4g}" if t.value is not None else "-"
        table.add_row(str(t.number), t.state.name.lower(), t.user_attrs.get("role", ""),
                      f"{N:.3g}", ",".join(f"{d:.3g}" for d in Ds),
                      ",".join(f"{d / N:.0f}" for d in Ds), _progress(t), loss)
    return table


def forecast_table(cfg: StudyConfig, rec: dict) -> Table:
    table = Table(title=f"forecast after {rec['num_runs']} runs ({rec['kind']} law, "
                        f"{cfg.select.interval:.0%} intervals)")
    for col in ("C_train", "C_inf", "N*", "D*", "k*", "tokens/param"):
        table.add_column(col, justify="right")
    for t, target in enumerate(cfg.budget.targets):
        cells = []
        for j in range(3):
            v, (lo, hi) = rec["forecast"][t][j], rec["interval"][t][j]
            cells.append("-" if math.isnan(v) else f"{v:.3g} [{lo:.3g}, {hi:.3g}]")
        N, D = rec["forecast"][t][0], rec["forecast"][t][1]
        table.add_row(f"{target.c_train:.3g}", f"{target.c_inf:.3g}", *cells, f"{D / N:.0f}")
    return table


def print_status(root: Path, console: Console | None = None) -> int:
    console = console or Console()
    cfg = _config(root)
    state = read_study_state(root)
    study = ledger.open_ledger(cfg, root)
    console.print(runs_table(study))
    spent = ledger.flops_spent(study)
    done = "finished (" + state.get("reason", "") + ")" if state.get("finished") else "running"
    console.print(f"study {cfg.name} ({state.get('strategy', cfg.select.strategy)}): {done}; "
                  f"training FLOPs {spent:.3g} of {cfg.budget.train_flops:.3g} "
                  f"({spent / cfg.budget.train_flops:.1%})")
    rounds = sorted(rounds_dir(root).glob("round-*.json"))
    last = next((read_json(p) for p in reversed(rounds) if read_json(p).get("forecast")), None)
    if last is None:
        console.print("no forecast yet (too few finished runs)")
    else:
        console.print(forecast_table(cfg, last))
    return 0


def serve_ui(root: Path, port: int) -> int:
    """Run ``mlflow ui`` on 127.0.0.1 for the study's tracking store."""
    cfg = _config(root)
    uri = cfg.tracking.uri or mlflow_uri(root)
    print(f"MLflow UI for study {cfg.name}: http://127.0.0.1:{port}  (store {uri}; Ctrl-C stops)",
          flush=True)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(port)]
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0

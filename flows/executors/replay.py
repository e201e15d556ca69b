"""Replay a real suite: the study may only choose among a results table's runs, and each
observation is that run's measured loss (``t2 simulate STUDY --replay TABLE``).

    table = load_table("../shared/data/gadre2024_c4_openlm_runs.csv")   # N, D, loss per run
    cfg = replay_config(cfg, table)          # design.pool = the table's runs; budget = their sum
    ex = ReplayExecutor(table)               # train() looks the run up; evaluate() has no k
    truth = table_truth(table, targets)      # the forecast from every run of the table

A table is a CSV (``#`` lines are comments) with columns ``N`` (parameters), ``D`` (training
tokens) and a loss column: ``loss_column`` if given, else the first of ``loss``, ``val_loss`` or a
name ending in ``_val`` (the open_lm C4 runs of Gadre et al. 2024, arXiv 2403.08540, have
``c4_val``). Each row is one run trained on its own (no shared trunk), costing 6·N·D FLOPs. With
only a validation loss the study's law is the Chinchilla one (Hoffmann et al. 2022, arXiv
2203.15556) and k* = C_inf/2N*. The truth is what the same fit makes of all the table's runs;
"settling" is reaching it from a subset, for fewer training FLOPs.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from t2.flows.plan import RunRequest
from t2.flows.records import Checkpoint, Evaluation
from t2.infra.config import ConfigError
from t2.infra.storage import hash8, write_json

_SAME = 1e-6  # relative tolerance when looking a requested (N, D) up in the table


@dataclass(frozen=True)
class Table:
    """A results table: one row per run."""

    path: str
    column: str
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray

    @property
    def pool(self) -> list[tuple[float, float]]:
        return [(float(n), float(d)) for n, d in zip(self.N, self.D)]

    @property
    def total_flops(self) -> float:
        return float(np.sum(6.0 * self.N * self.D))

    def lookup(self, N: float, D: float) -> float | None:
        hit = np.flatnonzero((np.abs(self.N / N - 1) < _SAME) & (np.abs(self.D / D - 1) < _SAME))
        return float(self.loss[hit[0]]) if hit.size else None


def _pick_column(fields: list[str], column: str | None, source: str) -> str:
    if column is not None:
        if column not in fields:
            raise ConfigError(f"{source}: no column {column!r} (columns: {', '.join(fields)})")
        return column
    for name in fields:
        if name in ("loss", "val_loss") or name.endswith("_val"):
            return name
    raise ConfigError(f"{source}: no loss column (loss, val_loss or *_val); name one with "
                      f"--replay-loss (columns: {', '.join(fields)})")


def _float(row: dict, key: str, line: int, source: str) -> float:
    try:
        v = float(row[key])
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: line {line}: {key}: expected a number, got "
                          f"{row[key]!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{source}: line {line}: {key}: expected a finite number > 0")
    return v


def load_table(path: str | Path, loss_column: str | None = None) -> Table:
    """Read a results table; ``ConfigError`` (one line naming file, line and column) if bad."""
    path, source = Path(path), str(path)
    if not path.is_file():
        raise ConfigError(f"{source}: no such table")
    lines = [(i + 1, ln) for i, ln in enumerate(path.read_text().splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ConfigError(f"{source}: empty table")
    reader = csv.DictReader([ln for _, ln in lines])
    fields = [f.strip() for f in reader.fieldnames or []]
    for need in ("N", "D"):
        if need not in fields:
            raise ConfigError(f"{source}: no column {need!r} (columns: {', '.join(fields)})")
    column = _pick_column(fields, loss_column, source)
    rows = []
    for (line, _), row in zip(lines[1:], reader):
        row = {(k or "").strip(): v for k, v in row.items()}
        rows.append([_float(row, k, line, source) for k in ("N", "D", column)])
    if not rows:
        raise ConfigError(f"{source}: no runs")
    N, D, L = (np.array(c) for c in zip(*rows))
    if len({(n, d) for n, d in zip(N, D)}) < len(N):
        raise ConfigError(f"{source}: two rows have the same N and D")
    if len(N) < 7 or np.unique(N).size < 3:
        raise ConfigError(f"{source}: need at least 7 runs at 3 or more sizes to fit a law, "
                          f"got {len(N)} runs at {np.unique(N).size} sizes")
    return Table(path=source, column=column, N=N, D=D, loss=L)


def replay_config(cfg, table: Table):
    """``cfg`` restricted to the table: its runs are the pool, its sizes bound N, its ratios
    widen the tokens/param range, and the budget is what all its runs cost."""
    from t2.flows.config import StudyConfig

    data = cfg.model_dump(mode="json")
    ratios = table.D / table.N
    lo, hi = data["design"]["tokens_per_param"]
    data["design"] = {**data["design"], "pool": [list(p) for p in table.pool],
                      "tokens_per_param": [min(lo, float(ratios.min())),
                                           max(hi, float(ratios.max()))]}
    data["model"] = {**data["model"], "params_min": float(table.N.min()),
                     "params_max": float(table.N.max()), "ladder": False}
    data["budget"] = {**data["budget"], "train_flops": table.total_flops}
    data["select"] = {**data["select"], "noise_per": "checkpoint"}  # each row its own run
    return StudyConfig.model_validate(data)


def table_truth(table: Table, targets, num_bootstrap: int = 8) -> np.ndarray:
    """(T, 3) log N*, D*, k*: the study's own fit (``t2.flows.rounds.fit_round``) on every run."""
    from t2.flows.rounds import fit_round

    obs = [_observation(i, n, d, L) for i, (n, d, L) in enumerate(zip(table.N, table.D,
                                                                     table.loss))]
    fit = fit_round(obs, targets, num_bootstrap=num_bootstrap)
    if fit is None:
        raise ConfigError(f"{table.path}: the law cannot be fitted to the table's runs")
    return fit.forecast.point


def _observation(run, N, D, loss):
    from t2.flows.records import Observation

    return Observation(run=run, checkpoint=Checkpoint(N=float(N), D=float(D),
                                                      val_loss=float(loss), result_dir=""),
                       evaluation=Evaluation(loss_k={}))


class ReplayExecutor:
    """Executor whose runs are rows of a results table (module docstring)."""

    kind = "replay"
    max_parallel = 4
    tracks_training = False
    shows_progress = False

    def __init__(self, table: Table):
        self.table = table

    def step_config(self) -> dict:
        return {"executor": "replay", "table": hash8(self.table.pool, self.table.loss.tolist()),
                "column": self.table.column}

    def check(self, reqs: list[RunRequest], *, source: str = "study") -> None:
        for req in reqs:
            for D in req.Ds:
                if self.table.lookup(req.N, D) is None:
                    raise ConfigError(f"{source}: run N={req.N:.4g} D={D:.4g} is not in "
                                      f"{self.table.path}")

    def train(self, req: RunRequest, out_dir: Path, *, base_dir: Path | None = None,
              parent_run_id: str | None = None) -> list[Checkpoint]:
        out = []
        for D in req.Ds:
            loss = self.table.lookup(req.N, D)
            assert loss is not None, (req.N, D)  # check() and the pool keep requests in it
            rdir = Path(out_dir) / f"D{D:.4g}"
            write_json(rdir / "train.json", {"N": req.N, "D": D, "val_loss": loss})
            out.append(Checkpoint(N=req.N, D=D, val_loss=loss, result_dir=str(rdir),
                                  flops=6.0 * req.N * D))
        return out

    def evaluate(self, ckpt: Checkpoint, out_dir: Path, *,
                 parent_run_id: str | None = None) -> Evaluation:
        write_json(Path(out_dir) / "summary.json", {"loss_k": {}})
        return Evaluation(loss_k={}, eval_dir=str(out_dir))

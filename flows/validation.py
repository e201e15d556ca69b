"""The validation stage: train the forecast T² optimum and the Chinchilla-optimal model; measure.

    plan = validation_plan(cfg, fit, chin_law)      # [ValidationRun] per budget: t2 and chinchilla
    rows = measured(done_runs, laws, q)             # per run and task: measured vs forecast pass@k

The T² paper's second question (Roberts et al. 2026, arXiv 2604.01411): is the forecast optimum
really better? At each budget of ``validation.budgets`` (default the study's targets) the
study's final pooled law gives the T² optimum N*, and its Chinchilla fit of the validation loss
the Chinchilla-optimal N; each is trained at D = C_train/6N (on the size ladder when the study
uses it, N then being the rung's) and evaluated on every task at its own k = C_inf/2N (rounded,
≥ 1) with n = max(eval.num_samples, k) samples per problem, at most ``validation.max_samples``.
Measured pass@k is the unbiased estimate from the sampled counts where n ≥ k, and the
likelihood form 1 − (1 − p_i)^k of the gold answer everywhere; intervals are bootstrap intervals
over problems, the T²/Chinchilla ratio paired by problem.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from t2.fitting.forecast import optima
from t2.flows.config import StudyConfig
from t2.flows.plan import size_rungs, snap
from t2.flows.report_tasks import chinchilla_model, pass_at_k

MODELS = ("t2", "chinchilla")


@dataclass(frozen=True)
class ValidationRun:
    """One model to train and measure: which budget, which sizing, its N, D and k."""

    budget: int
    model: str              # "t2" or "chinchilla"
    c_train: float
    c_inf: float
    N: float
    D: float
    k: int
    num_samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def budgets(cfg: StudyConfig) -> list[tuple[float, float]]:
    return [(b.c_train, b.c_inf) for b in (cfg.validation.budgets or cfg.budget.targets)]


def sized(cfg: StudyConfig, i: int, model: str, N: float, ct: float, ci: float) -> ValidationRun:
    if cfg.model.ladder:
        N = snap(N, size_rungs(cfg))
    k = max(1, round(ci / (2.0 * N)))
    n = min(cfg.validation.max_samples, max(cfg.eval.num_samples, k))
    return ValidationRun(budget=i, model=model, c_train=ct, c_inf=ci, N=float(N),
                         D=float(ct / (6.0 * N)), k=int(k), num_samples=int(n))


def validation_plan(cfg: StudyConfig, law, chin_law) -> list[ValidationRun]:
    """Both models at every validation budget, from the final pooled law and Chinchilla fit."""
    out = []
    for i, (ct, ci) in enumerate(budgets(cfg)):
        n_t2 = float(np.exp(optima([law], [(ct, ci)])[0, 0, 0]))
        n_chin = chinchilla_model(chin_law, ct, ci)[0]
        out += [sized(cfg, i, "t2", n_t2, ct, ci), sized(cfg, i, "chinchilla", n_chin, ct, ci)]
    return out


def _boot_mean(values: np.ndarray, q: float, seed: int, num: int = 1000):
    """Mean over problems and its central q interval under resampling problems."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(num, len(values)))
    means = values[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - q) / 2, (1 + q) / 2])
    return float(values.mean()), [float(lo), float(hi)]


def task_pass(table, k: int):
    """Per task: per-problem pass@k from the likelihood, and from the sampled counts (n ≥ k)."""
    from t2.evaluation.passk import pass_at_k as sampled_pass
    from t2.evaluation.passk import pass_at_k_from_p

    out = {}
    for task, part in table.groupby("task", sort=True):
        p = np.clip(part["p"].to_numpy(float), 0.0, 1.0)
        n, c = part["n"].to_numpy(int), part["c"].to_numpy(int)
        out[str(task)] = {"likelihood": pass_at_k_from_p(p, k),
                          "sampled": sampled_pass(n, c, k) if n.min() >= k else None}
    return out


def measured(runs: list[dict], laws, q: float, seed: int = 0) -> list[dict]:
    """One row per budget, model and task: measured pass@k (both estimates, with intervals),
    the forecast of each task × approach law at the run's (N, D, k), and T²/Chinchilla."""
    import pandas as pd

    per_run = {}
    for r in runs:
        table = pd.read_parquet(r["problems"])
        per_run[(r["budget"], r["model"])] = (r, task_pass(table, r["k"]))
    rows = []
    for (b, model), (r, tasks) in sorted(per_run.items()):
        other = per_run.get((b, "chinchilla")) if model == "t2" else None
        for task, values in tasks.items():
            row = {"budget": b, "model": model, "task": task, "N": r["N"], "D": r["D"],
                   "k": r["k"], "n": r["num_samples"]}
            for kind, v in values.items():
                if v is not None:
                    row[kind], row[f"{kind}_iv"] = _boot_mean(np.asarray(v, float), q, seed)
            for f in laws:
                if f.task == task and f.boot is not None and f.forecast is not None:
                    row[f"forecast_a{f.approach}"] = float(pass_at_k(f.boot.law, r["N"], r["D"],
                                                                     r["k"]))
            if other is not None:
                row.update(_ratio(values, other[1].get(task, {}), q, seed))
            rows.append(row)
    return rows


def _ratio(t2: dict, chin: dict, q: float, seed: int) -> dict:
    """T²/Chinchilla measured pass@k, paired by problem (both saw the same problems)."""
    out = {}
    for kind in ("sampled", "likelihood"):
        a, b = t2.get(kind), chin.get(kind)
        if a is None or b is None or len(a) != len(b) or np.mean(b) <= 0:
            continue
        a, b = np.asarray(a, float), np.asarray(b, float)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(a), size=(1000, len(a)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = a[idx].mean(axis=1) / b[idx].mean(axis=1)
        # Resamples whose Chinchilla pass@k is 0 give ratio inf; where two neighbouring order
        # statistics are both inf, interpolating them is inf - inf: the quantile is inf.
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanquantile(ratios, [(1 - q) / 2, (1 + q) / 2])
        lo, hi = (math.inf if math.isnan(x) else float(x) for x in (lo, hi))
        out[f"ratio_{kind}"] = float(a.mean() / b.mean())
        out[f"ratio_{kind}_iv"] = [lo, hi]
    return out

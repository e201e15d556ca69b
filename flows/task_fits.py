"""Per-task laws of a round, both T² approaches, and the pooled Approach 2 (Roberts et al. 2026,
arXiv 2604.01411).

    laws = fit_task_laws(obs, targets, primary=round_fit, num_bootstrap=32, seed=0)
    {(f.task, f.approach): f.forecast for f in laws if f.forecast is not None}

For every task the round has data for: **Approach 1**, ``fit_t2_loss`` on that task's
−log pass@k at each k; **Approach 2**, ``fit_t2_beta`` on its per-problem table (beta-binomial on
the sampled counts c_i of n, or Beta on the gold answer's likelihood p_i: ``eval.approach2``; in
simulation the Beta on likelihoods recovers a planted law's precision poorly, as it is dominated
by the far lower tail of p_i),
its mean and precision driven by the task's Approach-1 law at k = 1. The pooled Approach 2 uses
every task's problems and the study's pooled law (the round's primary fit). Both are
bootstrapped with the primary's resamples (same seed, same units drawn), so an Approach-2
replicate is driven by the Approach-1 replicate of the same resample. The bootstrap is
stratified by model size (``resampling_units``): every resample keeps every size the design
trained, and draws training runs within each size, or checkpoints when some size has a single
run (a design of a few long trunks with decayed branches, where resampling runs would drop whole
sizes and leave the law unidentified in most resamples). A law that
cannot be fitted or forecast, or whose resamples mostly fail, carries the reason instead of a
forecast: the report says so rather than printing a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from t2.fitting.beta import fit_t2_beta
from t2.fitting.beta_bootstrap import bootstrap_t2_beta
from t2.fitting.bootstrap import Bootstrap, bootstrap_fit
from t2.fitting.checks import FitError
from t2.fitting.fit import fit_t2_loss
from t2.fitting.forecast import Forecast, forecast
from t2.flows.records import Observation

POOLED = "pooled"
MAX_FAILED = 0.2  # more failed resamples than this: a point forecast, no interval
COLD_GROWTH = 1.25  # a full grid-start fit whenever the data grew by this factor
FAR_BELOW = 100.0  # an optimum this far below the smallest trained N is not a forecast


@dataclass(frozen=True)
class LawFit:
    """One task × approach of a round: its bootstrap and forecast, or why there is none."""

    task: str                       # a task name, or "pooled"
    approach: int                   # 1: −log pass@k law; 2: Beta law of per-problem accuracy
    boot: Bootstrap | None = None
    forecast: Forecast | None = None
    reason: str = ""                # why there is no forecast (not identifiable)
    cold_at: int = 0


@lru_cache(maxsize=8192)
def _problems(path: str):
    """A checkpoint's per-problem table (written once, never changed)."""
    import pandas as pd

    return pd.read_parquet(path, columns=["task", "n", "c", "p"])


def resampling_units(obs: list[Observation]) -> tuple[dict[int, int], str]:
    """Each observation's bootstrap unit (keyed by ``id``) and what the unit is: its training
    run when every size has two or more runs, else its checkpoint. Rows resample within their
    size (``strata=N``), so checkpoints of one trunk share its seed noise, which a checkpoint
    bootstrap then leaves out of the interval: the report says which unit was drawn."""
    runs_of: dict[float, set] = {}
    for o in obs:
        runs_of.setdefault(o.N, set()).add(o.run)
    if runs_of and min(len(r) for r in runs_of.values()) >= 2:
        return {id(o): int(o.run) for o in obs}, "runs"
    return {id(o): i for i, o in enumerate(obs)}, "checkpoints"


def task_names(obs: list[Observation]) -> list[str]:
    return sorted({t for o in obs for t in o.evaluation.tasks})


def loss_rows(obs: list[Observation], task: str) -> tuple[dict, np.ndarray]:
    """Approach-1 rows of a task: (N, D, k, L) per checkpoint and k; and each row's bootstrap
    unit (``resampling_units``)."""
    unit = resampling_units(obs)[0]
    rows = [(o.N, o.D, float(k), L, unit[id(o)]) for o in obs
            for k, L in sorted(o.evaluation.tasks.get(task, {}).items())]
    N, D, k, L, run = (np.array(c, float) for c in zip(*rows)) if rows else [np.array([])] * 5
    return {"N": N, "D": D, "k": k, "L": L}, run.astype(int)


def problem_rows(obs: list[Observation], task: str, approach2: str) -> tuple[dict, np.ndarray]:
    """Approach-2 rows of a task (all tasks for "pooled"): N, D and p (likelihood) or n, c."""
    parts, unit = [], resampling_units(obs)[0]
    for o in obs:
        if not o.evaluation.problems:
            continue
        t = _problems(o.evaluation.problems)
        t = t if task == POOLED else t[t["task"] == task]
        parts.append((np.full(len(t), o.N), np.full(len(t), o.D), t, np.full(len(t), unit[id(o)])))
    if not parts:
        return {}, np.array([], int)
    N, D = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    runs = np.concatenate([p[3] for p in parts]).astype(int)
    tables = [p[2] for p in parts]
    if approach2 == "likelihood":
        cols = {"p": np.concatenate([t["p"].to_numpy(float) for t in tables])}
    else:
        cols = {"n": np.concatenate([t["n"].to_numpy(float) for t in tables]),
                "c": np.concatenate([t["c"].to_numpy(float) for t in tables])}
    return {"N": N, "D": D, **cols}, runs


def best_fit(fit_fn, arrays: dict, init, cold: bool):
    """Warm refit from the previous round's law; also a full grid-start fit when ``cold`` (the
    data grew enough that the previous basin may be the wrong one). The lower objective wins."""
    fits = []
    if init is not None:
        try:
            fits.append(fit_fn(**arrays, init=init))
        except FitError:
            cold = True
    if cold or not fits:
        fits.append(fit_fn(**arrays))
    return min(fits, key=lambda law: law.info["objective"])


def is_cold(prev: LawFit | None, num_checkpoints: int) -> bool:
    return prev is None or prev.boot is None or num_checkpoints >= COLD_GROWTH * prev.cold_at


def bootstrap(fit_fn, arrays, groups, num, seed, law) -> Bootstrap:
    """The bootstrap of a round's law: every resample kept in order (``replicates``), and no
    interval (``laws`` empty) when more than ``MAX_FAILED`` of them fail."""
    boot = bootstrap_fit(fit_fn, arrays, groups, num_samples=num, seed=seed, law=law,
                         max_failed_frac=1.0, strata=arrays["N"])
    return boot if boot.num_failed <= MAX_FAILED * num else Bootstrap(
        law=law, laws=[], num_failed=boot.num_failed, replicates=boot.replicates)


def fit_approach1(obs, task, targets, num, seed, prev: LawFit | None = None) -> LawFit:
    arrays, runs = loss_rows(obs, task)
    num_ckpts, sizes = len(set(zip(arrays["N"], arrays["D"]))), len(set(arrays["N"]))
    if num_ckpts < 7 or sizes < 3:
        return LawFit(task, 1, reason=f"{num_ckpts} checkpoints of {sizes} sizes: too few for "
                      "the 7-parameter law")
    if len(set(arrays["k"])) < 2:
        return LawFit(task, 1, reason="a single k: G and gamma are not identifiable")
    cold = is_cold(prev, num_ckpts)
    try:
        init = prev.boot.law if prev is not None and prev.boot is not None else None
        law = best_fit(fit_t2_loss, arrays, init, cold)
        boot = bootstrap(fit_t2_loss, arrays, runs, num, seed, law)
    except (FitError, ValueError) as err:
        return LawFit(task, 1, reason=f"the fit failed ({err})")
    fit = _forecast(task, 1, boot, targets, float(arrays["N"].min()))
    return LawFit(fit.task, 1, fit.boot, fit.forecast, fit.reason,
                  cold_at=num_ckpts if cold else prev.cold_at)


def fit_approach2(obs, task, targets, num, seed, loss_boot: Bootstrap | None, loss_runs,
                  approach2: str, init=None) -> LawFit:
    """``loss_boot``: the Approach-1 bootstrap driving it, fitted to the runs ``loss_runs``."""
    if loss_boot is None:
        return LawFit(task, 2, reason="no Approach-1 law of this task to drive it")
    arrays, runs = problem_rows(obs, task, approach2)
    if not arrays:
        return LawFit(task, 2, reason="no per-problem results")
    def drive(loss_law):  # the task's loss surface at k = 1
        return loss_law.chinchilla(1.0)

    try:
        law = fit_t2_beta(**arrays, loss_law=drive(loss_boot.law), init=init)
    except (FitError, ValueError) as err:
        return LawFit(task, 2, reason=f"the fit failed ({err})")
    reps = []
    paired = set(np.unique(runs).tolist()) == set(np.unique(loss_runs).tolist())
    if len(loss_boot.replicates) == num and loss_boot.laws and paired:
        # resample b refits theta driven by the Approach-1 replicate of the same resample
        reps = bootstrap_t2_beta(
            arrays, runs, num_samples=num, seed=seed, law=law, max_failed_frac=1.0,
            strata=arrays["N"],
            replicate_loss_laws=[None if r is None else drive(r)
                                 for r in loss_boot.replicates]).replicates
    laws = [r for r in reps if r is not None]
    failed = num - len(laws)
    boot = Bootstrap(law=law, laws=laws if failed <= MAX_FAILED * num else [],
                     num_failed=failed, replicates=reps)
    return _forecast(task, 2, boot, targets, float(arrays["N"].min()))


def _forecast(task, approach, boot: Bootstrap, targets, smallest: float) -> LawFit:
    fc = forecast(boot.law, boot.laws, targets)
    if not np.all(np.isfinite(fc.point)):
        return LawFit(task, approach, boot=boot,
                      reason="the law has no compute-optimal allocation (an exponent <= 0)")
    if np.exp(fc.point[:, 0].min()) < smallest / FAR_BELOW:
        return LawFit(task, approach, boot=boot, reason=(
            f"its optimum N* = {np.exp(fc.point[:, 0].min()):.3g} lies more than {FAR_BELOW:g}x "
            f"below the smallest model trained ({smallest:.3g}): an extrapolation the data "
            "cannot support"))
    if not boot.laws:
        return LawFit(task, approach, boot=boot, forecast=fc,
                      reason=f"{boot.num_failed} resamples of the runs could not be refitted")
    return LawFit(task, approach, boot=boot, forecast=fc)


def fit_task_laws(obs: list[Observation], targets, *, primary, num_bootstrap: int, seed: int,
                  approach2: str = "counts", prev: tuple[LawFit, ...] = ()) -> tuple:
    """Every task's Approach 1 and 2 and the pooled Approach 2 (see the module docstring)."""
    before = {(f.task, f.approach): f for f in prev}

    def init(task, approach):
        f = before.get((task, approach))
        return f.boot.law if f is not None and f.boot is not None else None

    out = []
    for task in task_names(obs):
        a1 = fit_approach1(obs, task, targets, num_bootstrap, seed, before.get((task, 1)))
        out += [a1, fit_approach2(obs, task, targets, num_bootstrap, seed, a1.boot,
                                  loss_rows(obs, task)[1], approach2, init(task, 2))]
    if out and primary is not None and primary.kind == "t2":
        unit = resampling_units(obs)[0]
        runs = [unit[id(o)] for o in obs if o.loss_k]
        out.append(fit_approach2(obs, POOLED, targets, num_bootstrap, seed, primary.boot, runs,
                                 approach2, init(POOLED, 2)))
    return tuple(out)

"""Each round's fit: the forecast law, its bootstrap over runs, and the forecast at the targets.

    fit = fit_round(observations, targets, num_bootstrap=32, seed=0, prev=None)
    np.exp(fit.forecast.point[t])          # N*, D*, k* at target t
    np.exp(fit.forecast.interval(0.8))     # (T, 3, 2)

With task losses at two or more k the forecast law is T² Approach 1 (``fit_t2_loss`` on
−log pass@k, Roberts et al. 2026, arXiv 2604.01411); otherwise the Chinchilla law of the
validation loss. The bootstrap resamples training runs within each model size (a run's decay
checkpoints share its noise, so they move together; checkpoints instead when some size has a
single run: ``t2.flows.task_fits.resampling_units``) and refits every resample warm-started
from the point fit (``t2.fitting.bootstrap``); while most resamples fail to converge, the round
has a point forecast and no interval; the forecast is ``t2.fitting.forecast``: the same
code the report and ``t2 forecast`` use, so a round's numbers (MLflow, ``t2 status``, the
selector) are the report's. The round's point law and bootstrap laws are kept in its record,
and the report reads the last one instead of fitting again. Every task's laws by both
approaches come with it (``t2.flows.task_fits``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from t2.fitting.bootstrap import Bootstrap
from t2.fitting.checks import FitError
from t2.fitting.drift import fit_t2_drift
from t2.fitting.fit import fit_chinchilla, fit_t2_loss
from t2.fitting.forecast import Forecast, forecast
from t2.fitting.laws import law_from_dict, loss_params
from t2.fitting.misfit import KTrend, k_trend
from t2.flows.records import Observation, RoundRecord
from t2.flows.task_fits import (
    COLD_GROWTH,
    LawFit,
    best_fit,
    bootstrap,
    fit_task_laws,
    resampling_units,
)

# Fewest checkpoints before a fit is attempted (the T² law has 7 parameters).
MIN_CHECKPOINTS = 7


@dataclass(frozen=True)
class RoundFit:
    """One round's forecast law (``kind`` "t2" or "chinchilla"), bootstrap and forecast."""

    kind: str
    boot: Bootstrap
    forecast: Forecast
    ks: tuple[int, ...] = ()
    cold_at: int = 0            # number of checkpoints at the last cold (grid-start) fit
    laws: tuple[LawFit, ...] = ()   # every task × approach, and the pooled Approach 2
    approach2: str = "counts"       # the data Approach 2 was fitted to (eval.approach2)
    k_trend: KTrend | None = None   # the k exponent's drift with the loss (t2.fitting.misfit)
    drift: Bootstrap | None = None  # the drift law's bootstrap, where k_trend flags

    @property
    def law(self):
        return self.boot.law

    @property
    def targets(self) -> tuple[tuple[float, float], ...]:
        return self.forecast.targets

    @property
    def theta(self) -> np.ndarray:
        """(1 + B, 7) the point law and the bootstrap laws: the selector's ensemble (the one-γ
        law's even where the forecast is the drift law's)."""
        return loss_params([self.boot.law, *self.boot.laws])


def fit_arrays(obs: list[Observation], kind: str) -> tuple[dict, np.ndarray]:
    """The rows a law of ``kind`` is fitted to, and each row's bootstrap unit (its run, or its
    checkpoint when some size has a single run: ``resampling_units``).

    "t2": one row per checkpoint and k (N, D, k, L = task loss); "chinchilla": one row per
    checkpoint (N, D, L = validation loss)."""
    unit = resampling_units(obs)[0]
    if kind == "chinchilla":
        return ({"N": np.array([o.N for o in obs], float), "D": np.array([o.D for o in obs], float),
                 "L": np.array([o.val_loss for o in obs], float)},
                np.array([unit[id(o)] for o in obs], int))
    rows = [(o.N, o.D, float(k), L, unit[id(o)]) for o in obs
            for k, L in sorted(o.loss_k.items())]
    N, D, k, L, run = (np.array(c, float) for c in zip(*rows)) if rows else [np.array([])] * 5
    return {"N": N, "D": D, "k": k, "L": L}, run.astype(int)


def checkpoint_of_rows(obs: list[Observation]) -> np.ndarray:
    """The index in ``obs`` of each row of ``fit_arrays(obs, "t2")``."""
    return np.repeat(np.arange(len(obs)), [len(o.loss_k) for o in obs])


def fittable(obs: list[Observation]) -> bool:
    """Whether a round fits a law to ``obs`` at all (enough checkpoints and sizes)."""
    return len(obs) >= MIN_CHECKPOINTS and len({o.N for o in obs}) >= 3


def _law_kind(obs: list[Observation]):
    ks = tuple(sorted({k for o in obs for k in o.loss_k}))
    kind = "t2" if len(ks) >= 2 else "chinchilla"
    return ks, kind, fit_t2_loss if kind == "t2" else fit_chinchilla


def point_forecast(obs: list[Observation], targets, init=None) -> np.ndarray | None:
    """(T, 3) log N*, D*, k* of the law a round fits to ``obs`` (no bootstrap, no per-task
    laws), warm from ``init`` as a round starts from the last one's law (cold without it), or
    None where the round would have no fit: what a design forecasts, for judging it over many
    noise draws (``t2.flows.family``)."""
    if not fittable(obs):
        return None
    _, kind, fit_fn = _law_kind(obs)
    arrays = fit_arrays(obs, kind)[0]
    try:
        law = best_fit(fit_fn, arrays, init, init is None)
    except (FitError, ValueError):
        return None
    if kind == "t2" and _flagged(k_trend(law, **arrays, checkpoint=checkpoint_of_rows(obs))):
        try:
            law = fit_t2_drift(**arrays, init=law)
        except FitError:
            pass
    return forecast(law, [], targets).point


def _flagged(trend: KTrend | None) -> bool:
    return trend is not None and trend.flags()


def drift_bootstrap(arrays: dict, groups, law, num: int, seed: int,
                    prev: Bootstrap | None) -> Bootstrap | None:
    """The drift law (``t2.fitting.drift``) fitted to the rows the one-γ ``law`` was, from ``law``
    and warm from the last round's drift law; the lower objective wins. Its bootstrap resamples the
    same units with the same seed. None where it does not converge."""
    def attempt(init):
        try:
            return [fit_t2_drift(**arrays, init=init)]
        except (FitError, ValueError):
            return []

    fits = attempt(law) + (attempt(prev.law) if prev is not None else [])
    if not fits:
        return None
    drift = min(fits, key=lambda lw: lw.info["objective"])
    return bootstrap(fit_t2_drift, arrays, groups, num, seed, drift)


def fit_round(obs: list[Observation], targets, *, num_bootstrap: int = 32, seed: int = 0,
              prev: RoundFit | None = None, per_task: bool = True,
              approach2: str = "counts") -> RoundFit | None:
    """Fit the point law and its bootstrap, and (``per_task``) every task's laws by both
    approaches (``t2.flows.task_fits``); None while the data cannot support a fit."""
    if not fittable(obs):
        return None
    ks, kind, fit_fn = _law_kind(obs)
    arrays, groups = fit_arrays(obs, kind)
    cold = prev is None or prev.kind != kind or len(obs) >= COLD_GROWTH * prev.cold_at
    try:
        law = best_fit(fit_fn, arrays, prev.law if prev and prev.kind == kind else None, cold)
        # most resamples failing (too few runs): a point forecast, no interval yet
        boot = bootstrap(fit_fn, arrays, groups, num_bootstrap, seed, law)
    except (FitError, ValueError):
        return None
    trend = k_trend(law, **arrays, checkpoint=checkpoint_of_rows(obs)) if kind == "t2" else None
    # Where the one-γ law is shown wrong, the forecast is the drift law's (the selector still
    # designs with the one-γ ensemble: ``theta``).
    drift = drift_bootstrap(arrays, groups, law, num_bootstrap, seed,
                            prev.drift if prev is not None else None) if _flagged(trend) else None
    fc_boot = drift if drift is not None else boot
    fit = RoundFit(kind=kind, boot=boot, forecast=forecast(fc_boot.law, fc_boot.laws, targets),
                   ks=ks, cold_at=len(obs) if cold else prev.cold_at, k_trend=trend, drift=drift)
    if not per_task:
        return fit
    laws = fit_task_laws(obs, targets, primary=fit, num_bootstrap=num_bootstrap, seed=seed,
                         approach2=approach2, prev=prev.laws if prev else ())
    return replace(fit, laws=laws, approach2=approach2)


def round_record(fit: RoundFit | None, *, num_runs: int, num_checkpoints: int, flops: float,
                 interval: float, truth: np.ndarray | None = None) -> RoundRecord:
    """The record of a round (fitted or not); ``truth`` (T, 3) log optima of a known law."""
    if fit is None:
        return RoundRecord(num_runs=num_runs, num_checkpoints=num_checkpoints, flops=flops)
    fc = fit.forecast
    error = None if truth is None else (np.exp(fc.point[:, 0] - truth[:, 0]) - 1).tolist()
    return RoundRecord(num_runs=num_runs, num_checkpoints=num_checkpoints, flops=flops,
                       kind=fit.kind, law=fit.law.to_dict(),
                       samples=[lw.to_dict() for lw in fit.boot.laws],
                       forecast=np.exp(fc.point).tolist(),
                       interval=np.exp(fc.interval(interval)).tolist(),
                       width=fc.width(interval).tolist(), N_error=error, approach2=fit.approach2,
                       laws=[_law_record(f, interval) for f in fit.laws],
                       k_trend=None if fit.k_trend is None else fit.k_trend.to_dict(),
                       drift=None if fit.drift is None else {
                           "law": fit.drift.law.to_dict(),
                           "samples": [lw.to_dict() for lw in fit.drift.laws]})


def _law_record(f: LawFit, q: float) -> dict:
    rec = {"task": f.task, "approach": f.approach, "reason": f.reason}
    if f.boot is not None:
        rec.update(law=f.boot.law.to_dict(), samples=[lw.to_dict() for lw in f.boot.laws])
    if f.forecast is not None:
        rec.update(forecast=np.exp(f.forecast.point).tolist(),
                   interval=np.exp(f.forecast.interval(q)).tolist())
    return rec


def boot_of(rec: RoundRecord) -> Bootstrap:
    """The point law and bootstrap laws a round record keeps."""
    return Bootstrap(law=law_from_dict(rec.law), laws=[law_from_dict(s) for s in rec.samples])


def drift_of(rec: RoundRecord) -> Bootstrap | None:
    """The drift law and its bootstrap a round record keeps (None: the round had none)."""
    if not rec.drift:
        return None
    return Bootstrap(law=law_from_dict(rec.drift["law"]),
                     laws=[law_from_dict(s) for s in rec.drift["samples"]])


def law_fits_of(rec: RoundRecord, targets) -> list[LawFit]:
    """The per-task × approach fits a round record keeps, their forecasts recomputed by the one
    forecast from the kept laws (so they equal the round's)."""
    out = []
    for r in rec.laws:
        if "law" not in r:
            out.append(LawFit(r["task"], r["approach"], reason=r["reason"]))
            continue
        boot = Bootstrap(law=law_from_dict(r["law"]),
                         laws=[law_from_dict(s) for s in r["samples"]])
        fc = forecast(boot.law, boot.laws, targets) if "forecast" in r else None
        out.append(LawFit(r["task"], r["approach"], boot=boot, forecast=fc, reason=r["reason"]))
    return out

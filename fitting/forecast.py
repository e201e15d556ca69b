"""Forecasts of the compute-optimal (N*, D*, k*) at target budgets, with bootstrap intervals.

    bs = bootstrap_fit(fit_t2_loss, arrays, groups=run, num_samples=32, seed=0)
    fc = forecast(bs.law, bs.laws, [(2.56e19, 2e9)])
    np.exp(fc.point[0])            # N*, D*, k* of the full-data law at the first target
    np.exp(fc.interval(0.8)[0])    # (3, 2): their central 80% intervals over the bootstrap laws

The one forecast of t2: each round of a study (its MLflow metrics, ``t2 status`` and the selector),
the report and ``t2 forecast`` all go through ``forecast``, so the same laws give the same point and
interval everywhere. Loss laws (Chinchilla, T² Approach 1) are allocated together by the vectorized
``t2.fitting.optimal.allocate``; a Beta law (T² Approach 2) and a law whose k exponent drifts with
the loss (``t2.fitting.drift``) by ``optimal_allocation``. D* = C_train/6N* and k* = C_inf/2N*
(Roberts et al. 2026, arXiv 2604.01411): k* is what the inference budget buys at N*, whether or not
the law has a k term.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from t2.fitting.laws import T2BetaLaw, T2DriftLaw, loss_params
from t2.fitting.optimal import allocate, optimal_allocation

QUANTITIES = ("N", "D", "k")


def central_interval(values, q: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The central ``q`` percentile interval of ``values`` along ``axis``, NaNs skipped (laws
    without an optimum): the interval of every bootstrap quantity in t2."""
    values = np.asarray(values, float)
    if values.shape[axis] == 0:  # no bootstrap law: no interval
        nan = np.full(np.delete(values.shape, axis), np.nan)
        return (nan, nan.copy()) if nan.ndim else (np.float64(np.nan), np.float64(np.nan))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: laws without optimum
        lo, hi = np.nanpercentile(values, [50 * (1 - q), 50 * (1 + q)], axis=axis)
    return lo, hi


def allocation_intervals(allocs, fields, q: float) -> dict[str, tuple[float, float]]:
    """{field: (lo, hi)} over per-law allocations (``t2.fitting.optimal.Allocation``).

    Positive quantities are interpolated in log space, as ``Forecast.interval`` does, so N*,
    D*, k* get the same interval from either."""
    out = {}
    for name in fields:
        vals = [getattr(a, name) for a in allocs]
        if not vals or any(v is None for v in vals):
            continue
        vals = np.asarray(vals, float)
        if np.all(vals[np.isfinite(vals)] > 0):
            lo, hi = np.exp(central_interval(np.log(vals), q))
        else:
            lo, hi = central_interval(vals, q)
        out[name] = (float(lo), float(hi))
    return out


@dataclass(frozen=True)
class Forecast:
    """Natural-log optima of a point law and of its bootstrap laws at each target."""

    targets: tuple[tuple[float, float], ...]
    point: np.ndarray      # (T, 3) log N*, log D*, log k* of the full-data law
    samples: np.ndarray    # (B, T, 3) the same for every bootstrap law (NaN: no optimum)

    def interval(self, q: float) -> np.ndarray:
        """(T, 3, 2): the central ``q`` percentile interval of each quantity over the samples."""
        if not len(self.samples):
            return np.full((*self.point.shape, 2), np.nan)
        return np.stack(central_interval(self.samples, q), axis=-1)

    def width(self, q: float) -> np.ndarray:
        """(T,) relative width hi/lo − 1 of each target's N* interval."""
        iv = self.interval(q)[:, 0, :]
        return np.exp(iv[:, 1] - iv[:, 0]) - 1.0

    def tokens_per_param(self, q: float) -> tuple[np.ndarray, np.ndarray]:
        """(T,) D*/N* of the point law and (T, 2) its interval over the samples."""
        point = np.exp(self.point[:, 1] - self.point[:, 0])
        if not len(self.samples):
            return point, np.full((len(point), 2), np.nan)
        lo, hi = central_interval(self.samples[..., 1] - self.samples[..., 0], q)
        return point, np.exp(np.stack([lo, hi], -1))


def optima(laws, targets) -> np.ndarray:
    """(len(laws), T, 3) natural-log N*, D*, k* of each law at each (C_train, C_inf) target."""
    laws = list(laws)
    ct = np.array([c for c, _ in targets], float)
    ci = np.array([c for _, c in targets], float)
    if not laws:
        return np.empty((0, len(ct), 3))
    if not any(isinstance(law, (T2BetaLaw, T2DriftLaw)) for law in laws):
        return allocate(loss_params(laws)[:, None, :], ct[None, :], ci[None, :])
    return np.stack([_numeric(law, ct, ci) for law in laws])


def _numeric(law, ct, ci) -> np.ndarray:
    try:
        a = optimal_allocation(law, ct, ci)
    except ValueError:  # no optimum for this law
        return np.full((len(ct), 3), np.nan)
    return np.log(np.stack([np.atleast_1d(a.N), np.atleast_1d(a.D), np.atleast_1d(a.k)], -1))


def forecast(law, laws, targets) -> Forecast:
    """The optima of ``law`` and of its bootstrap ``laws`` at ``targets`` [(C_train, C_inf)]."""
    targets = tuple((float(c), float(i)) for c, i in targets)
    return Forecast(targets=targets, point=optima([law], targets)[0],
                    samples=optima(laws, targets))

"""A T² law whose k exponent follows the loss, fitted where the one-γ law is shown wrong.

    law = fit_t2_drift(N, D, k, L, init=t2_law)     # init: the T² Approach 1 fit to the rows
    law.kappa, law.k_exponent(N, D)                 # γ(N, D) = γ·exp(κ·(L_ref − S(N, D)))

T² Approach 1 (Roberts et al. 2026, arXiv 2604.01411) gives every model one k exponent. How fast
pass@k grows with k is set by the tail of the per-problem success distribution, and that tail
moves as models get better (Brown et al. 2024, arXiv 2407.21787; Schaeffer et al. 2025, arXiv
2502.17578); ``t2.fitting.misfit.k_trend`` tests it from each checkpoint's own k curve. Where it
flags, one γ is that of the losses the runs reached, and the forecast optimum, at other losses,
takes the wrong one. This law lets log γ move linearly with the model's loss
``S = E + A/N^α + B/D^β``, the first-order term the test measures:

    L(N, D, k) = S + G / k^(γ·exp(κ·(L_ref − S)))

``L_ref`` is fixed at the median of the rows' S under the one-γ fit (so γ is the exponent
inside the data and κ alone says how it moves), not fitted; κ = 0 is the one-γ law. The fit
minimizes the same summed Huber loss of log residuals as ``t2.fitting.fit`` (δ = 1e-3), by a
trust-region least squares with the exact Jacobian (scipy's ``least_squares``, ``loss="huber"``:
the same minimizer), from the one-γ law at several κ, in centred log features. What it cannot
do: tell a drift of another shape (γ moving with N or D apart from the loss) from this one.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from t2.fitting.checks import FitError, check_arrays
from t2.fitting.laws import T2DriftLaw, T2LossLaw

KAPPA_STARTS = (0.0, -1.0, 1.0, 2.0)   # per nat of loss; starts, not bounds
MAX_NFEV = 400
E_FLOOR = 0.05   # an init with E below this share of the smallest loss also starts at E = L/2


def _unpack(x, X1, X2):
    e, a, b, g, alpha, beta, gamma, kappa = x
    tA, tB = np.exp(a - alpha * X1), np.exp(b - beta * X2)
    return np.exp(e), tA, tB, g, gamma, kappa


def _model(x, X1, X2, lk, L_ref):
    """The prediction and d prediction / d x (n, 8) at centred log features."""
    E, tA, tB, g, gamma, kappa = _unpack(x, X1, X2)
    S = E + tA + tB
    v = np.exp(np.clip(kappa * (L_ref - S), -700.0, 700.0))
    u = gamma * v
    K = np.exp(np.clip(g - u * lk, -700.0, 700.0))
    c = 1.0 + kappa * u * lk * K           # d pred / d S: S moves the exponent too
    J = np.column_stack([c * E, c * tA, c * tB, K, -c * tA * X1, -c * tB * X2,
                         -K * lk * v, -K * lk * u * (L_ref - S)])
    return S + K, J


def _solve(x0, X1, X2, lk, y, L_ref, delta):
    def fun(x):
        pred, _ = _model(x, X1, X2, lk, L_ref)
        return np.log(pred) - y

    def jac(x):
        pred, J = _model(x, X1, X2, lk, L_ref)
        return J / pred[:, None]

    with np.errstate(all="ignore"):
        try:
            res = least_squares(fun, x0, jac=jac, loss="huber", f_scale=delta, method="trf",
                                x_scale="jac", max_nfev=MAX_NFEV, xtol=1e-12, ftol=1e-12,
                                gtol=1e-10)
        except ValueError:  # a step to parameters where the law overflows: this start failed
            return None, np.inf
    r = res.fun
    hub = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    return res, float(hub.sum())


def fit_t2_drift(N, D, k, L, *, init, delta: float = 1e-3) -> T2DriftLaw:
    """Fit ``T2DriftLaw`` to rows (N, D, k, L = −log pass@k), starting from ``init``: the
    one-γ T² law of the same rows (its γ at ``L_ref`` = the rows' median loss, κ from
    ``KAPPA_STARTS``), or a drift law (a warm refit, as the bootstrap does: one start, its
    ``L_ref`` kept). Raises ``FitError`` when no start converges to finite parameters."""
    N, D, k, L = check_arrays(num_params=8, N=N, D=D, k=k, L=L)
    if np.unique(k).size < 3:
        raise FitError("the k exponent's drift needs rows at three or more k")
    if isinstance(init, T2DriftLaw):
        L_ref, kappas = init.L_ref, (init.kappa,)
    elif isinstance(init, T2LossLaw) and init.G > 0:
        L_ref, kappas = float(np.median(init.surface(N, D))), KAPPA_STARTS
    else:
        raise FitError("fit_t2_drift: init must be a T² law with a k effect (G > 0)")
    lN, lD = np.log(N), np.log(D)
    m1, m2 = lN.mean(), lD.mean()
    X1, X2, lk, y = lN - m1, lD - m2, np.log(k), np.log(L)
    E0 = max(init.E, 1e-300)  # a one-γ fit may put its floor at 0 (E_FLOOR)
    base = np.array([np.log(E0), np.log(init.A) - init.alpha * m1,
                     np.log(init.B) - init.beta * m2, np.log(init.G), init.alpha, init.beta,
                     init.gamma, 0.0])
    starts = [(base[0], kappa) for kappa in kappas]
    if not isinstance(init, T2DriftLaw) and init.E < E_FLOOR * L.min():
        # a one-γ fit that put the floor at ~0 (a flat valley: its k term or surface took the
        # loss) gives the drift fit no slope on e; start it also from a floor inside the data
        starts += [(np.log(0.5 * L.min()), kappa) for kappa in kappas]
    best = None
    for e0, kappa in starts:
        x0 = base.copy()
        x0[0], x0[7] = e0, kappa
        res, objective = _solve(x0, X1, X2, lk, y, L_ref, delta)
        ok = res is not None and res.status > 0 and np.isfinite(res.x).all()
        if ok and np.isfinite(objective) and (best is None or objective < best[1]):
            best = (res, objective)
    if best is None:
        raise FitError("the drift law did not converge from any start")
    res, objective = best
    e, a, b, g, alpha, beta, gamma, kappa = (float(v) for v in res.x)
    with np.errstate(over="ignore"):
        E, A, B, G = (float(v) for v in np.exp([e, a + alpha * m1, b + beta * m2, g]))
    info = {"objective": objective, "num_starts": len(starts), "nfev": int(res.nfev),
            "delta": delta}
    law = T2DriftLaw(E, A, B, alpha, beta, G, gamma, kappa, float(L_ref), info=info)
    if not np.isfinite(list(law.params.values())).all():
        raise FitError(f"the drift law diverged: {law.params}")
    return law


def fit_drift_rows(N, D, k, L, *, init=None, delta: float = 1e-3) -> T2DriftLaw:
    """``fit_t2_drift`` from the rows alone: the one-γ T² law first (its Approach 1 fit), the
    drift law from it; with ``init`` (a drift law) a warm refit, as ``bootstrap_fit`` calls
    it. A module-level function, so bootstrap refits can run in processes."""
    if init is None:
        from t2.fitting.fit import fit_t2_loss

        init = fit_t2_loss(N, D, k, L, delta=delta)
    return fit_t2_drift(N, D, k, L, init=init, delta=delta)

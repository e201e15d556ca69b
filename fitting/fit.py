"""Chinchilla Approach 3 and T² Approach 1 fits: summed Huber loss in log space, multi-start L-BFGS.

    law = fit_chinchilla(N, D, L)            # 4,500-start grid, ~2-3 s on 240 points
    law = fit_t2_loss(N, D, k, L)            # adds G/k^gamma
    law = fit_chinchilla(N, D, L, init=law)  # warm refit (bootstrap): a few starts, milliseconds

Both minimize ``sum_i Huber_delta(LSE(e, a - alpha log N_i, b - beta log D_i[, g - gamma log k_i])
- log L_i)`` (Hoffmann et al. 2022, arXiv 2203.15556; summed, not averaged, so L-BFGS does not
stop early: Besiroglu et al. 2024, arXiv 2404.10102). All grid starts
run together through ``lbfgs.minimize_batch`` (8 iterations each, then the best 128 go on to
convergence); the best distinct minima are polished to tight tolerances. ``law.info`` reports the
summed Huber objective, how many starts agree on it (``num_agree``), their largest parameter
spread (in centred log space), and the final gradient; a fit whose gradient is not ~0 raises
``FitError``. Full precision is kept.
"""

from __future__ import annotations

import itertools

import numpy as np
from t2.fitting.checks import FitError, check_arrays
from t2.fitting.laws import ChinchillaLaw, T2LossLaw
from t2.fitting.lbfgs import minimize_batch

# Besiroglu et al. 2024 / Hoffmann et al. 2022 grid: 6*6*5*5*5 = 4,500 starts.
CHINCHILLA_GRID = {
    "e": np.arange(-1.0, 1.01, 0.5),
    "a": np.arange(0.0, 25.1, 5.0),
    "b": np.arange(0.0, 25.1, 5.0),
    "alpha": np.arange(0.0, 2.01, 0.5),
    "beta": np.arange(0.0, 2.01, 0.5),
}
# T² grid (3^7 = 2,187 starts): coarser per axis because it has two more dimensions.
T2_GRID = {
    "e": np.array([-2.0, -0.5, 1.0]),
    "a": np.array([0.0, 10.0, 20.0]),
    "b": np.array([0.0, 10.0, 20.0]),
    "g": np.array([-3.0, -1.0, 1.0]),
    "alpha": np.array([0.2, 0.6, 1.2]),
    "beta": np.array([0.2, 0.6, 1.2]),
    "gamma": np.array([0.2, 0.6, 1.2]),
}
SCREEN_ITER = 8          # iterations every grid start gets before screening
NUM_SCREENED = 128       # starts that continue to convergence after screening
PRUNE_RTOL = 0.02        # starts 2% above the running best objective stop early
NUM_POLISH = 3           # distinct best batch minima polished to tight tolerances
NUM_JITTER = 2           # extra starts around ``init`` for warm refits
AGREE_RTOL = 1e-6        # polished starts within this relative objective of the best "agree"


def huber_lse(theta, X, y, delta, W=None):
    """Summed Huber objective / delta and its gradient for a batch of parameter rows.

    ``theta``: (S, 2T+1) rows ``[e, c_1..c_T, p_1..p_T]`` (log coefficients, then exponents);
    ``X``: (n, T) log features; ``y``: (n,) log losses; ``W``: optional (S, n) row weights (a
    bootstrap resample's counts: a weight of 2 is the row twice). Dividing by delta keeps slopes
    O(1) without moving the minimum. Works on 2-D (S, n) arrays per term: a 3-D einsum is 2x
    slower.
    """
    T = X.shape[1]
    e = theta[:, :1]
    zs = [theta[:, 1 + j, None] - theta[:, T + 1 + j, None] * X[:, j] for j in range(T)]
    zmax = e
    for z in zs:
        zmax = np.maximum(zmax, z)
    ws = [np.exp(z - zmax) for z in zs]
    w_e = np.exp(e - zmax)
    total = w_e + sum(ws)
    r = zmax + np.log(total) - y
    absr = np.abs(r)
    # Linear branch everywhere, then correct the (few) residuals inside the quadratic zone.
    hub = absr - 0.5 * delta
    inner = absr <= delta
    if inner.any():
        hub = np.where(inner, hub + 0.5 * delta * (absr / delta - 1.0) ** 2, hub)
    psi = np.clip(r / delta, -1.0, 1.0) / total                  # dHuber/dr / sum(exp)
    if W is not None:
        hub, psi = hub * W, psi * W
    f = hub.sum(axis=1)
    grad = np.empty_like(theta)
    grad[:, 0] = np.einsum("sn,sn->s", psi, w_e)
    for j, w in enumerate(ws):
        pw = psi * w
        grad[:, 1 + j] = pw.sum(axis=1)
        grad[:, T + 1 + j] = -np.einsum("sn,n->s", pw, X[:, j])  # no BLAS: threads stall here
    return f, grad


def grid_starts(grid: dict, names: list[str]) -> np.ndarray:
    """Cartesian product of ``grid`` values as rows ordered like ``names``."""
    missing = [n for n in names if n not in grid]
    if missing:
        raise ValueError(f"grid: missing values for {', '.join(missing)}")
    axes = [np.atleast_1d(np.asarray(grid[n], float)) for n in names]
    return np.array(list(itertools.product(*axes)), dtype=float)


def _centred(X):
    """Centred features and the map ``theta @ shift`` (p*mean(x) into the c slots) back."""
    T = X.shape[1]
    shift = np.zeros((2 * T + 1, 2 * T + 1))
    shift[T + 1:, 1:T + 1] = np.diag(X.mean(axis=0))
    return X - X.mean(axis=0), shift


def _fit_lse(X, y, starts, delta, *, max_iter: int):
    """Batch-minimize from ``starts``, polish the best distinct ones; returns (theta, info)."""
    # Centre the log features: with c' = c - p*mean(x) the coefficient and its exponent are no
    # longer nearly collinear (log N ~ 20), which cuts L-BFGS iterations several-fold.
    X, shift = _centred(X)
    starts = starts - starts @ shift
    fun = lambda th: huber_lse(th, X, y, delta)
    num_starts = len(starts)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if len(starts) > NUM_SCREENED:
            # Screening: a few iterations for every start, then only the most promising go on.
            # Hundreds of starts still reach the best basin, which `num_agree` reports.
            res = minimize_batch(fun, starts, max_iter=SCREEN_ITER)
            f0 = np.where(np.isfinite(res.f), res.f, np.inf)
            starts = res.x[np.argsort(f0, kind="stable")[:NUM_SCREENED]]
        res = minimize_batch(fun, starts, max_iter=max_iter, ftol=1e-11, prune_rtol=PRUNE_RTOL)
    finite = np.flatnonzero(np.isfinite(res.f) & np.isfinite(res.x).all(axis=1))
    if finite.size == 0:
        raise FitError("no start reached a finite objective; check the data and the grid")
    order = finite[np.argsort(res.f[finite])]
    picks, seen = [], []
    for i in order:  # polish the best few *distinct* batch minima
        if all(np.abs(res.x[i] - s).max() > 1e-4 for s in seen):
            picks.append(i)
            seen.append(res.x[i])
        if len(picks) == NUM_POLISH:
            break
    # Polish the candidates to tight tolerances (own batched L-BFGS: scipy's L-BFGS-B spends
    # milliseconds per iteration in multi-threaded BLAS on small vectors when the CPU is busy).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        pol = minimize_batch(fun, res.x[picks], max_iter=max_iter, ftol=1e-15, gtol=1e-10,
                             memory=20)
    best = int(np.argmin(np.where(np.isfinite(pol.f), pol.f, np.inf)))
    f_best, theta = float(pol.f[best]), pol.x[best]
    if not np.isfinite(f_best):
        raise FitError("polishing failed at every candidate minimum")
    f_batch = res.f[order]
    agreeing = order[f_batch <= f_best + AGREE_RTOL * max(1.0, abs(f_best))]
    agree = int(agreeing.size)
    # Starts that agree on the objective should also agree on the parameters; a large spread
    # means a flat valley (e.g. every point on one tokens/param ray: alpha, beta unidentifiable).
    spread = float(np.abs(res.x[agreeing] - theta).max()) if agree else None
    gnorm = float(np.abs(fun(theta[None, :])[1]).max())
    # Huber kinks make the gradient inexact at the last digit; judge it relative to the data size.
    if res.converged[picks[0]] == 0 and agree == 0 or gnorm > 1e-4 * len(y):
        raise FitError(f"L-BFGS did not converge (max |grad| = {gnorm:.3g}, "
                       f"{res.converged.sum()} of {len(starts)} final starts converged)")
    theta = theta + theta @ shift
    info = {"objective": f_best * delta, "num_starts": num_starts,
            "num_continued": len(starts),
            "num_converged": int(res.converged.sum()), "num_agree": max(agree, 1),
            "max_param_spread": spread,
            "max_abs_grad": gnorm, "num_iter_max": int(res.num_iter.max()), "delta": delta}
    return theta, info


def _warm_starts(theta0: np.ndarray, num_jitter: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    jitter = theta0 + rng.normal(scale=0.01, size=(num_jitter, theta0.size)) * np.maximum(
        np.abs(theta0), 0.1)
    return np.vstack([theta0, jitter])


def _refit_lse(X, y, W, theta0, delta, *, max_iter: int) -> list[tuple | None]:
    """Warm refits of many weightings of the rows at once: (theta, info) per row of ``W``.

    Each weighting (a bootstrap replicate: ``W[b]`` counts how often each row was drawn) gets
    the starts of a single warm refit (``theta0`` and ``NUM_JITTER`` jitters), all minimized in
    one batch; its best start is polished and checked as ``_fit_lse`` checks a fit. So the
    result equals refitting each resample on its own, in a fraction of the time. None where a
    replicate did not converge.
    """
    X, shift = _centred(X)
    starts = _warm_starts(theta0, NUM_JITTER)
    starts = starts - starts @ shift
    S0, B = len(starts), len(W)
    rep = np.repeat(np.arange(B), S0)                      # replicate of each batch row
    fun = lambda th, rows: huber_lse(th, X, y, delta, W[rep[rows]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        res = minimize_batch(fun, np.tile(starts, (B, 1)), max_iter=max_iter, ftol=1e-11,
                             indexed=True)
        f = np.where(np.isfinite(res.f), res.f, np.inf).reshape(B, S0)
        best = np.arange(B) * S0 + np.argmin(f, axis=1)
        pol = minimize_batch(lambda th, rows: huber_lse(th, X, y, delta, W[rows]),
                             res.x[best], max_iter=max_iter, ftol=1e-15, gtol=1e-10,
                             memory=20, indexed=True)
        grads = huber_lse(pol.x, X, y, delta, W)[1]
    out = []
    for b in range(B):
        gnorm = float(np.abs(grads[b]).max())
        if not np.isfinite(pol.f[b]) or gnorm > 1e-4 * W[b].sum():
            out.append(None)
            continue
        info = {"objective": float(pol.f[b]) * delta, "num_starts": S0, "max_abs_grad": gnorm,
                "delta": delta}
        out.append((pol.x[b] + pol.x[b] @ shift, info))
    return out


def _check_outcome(law, y) -> None:
    p = np.array(list(law.params.values()))
    if not np.isfinite(p).all():
        bad = ", ".join(f"{k} = {v}" for k, v in law.params.items() if not np.isfinite(v))
        raise FitError(f"fit diverged: {bad}")


def _chinchilla_law(theta, info) -> ChinchillaLaw:
    e, a, b, alpha, beta = (float(v) for v in theta)
    law = ChinchillaLaw(*(float(v) for v in np.exp([e, a, b])), alpha, beta, info=info)
    _check_outcome(law, None)
    return law


def _t2_law(theta, info, k, L) -> T2LossLaw:
    e, a, b, g, alpha, beta, gamma = (float(v) for v in theta)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged start: _check_outcome says so
        E, A, B, G = (float(v) for v in np.exp([e, a, b, g]))
        k_term = G * k ** -gamma
        flat = np.ptp(k_term) < 1e-9 * L.min()
    if flat:
        # No k effect in the data: G/k^gamma is constant (G -> 0 or gamma -> 0). Fold it into E
        # so the law is canonical (G = 0) instead of an arbitrary point on a flat valley.
        E, G, gamma = E + float(k_term.mean()), 0.0, 0.0
        info["k_effect"] = False
    law = T2LossLaw(E, A, B, alpha, beta, G, gamma, info=info)
    _check_outcome(law, L)
    return law


def _chinchilla_theta(law) -> np.ndarray:
    return np.array(np.log([law.E, law.A, law.B]).tolist() + [law.alpha, law.beta])


def _t2_theta(law) -> np.ndarray:
    return np.array(np.log([law.E, law.A, law.B, max(law.G, 1e-300)]).tolist()
                    + [law.alpha, law.beta, law.gamma])


def _chinchilla_X(N, D):
    return np.column_stack([np.log(N), np.log(D)])


def _t2_X(N, D, k):
    return np.column_stack([np.log(N), np.log(D), np.log(k)])


def fit_chinchilla(N, D, L, *, grid: dict | None = None, delta: float = 1e-3, init=None,
                   max_iter: int = 1000) -> ChinchillaLaw:
    """Fit ``L = E + A/N^alpha + B/D^beta`` (Chinchilla Approach 3, Huber delta summed).

    ``grid`` maps ``e, a, b, alpha, beta`` (e = log E, a = log A, b = log B) to start values;
    default ``CHINCHILLA_GRID`` (4,500 starts). ``init=<law>`` starts only from that law plus a few
    jitters (warm refits in bootstraps). Raises ``ValueError`` on bad input, ``FitError`` on
    failure.
    """
    N, D, L = check_arrays(num_params=5, N=N, D=D, L=L)
    if delta <= 0:
        raise ValueError(f"delta: must be > 0, got {delta!r}")
    if init is not None:
        starts = _warm_starts(_chinchilla_theta(init), NUM_JITTER)
    else:
        starts = grid_starts(CHINCHILLA_GRID if grid is None else grid,
                             ["e", "a", "b", "alpha", "beta"])
    theta, info = _fit_lse(_chinchilla_X(N, D), np.log(L), starts, delta, max_iter=max_iter)
    return _chinchilla_law(theta, info)


def fit_t2_loss(N, D, k, L, *, grid: dict | None = None, delta: float = 1e-3, init=None,
                max_iter: int = 1000) -> T2LossLaw:
    """Fit ``L = E + A/N^alpha + B/D^beta + G/k^gamma`` (T² Approach 1, on ``-log pass@k``).

    Needs at least two distinct k (with one k, G/k^gamma is a constant confounded with E, so the
    fit raises ``FitError``). When the data carry no k effect, G converges towards 0 (g = log G
    drifts down) or gamma -> 0; either way the constant is folded into E and the law returns
    with ``G = 0, gamma = 0`` (``info["k_effect"] = False``), i.e. the Chinchilla surface.
    ``grid`` keys: ``e a b g alpha beta gamma``.
    """
    N, D, k, L = check_arrays(num_params=7, N=N, D=D, k=k, L=L)
    if delta <= 0:
        raise ValueError(f"delta: must be > 0, got {delta!r}")
    if np.unique(k).size < 2:
        raise FitError(f"all rows have k = {k[0]:g}: G and gamma are unidentifiable with a single "
                       f"k; fit a Chinchilla law instead (fit_chinchilla)")
    if init is not None:
        starts = _warm_starts(_t2_theta(init), NUM_JITTER)
    else:
        starts = grid_starts(T2_GRID if grid is None else grid,
                             ["e", "a", "b", "g", "alpha", "beta", "gamma"])
    theta, info = _fit_lse(_t2_X(N, D, k), np.log(L), starts, delta, max_iter=max_iter)
    return _t2_law(theta, info, k, L)


# A resample needs this many distinct sizes to pin down E, A and alpha; with fewer, a warm refit
# stays near its start along the free directions and the bootstrap would look too sure.
MIN_SIZES = 3


def _identified(N, W: np.ndarray) -> np.ndarray:
    """(B,) whether each weighting keeps at least ``MIN_SIZES`` distinct N."""
    N = np.asarray(N, float)
    return np.array([np.unique(N[w > 0]).size >= MIN_SIZES for w in W], bool)


def refit_chinchilla(law: ChinchillaLaw, arrays: dict, W: np.ndarray, *, delta: float = 1e-3,
                     max_iter: int = 1000) -> list[ChinchillaLaw | None]:
    """``fit_chinchilla(init=law)`` on each weighting ``W[b]`` of the rows, batched; None for a
    weighting with fewer than ``MIN_SIZES`` sizes (the law is not identified there)."""
    X = _chinchilla_X(arrays["N"], arrays["D"])
    ok = _identified(arrays["N"], W)
    fits = _refit_lse(X, np.log(arrays["L"]), W[ok], _chinchilla_theta(law), delta,
                      max_iter=max_iter) if ok.any() else []
    it = iter(fits)
    return [_none_or(next(it), _chinchilla_law) if good else None for good in ok]


def _none_or(fit, build, *args):
    """The law of one batched refit; None where it did not converge or its parameters are
    not finite (a failed replicate, as ``bootstrap_fit`` counts it, not a failed bootstrap)."""
    if fit is None:
        return None
    try:
        return build(*fit, *args)
    except FitError:
        return None


def refit_t2_loss(law: T2LossLaw, arrays: dict, W: np.ndarray, *, delta: float = 1e-3,
                  max_iter: int = 1000) -> list[T2LossLaw | None]:
    """``fit_t2_loss(init=law)`` on each weighting ``W[b]`` of the rows, batched; None for a
    weighting with fewer than ``MIN_SIZES`` sizes or a single k."""
    k, L = np.asarray(arrays["k"], float), np.asarray(arrays["L"], float)
    X = _t2_X(arrays["N"], arrays["D"], k)
    ok = _identified(arrays["N"], W) & np.array([np.unique(k[w > 0]).size >= 2 for w in W])
    fits = iter(_refit_lse(X, np.log(L), W[ok], _t2_theta(law), delta, max_iter=max_iter)
                if ok.any() else [])
    out = []
    for good, w in zip(ok, W):
        fit = next(fits) if good else None
        out.append(_none_or(fit, _t2_law, k[w > 0], L[w > 0]))
    return out


# bootstrap_fit refits these laws through their batched path (t2.fitting.bootstrap).
fit_chinchilla.refit_weighted = refit_chinchilla
fit_t2_loss.refit_weighted = refit_t2_loss

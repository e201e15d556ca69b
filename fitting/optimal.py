"""Compute-optimal (N*, D*, k*) under separate or pooled train/inference budgets.

    a = optimal_allocation(law, c_train=2.56e19, c_inf=2e9)    # D = C_train/6N, k = C_inf/2N
    a.N, a.D, a.k, a.k_int, a.tokens_per_param, a.loss, a.chinchilla.N
    p = optimal_pooled(law, c_total=1e22, T=512, Q=1e9)        # 6ND + 2NkTQ = C_total

Separate budgets (Roberts et al. 2026, arXiv 2604.01411): with D and k fixed by N the loss is a
sum of exponentials in log N, so the first-order condition ``-alpha A N^-alpha + beta B (6N/Ct)^beta
+ gamma G (2N/Ci)^gamma = 0`` is monotone and solved by vectorized bisection (arrays of budgets
work). k >= 1 is enforced (N <= C_inf/2). A Chinchilla law uses its closed form. A Beta law
(accuracy) and a law whose k exponent drifts with the loss are optimized numerically over log N
(pooled: over log N and the bill's training share). Every allocation carries ``chinchilla``: the
Chinchilla-sized model at the same budget, its k set by the inference budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize_scalar
from t2.fitting.laws import ChinchillaLaw, T2BetaLaw, T2DriftLaw, T2LossLaw, loss_params


@dataclass(frozen=True)
class Allocation:
    """One compute-optimal choice; fields are floats or arrays (one per budget)."""

    N: object
    D: object
    k: object
    tokens_per_param: object
    loss: object              # predicted L (loss laws) or -log pass@k (Beta law)
    c_train: object
    c_inf: object
    k_int: object = None      # best integer k >= 1 (N = C_inf / 2k_int, D = C_train / 6N)
    loss_int: object = None   # predicted loss at k_int
    pass_at_k: object = None  # exp(-loss) for T² laws; None for a Chinchilla law
    T: float | None = None    # pooled form: tokens per sample
    Q: float | None = None    # pooled form: lifetime queries
    train_fraction: object = None  # share of the whole bill spent on training
    chinchilla: Allocation | None = None

    def to_dict(self) -> dict:
        out = {}
        for key, val in self.__dict__.items():
            if isinstance(val, Allocation):
                out[key] = val.to_dict()
            elif val is not None:
                out[key] = np.asarray(val, float).tolist()
        return out


def _loss(law, N, D, k):
    if isinstance(law, (T2LossLaw, T2DriftLaw)):
        return law.predict(N, D, k)
    if isinstance(law, T2BetaLaw):
        return -np.log(np.maximum(law.predict(N, D, k), 1e-300))
    return law.predict(N, D)


def _as_t2(law) -> T2LossLaw:
    if isinstance(law, ChinchillaLaw):
        return T2LossLaw(law.E, law.A, law.B, law.alpha, law.beta, 0.0, 1.0)
    return law


def _check_budget(name, value):
    arr = np.asarray(value, float)
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ValueError(f"{name}: budgets must be finite and > 0")
    return arr


def solve_log_n(theta: np.ndarray, c_train, c_inf, iters: int = 200) -> np.ndarray:
    """log N* for loss-law parameters ``theta`` (..., 7 in ``LOSS_PARAMS`` order) at budgets
    ``c_train``, ``c_inf`` (broadcast against ``theta[..., 0]``): bisection on the monotone
    first-order condition in u = log N over [0, log(C_inf/2)] (k >= 1). NaN where a law has
    no optimum (alpha or beta <= 0, or G > 0 with gamma <= 0)."""
    _, A, B, a, b, G, g = np.moveaxis(np.asarray(theta, float), -1, 0)
    ct, ci = np.asarray(c_train, float), np.asarray(c_inf, float)
    with np.errstate(all="ignore"):
        log_b6 = np.log(6.0 / ct)
        log_g2 = np.log(2.0 / ci)

        def foc(u):
            return (-a * A * np.exp(-a * u) + b * B * np.exp(b * (u + log_b6))
                    + g * G * np.exp(g * (u + log_g2)))

        hi = np.broadcast_to(np.log(ci / 2.0), np.broadcast_shapes(a.shape, ci.shape, ct.shape))
        lo, hi = np.zeros_like(hi), hi.copy()
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            up = foc(mid) > 0
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
        bad = (a <= 0) | (b <= 0) | ((G > 0) & (g <= 0)) | ~np.isfinite(A * B)
    return np.where(bad, np.nan, 0.5 * (lo + hi))


def allocate(theta: np.ndarray, c_train, c_inf) -> np.ndarray:
    """(..., 3) natural-log N*, D* = C_train/6N*, k* = C_inf/2N* of loss laws ``theta`` (..., 7)
    at budgets broadcast against them; the one allocator of rounds, selector, report and CLI."""
    u = solve_log_n(theta, c_train, c_inf)
    return np.stack([u, np.log(np.asarray(c_train, float) / 6.0) - u,
                     np.log(np.asarray(c_inf, float) / 2.0) - u], axis=-1)


def _solve_law(law: T2LossLaw, c_train, c_inf):
    if law.alpha <= 0 or law.beta <= 0 or (law.G > 0 and law.gamma <= 0):
        raise ValueError(f"optimal allocation needs positive exponents, got {law.params}")
    return np.exp(solve_log_n(loss_params([law])[0], c_train, c_inf))


def _integer_k(law, N, c_train, c_inf):
    k = np.asarray(c_inf / (2.0 * N))
    cands = np.stack([np.maximum(np.floor(k), 1.0), np.maximum(np.ceil(k), 1.0)])
    n_c = c_inf / (2.0 * cands)
    losses = _loss(law, n_c, c_train / (6.0 * n_c), cands)
    pick = np.argmin(losses, axis=0)
    return np.take_along_axis(cands, pick[None], 0)[0], np.take_along_axis(losses, pick[None], 0)[0]


def _numeric_log_n(law, c_train, c_inf):
    """Minimize the loss (-log Acc for a Beta law) over log N, budget by budget: the laws
    without a closed first-order condition (Beta, k exponent that drifts)."""
    out = []
    for ct, ci in zip(np.atleast_1d(c_train), np.atleast_1d(c_inf)):
        def f(u, ct=ct, ci=ci):
            return float(_loss(law, np.exp(u), ct / (6 * np.exp(u)), ci / (2 * np.exp(u))))

        grid = np.linspace(0.0, np.log(ci / 2.0), 400)
        n = np.exp(grid)
        with np.errstate(all="ignore"):
            vals = np.asarray(_loss(law, n, ct / (6 * n), ci / (2 * n)), float)
        # NaN where the law is undefined (e.g. a Beta shape underflows to 0 far from the data)
        i = int(np.argmin(np.where(np.isfinite(vals), vals, np.inf)))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        out.append(np.exp(minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                          options={"xatol": 1e-10}).x))
    return np.array(out).reshape(np.shape(c_train))


def _build(law, N, c_train, c_inf, chin=None) -> Allocation:
    D, k = c_train / (6.0 * N), c_inf / (2.0 * N)
    loss = _loss(law, N, D, k)
    k_int, loss_int = _integer_k(law, N, c_train, c_inf)
    pk = None if isinstance(law, ChinchillaLaw) else np.exp(-loss)
    return Allocation(N=N, D=D, k=k, tokens_per_param=D / N, loss=loss, c_train=c_train,
                      c_inf=c_inf, k_int=k_int, loss_int=loss_int, pass_at_k=pk, chinchilla=chin)


def _squeeze(a: Allocation) -> Allocation:
    vals = {k: (float(v) if isinstance(v, (np.ndarray, np.generic)) and np.ndim(v) == 0 else v)
            for k, v in a.__dict__.items() if not isinstance(v, Allocation)}
    return replace(a, **vals)


def optimal_allocation(law, c_train, c_inf) -> Allocation:
    """Best (N, D, k) with ``6ND = c_train`` and ``2Nk = c_inf`` (scalars or arrays of budgets)."""
    ct, ci = np.broadcast_arrays(_check_budget("c_train", c_train), _check_budget("c_inf", c_inf))
    nd = law.loss_law if isinstance(law, T2BetaLaw) else law
    base = nd.chinchilla() if isinstance(nd, (T2LossLaw, T2DriftLaw)) else nd
    N_chin = np.minimum(base.N_opt(ct), ci / 2.0)
    chin = _squeeze(_build(law, N_chin, ct, ci))
    if isinstance(law, ChinchillaLaw):
        return chin
    numeric = isinstance(law, (T2BetaLaw, T2DriftLaw))
    N = _numeric_log_n(law, ct, ci) if numeric else _solve_law(law, ct, ci)
    return _squeeze(_build(law, N, ct, ci, chin))


def _pooled_inner(law: T2LossLaw, N, R, TQ):
    """For fixed N split the per-parameter budget R = 6D + 2kTQ; returns (D, k)."""
    s_max = 1.0 - 2.0 * TQ / R  # k >= 1
    def dfds(s):  # d/ds [B (sR/6)^-beta + G ((1-s)R/2TQ)^-gamma], increasing in s
        return (-law.beta * law.B * (s * R / 6.0) ** -law.beta / s
                + law.gamma * law.G * ((1 - s) * R / (2 * TQ)) ** -law.gamma / (1 - s))
    if law.G == 0 or dfds(s_max) <= 0:
        s = s_max
    else:
        lo, hi = 1e-300, s_max
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if dfds(mid) > 0 else (mid, hi)
        s = 0.5 * (lo + hi)
    return s * R / 6.0, (1 - s) * R / (2.0 * TQ)


def _pooled_one(law: T2LossLaw, c_total, TQ):
    u_hi = _max_log_n(c_total, TQ)
    def f(u):
        N = np.exp(u)
        D, k = _pooled_inner(law, N, c_total / N, TQ)
        return law.predict(N, D, k)
    grid = np.linspace(0.0, u_hi, 200)
    i = int(np.argmin([f(u) for u in grid]))  # convex in log N: bracket, then refine
    res = minimize_scalar(f, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, 199)]),
                          method="bounded", options={"xatol": 1e-12})
    N = float(np.exp(res.x))
    D, k = _pooled_inner(law, N, c_total / N, TQ)
    return N, float(D), float(k)


def _max_log_n(c_total, TQ) -> float:
    u_hi = np.log(c_total / (2.0 * TQ) / (1 + 1e-9))
    if u_hi <= 0:
        raise ValueError(f"c_total={c_total:g} cannot pay for one sample per query (T*Q={TQ:g})")
    return float(u_hi)


_SHARES = 128   # training shares per size on the numeric path's grid (a logit grid)


def _split(N, c_total, TQ, t):
    """(D, k) of size N spending the logit-share t of the bill on training."""
    s = 1.0 / (1.0 + np.exp(-t))
    return s * c_total / (6.0 * N), (1.0 - s) * c_total / (2.0 * N * TQ)


def _share_bounds(N, c_total, TQ):
    s_max = 1.0 - 2.0 * TQ * N / c_total  # k >= 1
    hi = float(np.log(s_max / (1.0 - s_max)))
    return min(float(np.log(1e-9 / (1 - 1e-9))), hi - 1.0), hi


def _best_share(law, N, c_total, TQ) -> tuple[float, float]:
    """(loss, logit share) of the best split of size N's bill: a grid, then a bounded refine."""
    lo, hi = _share_bounds(N, c_total, TQ)
    t = np.linspace(lo, hi, _SHARES)
    with np.errstate(all="ignore"):
        vals = np.asarray(_loss(law, N, *_split(N, c_total, TQ, t)), float)
    i = int(np.argmin(np.where(np.isfinite(vals), vals, np.inf)))
    res = minimize_scalar(lambda x: float(_loss(law, N, *_split(N, c_total, TQ, x))),
                          bounds=(t[max(i - 1, 0)], t[min(i + 1, _SHARES - 1)]),
                          method="bounded", options={"xatol": 1e-10})
    return (float(res.fun), float(res.x)) if res.fun <= vals[i] else (float(vals[i]), t[i])


def _pooled_numeric(law, c_total, TQ):
    """``_pooled_one`` for the laws without its closed inner split (a k exponent that drifts,
    Beta): the loss over a (log N, logit share) grid, then nested bounded refines."""
    u = np.linspace(0.0, _max_log_n(c_total, TQ) - 1e-9, 200)
    best = [_best_share(law, float(np.exp(x)), c_total, TQ)[0] for x in u]
    i = int(np.argmin(np.where(np.isfinite(best), best, np.inf)))
    res = minimize_scalar(lambda x: _best_share(law, float(np.exp(x)), c_total, TQ)[0],
                          bounds=(u[max(i - 1, 0)], u[min(i + 1, len(u) - 1)]),
                          method="bounded", options={"xatol": 1e-10})
    N = float(np.exp(res.x if res.fun <= best[i] else u[i]))
    D, k = _split(N, c_total, TQ, _best_share(law, N, c_total, TQ)[1])
    return N, float(D), float(k)


def optimal_pooled(law, c_total, T, Q) -> Allocation:
    """Best (N, D, k) with ``6ND + 2NkTQ = c_total`` (T tokens/sample, Q lifetime queries).

    Reports ``c_train = 6ND``, ``c_inf = 2Nk`` (per generated token per query) and the training
    share of the bill. ``chinchilla``: the same budget spent by a law without the k term (k = 1).
    """
    for name, v in (("T", T), ("Q", Q)):
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name}: must be finite and > 0")
    totals = np.atleast_1d(_check_budget("c_total", c_total))
    TQ = float(T) * float(Q)

    def solve(lw):
        one = (_pooled_numeric if isinstance(lw, (T2BetaLaw, T2DriftLaw)) else
               lambda lw, c, TQ: _pooled_one(_as_t2(lw), c, TQ))
        rows = np.array([one(lw, float(c), TQ) for c in totals]).T
        N, D, k = (r.reshape(np.shape(c_total)) for r in rows)
        c_tr, c_in = 6 * N * D, 2 * N * k
        a = _build(law, N, c_tr, c_in)
        return replace(a, k=k, T=float(T), Q=float(Q), train_fraction=c_tr / (c_tr + c_in * TQ))

    nd = law.loss_law if isinstance(law, T2BetaLaw) else law
    base = nd.chinchilla() if isinstance(nd, (T2LossLaw, T2DriftLaw)) else nd
    chin = _squeeze(solve(base))
    if isinstance(law, ChinchillaLaw):
        return chin
    return _squeeze(replace(solve(law), chinchilla=chin))

"""Batched L-BFGS: many independent starts minimized together with one vectorized objective.

    result = minimize_batch(fun, X0)      # fun(X: (S, P)) -> (f: (S,), grad: (S, P))

Each start keeps its own history, step and convergence flag; only still-active starts are
evaluated, so the cost per iteration falls as starts converge. The objective is one numpy call
over all active starts instead of thousands of scipy calls (the reason a 4,500-start grid fits in
seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchResult:
    x: np.ndarray          # (S, P) final points
    f: np.ndarray          # (S,) final objective values
    grad: np.ndarray       # (S, P) final gradients
    num_iter: np.ndarray   # (S,) iterations used
    converged: np.ndarray  # (S,) bool: stopped on a tolerance, not on max_iter


def _direction(g, s_hist, y_hist, rho):
    """Two-loop recursion for all starts at once; empty history slots are zeros (no effect)."""
    q = g.copy()
    m = s_hist.shape[1]
    alphas = np.zeros((g.shape[0], m))
    for i in range(m - 1, -1, -1):
        alphas[:, i] = rho[:, i] * np.einsum("sp,sp->s", s_hist[:, i], q)
        q -= alphas[:, i, None] * y_hist[:, i]
    sy = np.einsum("sp,sp->s", s_hist[:, -1], y_hist[:, -1])
    yy = np.einsum("sp,sp->s", y_hist[:, -1], y_hist[:, -1])
    # Scale by the newest curvature pair; with no history take a small steepest-descent step.
    gnorm = np.abs(g).max(axis=1)
    scale = np.where(yy > 0, sy / np.where(yy > 0, yy, 1.0), 0.1 / np.maximum(gnorm, 1e-12))
    r = q * scale[:, None]
    for i in range(m):
        b = rho[:, i] * np.einsum("sp,sp->s", y_hist[:, i], r)
        r += s_hist[:, i] * (alphas[:, i] - b)[:, None]
    return -r


def minimize_batch(fun, x0, *, max_iter: int = 1000, memory: int = 10, ftol: float = 1e-13,
                   gtol: float = 1e-9, max_backtracks: int = 50,
                   prune_rtol: float | None = None, prune_every: int = 100,
                   indexed: bool = False) -> BatchResult:
    """Minimize ``fun`` from every row of ``x0`` (Armijo backtracking L-BFGS, per-start state).

    ``prune_rtol``: every ``prune_every`` iterations stop starts whose objective exceeds the best
    by this relative margin (they cannot win; they stay ``converged=False``). ``indexed``: call
    ``fun(X, rows)`` with the start index of each row of ``X``, for objectives that differ per
    start (e.g. each bootstrap replicate's own row weights).
    """
    X = np.array(x0, dtype=float, copy=True)
    S, P = X.shape
    if indexed:
        objective = fun
    else:
        def objective(x, rows):
            return fun(x)
    F, G = objective(X, np.arange(S))
    F = np.where(np.isfinite(F), F, np.inf)
    s_hist = np.zeros((S, memory, P))
    y_hist = np.zeros((S, memory, P))
    rho = np.zeros((S, memory))
    num_iter = np.zeros(S, dtype=int)
    converged = ~np.isfinite(F)  # a start that is not finite at x0 is dropped at once
    active = np.flatnonzero(~converged)
    for it in range(max_iter):
        if prune_rtol is not None and it and it % prune_every == 0 and active.size:
            best = F.min()
            active = active[F[active] <= best + prune_rtol * max(1.0, abs(best))]
        if active.size == 0:
            break
        g = G[active]
        d = _direction(g, s_hist[active], y_hist[active], rho[active])
        slope = np.einsum("sp,sp->s", d, g)
        uphill = slope >= 0  # history went bad: restart that start from steepest descent
        if uphill.any():
            idx = active[uphill]
            s_hist[idx] = y_hist[idx] = 0.0
            rho[idx] = 0.0
            scale = 0.1 / np.maximum(np.abs(g[uphill]).max(axis=1), 1e-12)
            d[uphill] = -g[uphill] * scale[:, None]
            slope[uphill] = np.einsum("sp,sp->s", d[uphill], g[uphill])
        x_old, f_old = X[active], F[active]
        x_new, f_new, g_new = x_old.copy(), f_old.copy(), g.copy()
        t = np.ones(active.size)
        pending = np.arange(active.size)
        for _ls in range(max_backtracks):
            trial = x_old[pending] + t[pending, None] * d[pending]
            f_try, g_try = objective(trial, active[pending])
            ok = np.isfinite(f_try) & (f_try <= f_old[pending] + 1e-4 * t[pending] * slope[pending])
            acc = pending[ok]
            x_new[acc], f_new[acc], g_new[acc] = trial[ok], f_try[ok], g_try[ok]
            pending = pending[~ok]
            if pending.size == 0:
                break
            t[pending] *= 0.25
        stalled = np.zeros(active.size, bool)
        stalled[pending] = True  # no acceptable step: at a minimum to machine precision
        s = x_new - x_old
        y = g_new - g
        sy = np.einsum("sp,sp->s", s, y)
        good = (sy > 1e-12 * np.linalg.norm(s, axis=1) * np.linalg.norm(y, axis=1)) & ~stalled
        idx = active[good]
        if idx.size:
            s_hist[idx] = np.concatenate([s_hist[idx, 1:], s[good, None]], axis=1)
            y_hist[idx] = np.concatenate([y_hist[idx, 1:], y[good, None]], axis=1)
            rho[idx] = np.concatenate([rho[idx, 1:], (1.0 / sy[good])[:, None]], axis=1)
        X[active], F[active], G[active] = x_new, f_new, g_new
        num_iter[active] += 1
        small_f = (f_old - f_new) <= ftol * np.maximum(1.0, np.abs(f_new))
        small_g = np.abs(g_new).max(axis=1) <= gtol
        done = stalled | small_g | small_f
        converged[active[done]] = True
        active = active[~done]
    return BatchResult(X, F, G, num_iter, converged)

"""How much a checkpoint at (N, D) would shrink the forecast's variance: Fisher information of the law.

    from t2.flows.design_info import variance_reduction
    red, var = variance_reduction(theta, ks, targets, observed, cands, sigma=0.01)
    # red (C,): expected Var(log N*) each candidate removes, over the ensemble's mean variance

The forecast log N* at a target is a function of the law's parameters; linearized at a law
θ_b (one bootstrap replicate), the variance of log N* after observing checkpoints X is
g_bᵀ I_b(X)⁻¹ g_b with g_b its gradient and I_b(X) = P + Σ_x J_xᵀ R⁻¹ J_x the Fisher
information of the log task losses (J_x their Jacobian at x for every k, R the noise covariance of
one checkpoint: σ² shared by its k values plus (σ/4)² per k, as between seeds and samples; P a
weak prior that keeps I invertible while the design is small). A candidate x adds J_xᵀR⁻¹J_x, so by
Woodbury its variance reduction is

    Σ_t u_tᵀ (R + J_x I⁻¹ J_xᵀ)⁻¹ u_t,    u_t = J_x I⁻¹ g_bt.

Averaging this over the bootstrap ensemble makes the criterion robust to the law still being
uncertain (a Bayesian c-optimal design); it is reported as a fraction of the ensemble's mean
variance. (Averaging per-replicate fractions instead weights the replicates that are already
sure as much as the unsure ones: in simulation it needed 2.6x more FLOPs to settle.) log D* and
log k* at a target are C-fixed offsets of −log N*, so their variances are the same number.
"""

from __future__ import annotations

import math

import numpy as np
from t2.flows.forecast import allocate

# Prior standard deviations in fit space (log E, log A, log B, log G, alpha, beta, gamma): wide,
# only there to keep the information matrix invertible before the design pins the law down.
PRIOR_SD = np.array([1.0, 3.0, 3.0, 3.0, 0.5, 0.5, 0.5])


def to_free(theta: np.ndarray) -> np.ndarray:
    """(B, 7) law parameters (E, A, B, alpha, beta, G, gamma) -> fit space."""
    E, A, B, a, b, G, g = theta.T
    with np.errstate(divide="ignore"):
        return np.stack([np.log(E), np.log(A), np.log(B), np.log(G), a, b, g], 1)


def from_free(p: np.ndarray) -> np.ndarray:
    return np.stack([np.exp(p[:, 0]), np.exp(p[:, 1]), np.exp(p[:, 2]), p[:, 4], p[:, 5],
                     np.exp(p[:, 3]), p[:, 6]], 1)


def jacobian(p: np.ndarray, N, D, ks) -> np.ndarray:
    """(B, M, K, 7): d log L(N_m, D_m, k) / d p for replicates p (B, 7) in fit space."""
    lnN = np.log(np.asarray(N, float))[None, :, None]
    lnD = np.log(np.asarray(D, float))[None, :, None]
    lnk = np.log(np.asarray(ks, float))[None, None, :]
    q = p[:, None, None, :]
    shape = np.broadcast_shapes(lnN.shape, lnk.shape, (len(p), 1, 1))
    terms = np.stack([np.broadcast_to(q[..., 0], shape),
                      np.broadcast_to(q[..., 1] - q[..., 4] * lnN, shape),
                      np.broadcast_to(q[..., 2] - q[..., 5] * lnD, shape),
                      np.broadcast_to(q[..., 3] - q[..., 6] * lnk, shape)], -1)
    with np.errstate(invalid="ignore"):
        w = np.exp(terms - np.logaddexp.reduce(terms, axis=-1)[..., None])
    w = np.nan_to_num(w)
    return np.stack([w[..., 0], w[..., 1], w[..., 2], w[..., 3],
                     -w[..., 1] * lnN, -w[..., 2] * lnD, -w[..., 3] * lnk], -1)


def forecast_gradient(p: np.ndarray, targets, free: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """(B, T, F): d log N* / d p over the free parameters, by central differences."""
    out = np.zeros((len(p), len(targets), len(free)))
    for j, i in enumerate(free):
        step = np.zeros(p.shape[1])
        step[i] = h
        for t, (ct, ci) in enumerate(targets):
            hi = allocate(from_free(p + step), ct, ci)[:, 0]
            lo = allocate(from_free(p - step), ct, ci)[:, 0]
            out[:, t, j] = (hi - lo) / (2 * h)
    return out


def noise_covariance(num_k: int, sigma: float) -> np.ndarray:
    return sigma**2 * np.ones((num_k, num_k)) + (sigma / 4) ** 2 * np.eye(num_k)


def variance_reduction(theta: np.ndarray, ks, targets, observed, cands, *, sigma: float,
                       with_k: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(C,) Var(log N*) each candidate removes (mean over replicates, as a fraction of their
    mean variance), and (B,) the replicates' current variances.

    ``observed`` and ``cands`` are lists of (N, D); observed includes runs on their way (their
    information counts before their results do, so a batch spreads out). ``with_k=False``: a
    Chinchilla law of one loss per checkpoint (G and gamma are not fitted).
    """
    ks = list(ks) if with_k else [1]
    free = np.array([0, 1, 2, 3, 4, 5, 6] if with_k else [0, 1, 2, 4, 5])
    p = to_free(theta)
    p = p[np.all(np.isfinite(p[:, free]), axis=1)]
    if not with_k:
        p[:, 3] = -np.inf  # no k term
    Rinv = np.linalg.inv(noise_covariance(len(ks), sigma))
    obs = np.asarray(observed, float).reshape(-1, 2)
    J = jacobian(p, obs[:, 0], obs[:, 1], ks)[..., free]              # (B, M, K, F)
    info = np.einsum("bmkf,kl,bmlg->bfg", J, Rinv, J) + np.diag(PRIOR_SD[free] ** -2.0)
    cov = np.linalg.inv(info)                                          # (B, F, F)
    g = forecast_gradient(p, targets, free)                            # (B, T, F)
    var = np.einsum("btf,bfg,btg->b", g, cov, g)
    c = np.asarray(cands, float).reshape(-1, 2)
    Jc = jacobian(p, c[:, 0], c[:, 1], ks)[..., free]                  # (B, C, K, F)
    JS = np.einsum("bckf,bfg->bckg", Jc, cov)
    S = noise_covariance(len(ks), sigma)[None, None] + np.einsum("bckg,bclg->bckl", JS, Jc)
    U = np.einsum("bckg,btg->bckt", JS, g)
    red = np.einsum("bckt,bckt->bc", U, np.linalg.solve(S, U))
    ok = np.isfinite(var) & (var > 0) & np.all(np.isfinite(red), axis=1)
    if not ok.any():
        return np.zeros(len(c)), var
    return np.mean(red[ok], axis=0) / np.mean(var[ok]), var


def expected_sd(theta, ks, targets, observed, *, sigma: float, with_k: bool = True) -> float:
    """Median over replicates of the linearized sd of log N* (for logs and tests)."""
    _, var = variance_reduction(theta, ks, targets, observed, [(1.0, 1.0)], sigma=sigma,
                                with_k=with_k)
    return float(math.sqrt(np.median(var)))

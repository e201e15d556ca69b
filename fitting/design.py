"""How much a checkpoint at (N, D) would shrink the forecast's variance: Fisher information.

    from t2.fitting.design import variance_reduction
    red, var = variance_reduction(theta, ks, targets, observed, cands, sigma=0.01)
    # observed: [(run, N, D)], cands: [(run it continues or None, N, D)]
    # red (C,): expected Var(log N*) each candidate removes, over the ensemble's mean variance

The forecast log N* at a target is a function of the law's parameters; linearized at a law
θ_b (one bootstrap replicate), the variance of log N* after observing checkpoints X is
g_bᵀ M_b(X)⁻¹ g_b with g_b its gradient and M_b the Fisher information of the log task losses
about θ. The noise model (which t2's study simulator draws from): each checkpoint carries (σ/4)²
of its own and each k value (σ/4)² more, and each run's seed adds σ·u_run shared by every
checkpoint of its trunk (decay branches and extensions). The run effects are nuisance parameters
(u ~ N(0, 1)) marginalized out per run, so M_b = P + Σ_runs (I_θθ − I_θu I_uu⁻¹ I_uθ), with
I from J_xᵀR⁻¹J_x over the run's checkpoints (J_x their Jacobian for every k, R the per-checkpoint
noise) and P a weak prior that keeps M invertible while the design is small. A candidate adds its
rows to a run that exists (a branch or an extension: its shared noise is already partly known) or
to a fresh one, and its variance is recomputed exactly (a rank-≤3 update of a 7×7 matrix).

Averaging the reduction over the bootstrap ensemble makes the criterion robust to the law still
being uncertain (a Bayesian c-optimal design); it is reported as a fraction of the ensemble's mean
variance. (Averaging per-replicate fractions instead weights the replicates that are already
sure as much as the unsure ones: in simulation it needed 2.6x more FLOPs to settle.) log D* and
log k* at a target are C-fixed offsets of −log N*, so their variances are the same number.
"""

from __future__ import annotations

import math

import numpy as np
from t2.fitting.optimal import allocate

# Prior standard deviations in fit space (log E, log A, log B, log G, alpha, beta, gamma): wide,
# only there to keep the information matrix invertible before the design pins the law down.
PRIOR_SD = np.array([1.0, 3.0, 3.0, 3.0, 0.5, 0.5, 0.5])


def to_free(theta: np.ndarray) -> np.ndarray:
    """(B, 7) law parameters (``LOSS_PARAMS`` order) -> fit space (log E, log A, log B, log G,
    alpha, beta, gamma); G = 0 maps to log G = −inf, so a law without a k effect drops out."""
    E, A, B, a, b, G, g = theta.T
    with np.errstate(divide="ignore"):
        return np.stack([np.log(E), np.log(A), np.log(B), np.log(G), a, b, g], 1)


def from_free(p: np.ndarray) -> np.ndarray:
    """The inverse of ``to_free``."""
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


def noise_covariance(num_k: int, sigma: float, shared: bool = True) -> np.ndarray:
    """One checkpoint's noise over its k values: (σ/4)² per checkpoint and per k, plus σ² from
    the run's seed when that is not modelled separately (``shared=False``)."""
    own = (sigma / 4) ** 2 * (np.ones((num_k, num_k)) + np.eye(num_k))
    return own if shared else own + sigma**2 * np.ones((num_k, num_k))


def variance_reduction(theta: np.ndarray, ks, targets, observed, cands, *, sigma: float,
                       with_k: bool = True,
                       noise_per: str = "run") -> tuple[np.ndarray, np.ndarray]:
    """(C,) Var(log N*) each candidate removes (mean over replicates, as a fraction of their
    mean variance), and (B,) the replicates' current variances.

    ``observed``: (run, N, D) of checkpoints, runs on their way included (their information
    counts before their results do, so a batch spreads out); ``cands``: (run or None, N, D), the
    run a candidate continues or None for a new one. ``noise_per="run"``: the σ of a run's seed is
    shared by every checkpoint of its trunk (a random effect per run, marginalized), so a new
    decay branch of a known trunk teaches less than a new run; ``"checkpoint"``: independent.
    ``with_k=False``: a Chinchilla law of one loss per checkpoint (G and gamma not fitted).
    """
    ks = list(ks) if with_k else [1]
    free = np.array([0, 1, 2, 3, 4, 5, 6] if with_k else [0, 1, 2, 4, 5])
    p = to_free(theta)
    p = p[np.all(np.isfinite(p[:, free]), axis=1)]
    if not with_k:
        p[:, 3] = -np.inf  # no k term
    K, F, B = len(ks), len(free), len(p)
    if noise_per == "checkpoint":  # every checkpoint is its own "run"
        observed = [(("ckpt", i), N, D) for i, (_, N, D) in enumerate(observed)]
        cands = [(None, N, D) for _, N, D in cands]
    Rinv = np.linalg.inv(noise_covariance(K, sigma))          # within a checkpoint, seed apart
    Rnew = np.linalg.inv(noise_covariance(K, sigma, shared=False))  # a new run: seed included
    one = sigma * np.ones(K)                                   # d log L / d (run effect)

    def jac(points):
        pts = np.asarray([(N, D) for _, N, D in points], float).reshape(-1, 2)
        return jacobian(p, pts[:, 0], pts[:, 1], ks)[..., free]  # (B, M, K, F)

    # Per run: the information of its checkpoints on (theta, run effect u ~ N(0, 1)).
    J = jac(observed)
    runs = sorted({run for run, _, _ in observed}, key=str)
    where = {run: i for i, run in enumerate(runs)}
    idx = np.array([where[run] for run, _, _ in observed], int)
    Itt = np.einsum("bmkf,kl,bmlg->bfg", J, Rinv, J) + np.diag(PRIOR_SD[free] ** -2.0)
    a = np.zeros((B, len(runs), F))                             # info between theta and u_run
    np.add.at(a, (slice(None), idx), np.einsum("bmkf,kl,l->bmf", J, Rinv, one))
    s = 1.0 + np.bincount(idx, minlength=len(runs)) * float(one @ Rinv @ one)  # u's own info
    M = Itt - np.einsum("brf,brg,r->bfg", a, a, 1.0 / s)       # theta's, runs marginalized
    g = forecast_gradient(p, targets, free)                    # (B, T, F)
    var = np.einsum("btf,bfg,btg->b", g, np.linalg.inv(M), g)
    # Each candidate: the marginal information after adding it, then its variance directly.
    Jc = jac(cands)                                            # (B, C, K, F)
    add = np.empty((B, len(cands), F, F))
    for j, (run, _, _) in enumerate(cands):
        Jj = Jc[:, j]
        if run is None or run not in where:                    # a new run: its seed is fresh
            add[:, j] = np.einsum("bkf,kl,blg->bfg", Jj, Rnew, Jj)
            continue
        r = where[run]
        a_new = a[:, r] + np.einsum("bkf,kl,l->bf", Jj, Rinv, one)
        s_new = s[r] + float(one @ Rinv @ one)
        add[:, j] = (np.einsum("bkf,kl,blg->bfg", Jj, Rinv, Jj)
                     + np.einsum("bf,bg->bfg", a[:, r], a[:, r]) / s[r]
                     - np.einsum("bf,bg->bfg", a_new, a_new) / s_new)
    after = np.einsum("btf,bcfg,btg->bc", g, np.linalg.inv(M[:, None] + add), g)
    red = var[:, None] - after
    ok = np.isfinite(var) & (var > 0) & np.all(np.isfinite(red), axis=1)
    if not ok.any():
        return np.zeros(len(cands)), var
    return np.mean(red[ok], axis=0) / np.mean(var[ok]), var


def expected_sd(theta, ks, targets, observed, *, sigma: float, with_k: bool = True,
                noise_per: str = "run") -> float:
    """Median over replicates of the linearized sd of log N* (for logs and tests)."""
    _, var = variance_reduction(theta, ks, targets, observed, [(None, 1.0, 1.0)], sigma=sigma,
                                with_k=with_k, noise_per=noise_per)
    return float(math.sqrt(np.median(var)))

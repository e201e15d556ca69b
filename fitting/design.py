"""How much a checkpoint at (N, D) would shrink the forecast's variance, for the fit t2 runs.

    from t2.fitting.design import variance_reduction
    red, var = variance_reduction(theta, ks, targets, observed, cands, sigma=0.01)
    # observed: [(run, N, D)], cands: [(run it continues or None, N, D)]
    # red (C,): expected Var(log N*) each candidate removes, over the ensemble's mean variance

The forecast log N* at a target is a function of the law's parameters θ; linearized at a law
θ_b (one bootstrap replicate), its variance after observing checkpoints X is g_bᵀ V_b(X) g_b,
g_b its gradient (exact, by the implicit function theorem on the optimum's first-order
condition). The noise model is the one t2's study simulator draws from: each row (a checkpoint's
log loss at one k) carries σ·u_run from the run's seed, shared by every checkpoint of its trunk
(decay branches and extensions; with ``noise_per="checkpoint"`` one draw per checkpoint),
(σ/4)·ε_ckpt shared by the checkpoint's k values, and (σ/4)·ε_k.

V_b is the covariance of the estimator t2 actually runs (``estimator="huber"``): the summed Huber
fit of log losses (Hoffmann et al. 2022, arXiv 2203.15556), which with δ = 1e-3 ≪ σ is a least
absolute deviations fit, and which treats every row alike whatever noise it shares. Its
asymptotic (sandwich) covariance is H⁻¹ΩH⁻¹ with H = √(2/π)/s·ΣJJᵀ (s a row's noise sd) and
Ω = Σᵢⱼ E[sign eᵢ·sign eⱼ]·JᵢJⱼᵀ, where two rows of one checkpoint, or of one run, have the sign
correlation (2/π)·asin(ρ) of their noise correlation ρ (Sheppard's formula); with a weak prior P
the information is HΩ⁻¹H + P. Repeated noisy studies confirm it (tests/flows/test_select.py):
the spread of real refits' log N* is what the sandwich says, for trunk-sharing designs too,
while the efficient (GLS, random run effects marginalized) Fisher information,
``estimator="efficient"``, promises up to 2x less spread than the fit delivers and ranks
designs that reuse trunks too well. A candidate adds its rows to a run that exists (a branch or
an extension: it shares that run's seed noise) or to a fresh one, and its variance is recomputed
exactly (a rank-≤K update of a 7×7 problem, batched over replicates and candidates).

Averaging the reduction over the bootstrap ensemble makes the criterion robust to the law still
being uncertain (a Bayesian c-optimal design; Chaloner & Verdinelli 1995, Statistical Science
10(3)); it is reported as a fraction of the ensemble's mean variance. log D* and log k* at a
target are C-fixed offsets of −log N*, so their variances are the same number.
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


def forecast_gradient(p: np.ndarray, targets, free: np.ndarray) -> np.ndarray:
    """(B, T, F): d log N* / d p over the free parameters, exactly, by the implicit function
    theorem on the first-order condition F(u, p) = 0 (u = log N*; ``t2.fitting.optimal``):
    du/dp = −(∂F/∂p)/(∂F/∂u). Zero where N* sits on its bound k = 1 (N = C_inf/2)."""
    theta = from_free(p)
    out = np.zeros((len(p), len(targets), len(free)))
    _, lnA, lnB, lnG, a, b, g = p.T
    for t, (ct, ci) in enumerate(targets):
        u = allocate(theta, ct, ci)[:, 0]
        w6, w2 = u + math.log(6.0 / ct), u + math.log(2.0 / ci)
        with np.errstate(all="ignore"):
            ta = np.exp(np.log(a) + lnA - a * u)          # alpha A N^-alpha
            tb = np.exp(np.log(b) + lnB + b * w6)         # beta B (6N/C_train)^beta
            tg = np.nan_to_num(np.exp(np.log(g) + lnG + g * w2))  # gamma G (2N/C_inf)^gamma
            dFdp = np.stack([np.zeros_like(u), -ta, tb, tg, ta * (u - 1 / a),
                             tb * (1 / b + w6), np.nan_to_num(tg * (1 / g + w2))], 1)
            dFdu = a * ta + b * tb + g * tg
            grad = -dFdp[:, free] / dFdu[:, None]
        at_bound = u >= math.log(ci / 2.0) - 1e-9
        out[:, t] = np.where(at_bound[:, None] | ~np.isfinite(grad), 0.0, grad)
    return out


def noise_covariance(num_k: int, sigma: float, shared: bool = True) -> np.ndarray:
    """One checkpoint's noise over its k values: (σ/4)² per checkpoint and per k, plus σ² from
    the run's seed when that is not modelled separately (``shared=False``)."""
    own = (sigma / 4) ** 2 * (np.ones((num_k, num_k)) + np.eye(num_k))
    return own if shared else own + sigma**2 * np.ones((num_k, num_k))


def row_noise(sigma: float, with_k: bool) -> tuple[float, float, float]:
    """(sd, rho_ckpt, rho_run) of one row's log-loss noise: its sd, and its correlation with
    another row of the same checkpoint (another k) and of the same run (another checkpoint)."""
    var = 1.0 + 1 / 16 + (1 / 16 if with_k else 0.0)
    return sigma * math.sqrt(var), (1.0 + 1 / 16) / var, 1.0 / var


def sign_corr(rho: float) -> float:
    """E[sign(x)·sign(y)] of a standard bivariate normal with correlation rho (Sheppard)."""
    return 2.0 / math.pi * math.asin(rho)


class _Design:
    """Replicates in fit space, Jacobians of the observed and candidate checkpoints, runs."""

    def __init__(self, theta, ks, targets, observed, cands, with_k: bool, noise_per: str):
        self.ks = list(ks) if with_k else [1]
        self.free = np.array([0, 1, 2, 3, 4, 5, 6] if with_k else [0, 1, 2, 4, 5])
        p = to_free(theta)
        p = p[np.all(np.isfinite(p[:, self.free]), axis=1)]
        if not with_k:
            p[:, 3] = -np.inf  # no k term
        if noise_per == "checkpoint":  # every checkpoint is its own "run"
            observed = [(("ckpt", i), N, D) for i, (_, N, D) in enumerate(observed)]
            cands = [(None, N, D) for _, N, D in cands]
        self.p = p
        self.J, self.Jc = self._jac(observed), self._jac(cands)     # (B, M|C, K, F)
        runs = sorted({run for run, _, _ in observed}, key=str)
        where = {run: i for i, run in enumerate(runs)}
        self.num_runs = len(runs)
        self.idx = np.array([where[run] for run, _, _ in observed], int)
        self.cand_run = np.array([where.get(run, -1) if run is not None else -1
                                  for run, _, _ in cands], int)  # -1: a new run
        self.g = forecast_gradient(p, targets, self.free)           # (B, T, F)
        self.prior = np.diag(PRIOR_SD[self.free] ** -2.0)

    def _jac(self, points) -> np.ndarray:
        pts = np.asarray([(N, D) for _, N, D in points], float).reshape(-1, 2)
        return jacobian(self.p, pts[:, 0], pts[:, 1], self.ks)[..., self.free]

    def run_sums(self, rows: np.ndarray) -> np.ndarray:
        """(B, R, F): per run, the sum over its checkpoints of ``rows`` (B, M, F)."""
        out = np.zeros((rows.shape[0], self.num_runs, rows.shape[2]))
        np.add.at(out, (slice(None), self.idx), rows)
        return out

    def of_candidates_runs(self, per_run: np.ndarray) -> np.ndarray:
        """(B, C, F): each candidate's run's row of ``per_run`` (B, R, F); 0 for a new run."""
        new = (self.cand_run < 0)[None, :, None]
        return np.where(new, 0.0, per_run[:, np.maximum(self.cand_run, 0)]) if self.num_runs \
            else np.zeros((per_run.shape[0], len(self.cand_run), per_run.shape[2]))


def _quad(J: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(..., F, F) Jᵀ R J for a stack of (..., K, F) Jacobians (batched matmul, not einsum)."""
    return J.swapaxes(-1, -2) @ (R @ J)


def _outer(x: np.ndarray) -> np.ndarray:
    return x[..., :, None] * x[..., None, :]


def _forecast_var(info: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Σ_targets gᵀ info⁻¹ g over stacks of (F, F) information matrices."""
    return np.einsum("...tf,...ft->...", g, np.linalg.solve(info, np.swapaxes(g, -1, -2)))


def _huber(d: _Design, sigma: float, with_k: bool) -> tuple[np.ndarray, np.ndarray]:
    """(B,) and (B, C): Var(log N*) of the Huber fit now and with each candidate (sandwich)."""
    sd, rho_c, rho_r = row_noise(sigma, with_k)
    s1, s2, h = sign_corr(rho_c), sign_corr(rho_r), math.sqrt(2.0 / math.pi) / sd
    JJ = np.einsum("bmkf,bmkg->bfg", d.J, d.J)
    b = d.J.sum(axis=2)                                         # (B, M, F) per checkpoint
    a = d.run_sums(b)                                           # (B, R, F) per run
    omega = ((1.0 - s1) * JJ + (s1 - s2) * np.einsum("bmf,bmg->bfg", b, b)
             + s2 * np.einsum("brf,brg->bfg", a, a))
    JJc = np.einsum("bckf,bckg->bcfg", d.Jc, d.Jc)
    bc = d.Jc.sum(axis=2)                                       # (B, C, F)
    ar = d.of_candidates_runs(a)                                # the run a candidate continues
    d_omega = ((1.0 - s1) * JJc + s1 * _outer(bc)
               + s2 * (ar[..., :, None] * bc[..., None, :] + bc[..., :, None] * ar[..., None, :]))
    var = _forecast_var(_sandwich_info(h * JJ, omega, d.prior), d.g)
    after = _forecast_var(_sandwich_info(h * (JJ[:, None] + JJc), omega[:, None] + d_omega,
                                         d.prior), d.g[:, None])
    return var, after


def _sandwich_info(H, omega, prior):
    """H Ω⁻¹ H + prior; a tiny ridge on Ω keeps directions no row informs (where H is 0 as
    well) from breaking the solve."""
    F = H.shape[-1]
    scale = np.maximum(1e-10 * np.trace(omega, axis1=-2, axis2=-1) / F, 1e-200)
    ridge = scale[..., None, None] * np.eye(F)
    return H @ np.linalg.solve(omega + ridge, H) + prior


def _efficient(d: _Design, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(B,) and (B, C): Var(log N*) under the GLS Fisher information, run effects u ~ N(0, 1)
    marginalized per run: M = P + Σ_runs (I_θθ − I_θu I_uu⁻¹ I_uθ)."""
    K = len(d.ks)
    Rinv = np.linalg.inv(noise_covariance(K, sigma))          # within a checkpoint, seed apart
    Rnew = np.linalg.inv(noise_covariance(K, sigma, shared=False))  # a new run: seed included
    one = sigma * np.ones(K)                                   # d log L / d (run effect)
    u_info = float(one @ Rinv @ one)
    a = d.run_sums(d.J.swapaxes(-1, -2) @ (Rinv @ one))        # info between θ and u_run
    s = 1.0 + np.bincount(d.idx, minlength=d.num_runs) * u_info  # u's own info
    M = _quad(d.J, Rinv).sum(axis=1) + d.prior - np.einsum("brf,brg,r->bfg", a, a, 1.0 / s)
    add = _quad(d.Jc, Rnew)                                    # a new run: its seed is fresh
    old = np.flatnonzero(d.cand_run >= 0)                      # branches/extensions of a run
    if old.size:
        Jo, ro = d.Jc[:, old], d.cand_run[old]
        a_new = a[:, ro] + Jo.swapaxes(-1, -2) @ (Rinv @ one)
        add[:, old] = (_quad(Jo, Rinv) + _outer(a[:, ro]) / s[ro][:, None, None]
                       - _outer(a_new) / (s[ro] + u_info)[:, None, None])
    return _forecast_var(M, d.g), _forecast_var(M[:, None] + add, d.g[:, None])


def variance_reduction(theta: np.ndarray, ks, targets, observed, cands, *, sigma: float,
                       with_k: bool = True, noise_per: str = "run",
                       estimator: str = "huber") -> tuple[np.ndarray, np.ndarray]:
    """(C,) Var(log N*) each candidate removes (mean over replicates, as a fraction of their
    mean variance), and (B,) the replicates' current variances.

    ``observed``: (run, N, D) of checkpoints, runs on their way included (their information
    counts before their results do, so a batch spreads out); ``cands``: (run or None, N, D), the
    run a candidate continues or None for a new one. ``noise_per="run"``: a run's seed noise is
    shared by every checkpoint of its trunk, so a new decay branch of a known trunk teaches less
    than a new run; ``"checkpoint"``: independent. ``with_k=False``: a Chinchilla law of one loss
    per checkpoint (G and gamma not fitted). ``estimator``: ``"huber"`` (the fit t2 runs) or
    ``"efficient"`` (GLS Fisher information; module docstring).
    """
    d = _Design(theta, ks, targets, observed, cands, with_k, noise_per)
    if estimator == "huber":
        var, after = _huber(d, sigma, with_k)
    elif estimator == "efficient":
        var, after = _efficient(d, sigma)
    else:
        raise ValueError(f"estimator: expected huber or efficient, got {estimator!r}")
    red = var[:, None] - after
    ok = np.isfinite(var) & (var > 0) & np.all(np.isfinite(red), axis=1)
    if not ok.any():
        return np.zeros(len(cands)), var
    return np.mean(red[ok], axis=0) / np.mean(var[ok]), var


def expected_sd(theta, ks, targets, observed, *, sigma: float, with_k: bool = True,
                noise_per: str = "run", estimator: str = "huber") -> float:
    """Median over replicates of the linearized sd of log N* (for logs and tests)."""
    _, var = variance_reduction(theta, ks, targets, observed, [(None, 1.0, 1.0)], sigma=sigma,
                                with_k=with_k, noise_per=noise_per, estimator=estimator)
    return float(math.sqrt(np.median(var)))

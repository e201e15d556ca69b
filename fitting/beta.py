"""T² Approach 2: fit the Beta law of per-problem accuracy by maximum likelihood.

    law = fit_t2_beta(N, D, n=n, c=c, loss_law=chin)   # beta-binomial on sampled counts
    law = fit_t2_beta(N, D, p=p, loss_law=chin)        # Beta on likelihood-based p_i (clipped)
    law.predict(N, D, k)                               # 1 - B(a, b+k) / B(a, b)

One row per (checkpoint, problem). ``loss_law`` gives ``L(N, D)`` (a ``ChinchillaLaw`` of the task
loss, or a ``T2LossLaw`` taken at k = 1). Gradients are analytic (digamma); a few starts are
polished with L-BFGS-B and the best is kept.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln
from t2.fitting.checks import FitError, as_array, check_arrays
from t2.fitting.laws import ChinchillaLaw, T2BetaLaw, T2LossLaw

STARTS = [(0.0, 0.0, 1.0, 0.0), (2.0, -1.0, 1.0, 0.0), (-2.0, 1.0, 0.0, 0.0),
          (0.0, -2.0, 2.0, -0.5), (1.0, -1.0, -1.0, 0.5)]


def _neg_loglik(theta, L, n, c, p):
    """Negative log-likelihood (summed over rows) and its gradient in theta."""
    z1 = theta[0] + theta[1] * L
    mu = expit(z1)
    nu = np.exp(np.clip(theta[2] + theta[3] * L, -50.0, 50.0))
    a = np.maximum(mu * nu, 1e-300)
    b = np.maximum((1.0 - mu) * nu, 1e-300)
    dab = digamma(a + b)
    if p is None:  # beta-binomial: log C(n,c) + betaln(c+a, n-c+b) - betaln(a, b)
        ll = (gammaln(n + 1) - gammaln(c + 1) - gammaln(n - c + 1)
              + betaln(c + a, n - c + b) - betaln(a, b))
        dn = digamma(n + a + b)
        d_a = digamma(c + a) - dn - digamma(a) + dab
        d_b = digamma(n - c + b) - dn - digamma(b) + dab
    else:
        ll = (a - 1) * np.log(p) + (b - 1) * np.log1p(-p) - betaln(a, b)
        d_a = np.log(p) - digamma(a) + dab
        d_b = np.log1p(-p) - digamma(b) + dab
    d_mu = (d_a - d_b) * nu * mu * (1.0 - mu)        # da/dmu = nu, db/dmu = -nu
    d_nu = (d_a * mu + d_b * (1.0 - mu)) * nu        # dnu/dz2 = nu
    grad = -np.array([d_mu.sum(), (d_mu * L).sum(), d_nu.sum(), (d_nu * L).sum()])
    return -ll.sum(), grad


def _as_chinchilla(loss_law) -> ChinchillaLaw:
    if isinstance(loss_law, T2LossLaw):
        return loss_law.chinchilla(k=1.0)
    if isinstance(loss_law, ChinchillaLaw):
        return loss_law
    raise ValueError("loss_law: expected a ChinchillaLaw or T2LossLaw")


def fit_t2_beta(N, D, *, n=None, c=None, p=None, loss_law, init: T2BetaLaw | None = None,
                eps: float = 1e-6) -> T2BetaLaw:
    """Fit ``theta1..theta4`` from per-problem counts (``n``, ``c``) or probabilities ``p``.

    Exactly one of (``n`` and ``c``) or ``p`` must be given. ``p`` is clipped to
    ``[eps, 1 - eps]`` (tiny models have near-zero
    accuracy; Schaeffer et al. 2025, arXiv 2502.17578).
    """
    law_nd = _as_chinchilla(loss_law)
    if (p is None) == (n is None or c is None):
        raise ValueError("give either n and c (sampled counts) or p (per-problem probability)")
    if p is None:
        N, D, n, c = check_arrays(num_params=4, positive=("N", "D", "n"), N=N, D=D, n=n, c=c)
        if (c < 0).any() or (c > n).any() or (np.round(c) != c).any() or (np.round(n) != n).any():
            raise ValueError("c: counts must be integers with 0 <= c <= n")
    else:
        N, D, p = check_arrays(num_params=4, positive=("N", "D"), N=N, D=D, p=p)
        if (p < 0).any() or (p > 1).any():
            raise ValueError("p: probabilities must lie in [0, 1]")
        p = np.clip(p, eps, 1.0 - eps)
    L = as_array("loss_law(N, D)", law_nd.predict(N, D))
    starts = [np.array([init.theta1, init.theta2, init.theta3, init.theta4])] if init else []
    starts += [np.array(s) for s in STARTS]
    best = None
    for x0 in starts:
        with np.errstate(all="ignore"):
            out = minimize(_neg_loglik, x0, args=(L, n, c, p), jac=True, method="L-BFGS-B",
                           options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9})
        if np.isfinite(out.fun) and (best is None or out.fun < best.fun):
            best = out
        if init is not None and best is out and out.success:
            break  # warm refit: the previous optimum's basin is enough
    if best is None or not np.isfinite(best.x).all():
        raise FitError("Beta law fit: no start reached a finite likelihood")
    gnorm = float(np.abs(best.jac).max())
    if gnorm > 1e-3 * max(1.0, np.sqrt(len(L))):
        raise FitError(f"Beta law fit did not converge (max |grad| = {gnorm:.3g}: {best.message})")
    info = {"neg_loglik": float(best.fun), "max_abs_grad": gnorm, "num_rows": len(L),
            "likelihood": "beta" if n is None else "beta-binomial"}
    t1, t2, t3, t4 = (float(v) for v in best.x)
    return T2BetaLaw(t1, t2, t3, t4, law_nd, info=info)

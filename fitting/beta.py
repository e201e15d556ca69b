"""T² Approach 2: fit the Beta law of per-problem accuracy by maximum likelihood.

    law = fit_t2_beta(N, D, n=n, c=c, loss_law=chin)   # beta-binomial on sampled counts
    law = fit_t2_beta(N, D, p=p, loss_law=chin)        # Beta on likelihood-based p_i (clipped)
    law = fit_t2_beta_rows(N, D, n=n, c=c)             # loss surface fitted from the same rows
    law.predict(N, D, k)                               # 1 - B(a, b+k) / B(a, b)

One row per (checkpoint, problem); a checkpoint is a distinct (N, D). ``loss_law`` gives
``L(N, D)`` (a ``ChinchillaLaw`` of the task loss, or a ``T2LossLaw`` taken at k = 1); without
it the loss surface is fitted to the checkpoints' mean ``-log p_hat`` (``checkpoint_loss``).
Roberts et al. 2026 (arXiv 2604.01411) for the law; Schaeffer et al. 2025 (arXiv 2502.17578) for
why the per-problem distribution forecasts pass@k.

Speed: rows sharing a checkpoint share (a, b), so the likelihood is summed per checkpoint:
through the sufficient statistics sum log p and sum log(1 - p) (Beta), or, for counts, as
rising factorials sum_i t_i log(a + i) weighted by how many problems have c > i (beta-binomial:
lgamma(c + a) - lgamma(a) = sum_{i<c} log(a + i)). The objective is the same sum, without a
special function per row. All starts (a moment-matched start, a small grid, and ``init``) run
together in one batched L-BFGS (``t2.fitting.lbfgs``) with analytic gradients (digamma);
``t2.fitting.beta_bootstrap`` refits all resamples of a bootstrap in one batch. Clipped p are
censored by default (``fit_t2_beta``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln
from t2.fitting.checks import FitError, as_array, check_arrays
from t2.fitting.fit import fit_chinchilla
from t2.fitting.laws import ChinchillaLaw, T2BetaLaw, T2LossLaw
from t2.fitting.lbfgs import minimize_batch

# Grid starts (theta1..theta4) besides the moment-matched one and ``init``.
STARTS = [(0.0, 0.0, 1.0, 0.0), (2.0, -1.0, 1.0, 0.0), (-2.0, 1.0, 0.0, 0.0),
          (0.0, -2.0, 2.0, -0.5), (1.0, -1.0, -1.0, 0.5)]
MIN_LOSS_CHECKPOINTS = 5   # the loss surface E + A/N^alpha + B/D^beta has 5 parameters
AGREE_RTOL = 1e-7          # starts within this relative objective of the best "agree"


@dataclass(frozen=True)
class _Data:
    """The likelihood's data per group (a distinct checkpoint and n) as sums over its problems.

    Weight-like arrays are (1, ...) or (B, ...): one weighting of the rows per batch row.
    Beta: ``s1, s2`` = sums of log p, log(1 - p) over the ``wm`` problems inside
    (eps, 1 - eps), ``klo``/``khi`` problems at or beyond eps / 1 - eps. Beta-binomial:
    ``ta[g, i]`` = problems with c > i and ``tb[g, i]`` with n - c > i, so that
    sum_j lgamma(c_j + a) - lgamma(a) = sum_i ta_i log(a + i) (cost grows as G x n per start).
    """

    ck: np.ndarray               # (G,) checkpoint of each group
    W: np.ndarray                # (1|B, G) problems per group
    const: np.ndarray            # (1|B,) sum of log C(n, c) (0 for Beta)
    m1: np.ndarray               # (1|B, G) sums of x and x^2 (x = c/n or p): moment start only
    m2: np.ndarray
    n: np.ndarray | None = None  # (G,) samples per problem (beta-binomial)
    s1: np.ndarray | None = None
    s2: np.ndarray | None = None
    wm: np.ndarray | None = None
    klo: np.ndarray | None = None
    khi: np.ndarray | None = None
    eps: float = 0.0             # censoring point of p (0: p at the clip enters as a density)
    ta: np.ndarray | None = None  # (1|B, G, max c)
    tb: np.ndarray | None = None  # (1|B, G, max n - c)

    WEIGHTS = ("W", "const", "m1", "m2", "s1", "s2", "wm", "klo", "khi", "ta", "tb")

    def take(self, rows) -> _Data:
        if self.W.shape[0] == 1:
            return self
        return replace(self, **{k: getattr(self, k)[rows] for k in self.WEIGHTS
                                if getattr(self, k) is not None})

    def scaled(self, W_ck: np.ndarray, logc_ck: np.ndarray) -> _Data:
        """Every bootstrap weighting at once: checkpoint g counted ``W_ck[b, g]`` times."""
        f = W_ck[:, self.ck]
        out = {k: getattr(self, k) * (f[..., None] if k in ("ta", "tb") else f)
               for k in self.WEIGHTS if k != "const" and getattr(self, k) is not None}
        return replace(self, const=W_ck @ logc_ck, **out)


def _tails(g, v, w, num_g, width):
    """[g, i] = total weight of group g's rows with v > i (i < width)."""
    out = np.zeros((num_g, width + 1))
    np.add.at(out, (g, v.astype(int)), w)
    return out[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]


def _compress(ck, num_ck, weights, n=None, c=None, p=None, censor_eps=0.0
              ) -> tuple[_Data, np.ndarray]:
    """Per-group sums of the rows (see ``_Data``) and each checkpoint's sum of log C(n, c)."""
    if p is not None:
        def total(v):
            return np.bincount(ck, weights * v, minlength=num_ck)[None]

        lo, hi = p <= censor_eps, p >= 1.0 - censor_eps
        mid = (~lo & ~hi).astype(float)
        d = _Data(ck=np.arange(num_ck), W=total(np.ones_like(p)), const=np.zeros(1),
                  m1=total(p), m2=total(p * p), s1=total(mid * np.log(p)),
                  s2=total(mid * np.log1p(-p)), wm=total(mid), klo=total(lo.astype(float)),
                  khi=total(hi.astype(float)), eps=censor_eps)
        return d, np.zeros(num_ck)
    groups, g = np.unique(np.column_stack([ck, n]), axis=0, return_inverse=True)
    g, G = g.ravel(), len(groups)
    logc = weights * (gammaln(n + 1) - gammaln(c + 1) - gammaln(n - c + 1))
    x = c / n
    def total(v):
        return np.bincount(g, weights * v, minlength=G)[None]

    d = {"ck": groups[:, 0].astype(int), "W": total(np.ones_like(x)), "m1": total(x),
         "m2": total(x * x), "n": groups[:, 1], "const": np.array([logc.sum()])}
    d["ta"] = _tails(g, c, weights, G, int(c.max()))[None]
    d["tb"] = _tails(g, n - c, weights, G, int((n - c).max()))[None]
    return _Data(**d), np.bincount(ck, logc, minlength=num_ck)


def _rising(t, a):
    """sum_i t[..., i] log(a + i) and its derivative in a, for (S, G) ``a``, (1|S, G, I) ``t``."""
    x = a[..., None] + np.arange(t.shape[-1])
    return (t * np.log(x)).sum(-1), (t / x).sum(-1)


def _log_lower_tail(a, b, lab, dab, x):
    """log I_x(a, b) for small x and its derivatives in a and b, from the series
    I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) (1 + (a + b) x / (a + 1) + O(((a + b) x)^2))."""
    t = (a + b) * x / (a + 1.0)
    v = a * np.log(x) + b * np.log1p(-x) - np.log(a) - lab + np.log1p(t)
    g_a = np.log(x) - 1.0 / a - digamma(a) + dab + x * (1.0 - b) / (a + 1.0) ** 2 / (1.0 + t)
    g_b = np.log1p(-x) - digamma(b) + dab + x / (a + 1.0) / (1.0 + t)
    return v, g_a, g_b


def _loglik(a, b, d: _Data):
    """(S,) log-likelihood and its (S, G) derivatives in a and b."""
    if d.n is None:
        dab = digamma(a + b)
        lab = betaln(a, b)
        ll = (a - 1) * d.s1 + (b - 1) * d.s2 - d.wm * lab
        d_a = d.s1 - d.wm * (digamma(a) - dab)
        d_b = d.s2 - d.wm * (digamma(b) - dab)
        if d.eps > 0:  # censored: P(p <= eps) = I_eps(a, b), P(p >= 1 - eps) = I_eps(b, a)
            for k, (x, y) in ((d.klo, (a, b)), (d.khi, (b, a))):
                v, gx, gy = _log_lower_tail(x, y, lab, dab, d.eps)
                ll, gx, gy = ll + k * v, k * gx, k * gy
                d_a, d_b = (d_a + gx, d_b + gy) if x is a else (d_a + gy, d_b + gx)
        return ll.sum(1), d_a, d_b
    # sum_j log B(c_j + a, n - c_j + b) - log B(a, b): rising factorials of a, b and a + b
    ll = -d.W * (gammaln(d.n + a + b) - gammaln(a + b))
    dn = -d.W * (digamma(d.n + a + b) - digamma(a + b))
    la, ga = _rising(d.ta, a)
    lb, gb = _rising(d.tb, b)
    return ll.sum(1) + la.sum(1) + lb.sum(1), ga + dn, gb + dn


def _nll(theta, L, d: _Data):
    """Negative log-likelihood of each row of ``theta`` (S, 4) and its gradient.

    ``theta`` acts on the centred loss ``L`` ((1 or S, G)): mu = sigmoid(t1 + t2 L),
    nu = exp(t3 + t4 L), a = mu nu, b = (1 - mu) nu. Beta: sum_i (a-1) log p_i +
    (b-1) log(1 - p_i) - log B(a, b); beta-binomial: sum_i log C(n_i, c_i) +
    log B(c_i + a, n_i - c_i + b) - log B(a, b).
    """
    mu = expit(theta[:, :1] + theta[:, 1:2] * L)
    nu = np.exp(np.clip(theta[:, 2:3] + theta[:, 3:4] * L, -50.0, 50.0))
    a = np.maximum(mu * nu, 1e-300)
    b = np.maximum((1.0 - mu) * nu, 1e-300)
    ll, d_a, d_b = _loglik(a, b, d)
    d_mu = (d_a - d_b) * nu * mu * (1.0 - mu)        # da/dmu = nu, db/dmu = -nu
    d_nu = (d_a * mu + d_b * (1.0 - mu)) * nu        # dnu/dz2 = nu
    grad = -np.stack([d_mu.sum(1), (d_mu * L).sum(1), d_nu.sum(1), (d_nu * L).sum(1)], axis=1)
    return -ll - d.const, grad


def _centre(theta, L0: float) -> np.ndarray:
    """theta on L -> theta on L - L0 (and back with -L0)."""
    theta = np.array(theta, float, ndmin=2)
    return theta + np.column_stack([theta[:, 1] * L0, 0 * theta[:, 1], theta[:, 3] * L0,
                                    0 * theta[:, 1]])


def _moment_start(d: _Data, L: np.ndarray) -> np.ndarray:
    """theta (centred) from each group's method-of-moments mean and precision, regressed on its
    (centred) loss ``L``, weighted by its problems."""
    W = d.W[0]
    keep = W > 0                           # a resample may leave a group out
    W, L = W[keep], L[keep]
    m = d.m1[0][keep] / W
    v = np.maximum(d.m2[0][keep] / W - m * m, 1e-12)
    m = np.clip(m, 1e-3, 1 - 1e-3)
    r = v / (m * (1 - m))                  # Beta: 1/(nu+1); beta-binomial: (n+nu)/(n(1+nu))
    if d.n is None:
        nu = 1.0 / np.maximum(r, 1e-6) - 1.0
    else:
        n = d.n[keep]
        rn = r * n
        nu = np.where(rn > 1.0, (n - rn) / np.maximum(rn - 1.0, 1e-12), 1e3)
    nu = np.clip(nu, 0.1, 1e3)
    X = np.column_stack([np.ones_like(L), L]) * np.sqrt(W)[:, None]
    fit = [np.linalg.lstsq(X, y * np.sqrt(W), rcond=None)[0]
           for y in (np.log(m / (1 - m)), np.log(nu))]
    return np.array([fit[0][0], fit[0][1], fit[1][0], fit[1][1]])


def _minimize(starts, L, d: _Data):
    """Batched L-BFGS from every start (a row of ``L``/``d`` per start when they have B rows)."""
    def fun(X, rows):
        return _nll(X, L[rows] if L.shape[0] > 1 else L, d.take(rows))

    with np.errstate(all="ignore"):
        res = minimize_batch(fun, starts, max_iter=2000, ftol=1e-12, indexed=True)
        pol = minimize_batch(fun, res.x, max_iter=2000, ftol=1e-15, gtol=1e-9, memory=20,
                             indexed=True)
    return pol


def _grad_ok(grad, total_weight) -> tuple[bool, float]:
    gnorm = float(np.abs(grad).max())
    return bool(np.isfinite(gnorm) and gnorm <= 1e-3 * max(1.0, np.sqrt(total_weight))), gnorm


def _law(theta_c, L0, f, gnorm, d_w, law_nd, likelihood, **info) -> T2BetaLaw:
    t1, t2, t3, t4 = (float(v) for v in _centre(theta_c, -L0)[0])
    info = {"neg_loglik": float(f), "objective": float(f), "max_abs_grad": gnorm,
            "num_rows": float(np.sum(d_w)), "likelihood": likelihood, **info}
    return T2BetaLaw(t1, t2, t3, t4, law_nd, info=info)


def _as_chinchilla(loss_law) -> ChinchillaLaw:
    if isinstance(loss_law, T2LossLaw):
        return loss_law.chinchilla(k=1.0)
    if isinstance(loss_law, ChinchillaLaw):
        return loss_law
    raise ValueError("loss_law: expected a ChinchillaLaw or T2LossLaw")


def _rows(N, D, n, c, p, eps, num_params=4):
    """Validated row arrays; p clipped to [eps, 1 - eps]."""
    if (p is None) == (n is None or c is None):
        raise ValueError("give either n and c (sampled counts) or p (per-problem probability)")
    if p is None:
        N, D, n, c = check_arrays(num_params=num_params, positive=("N", "D", "n"),
                                  N=N, D=D, n=n, c=c)
        if (c < 0).any() or (c > n).any() or (np.round(c) != c).any() or (np.round(n) != n).any():
            raise ValueError("c: counts must be integers with 0 <= c <= n")
        return N, D, n, c, None
    N, D, p = check_arrays(num_params=num_params, positive=("N", "D"), N=N, D=D, p=p)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("p: probabilities must lie in [0, 1]")
    return N, D, None, None, np.clip(p, eps, 1.0 - eps)


def _checkpoints(N, D, groups=None):
    """(N_ck, D_ck, index of each row's checkpoint): distinct (N, D), or (N, D, group)."""
    keys = [N, D] if groups is None else [N, D, np.unique(groups, return_inverse=True)[1].ravel()]
    uniq, ck = np.unique(np.column_stack(keys), axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], ck.ravel()


def _best_of(starts, Lc, d: _Data):
    """Minimize from every start: (result, objectives, best start, converged, its |grad|)."""
    pol = _minimize(np.array(starts), Lc, d)
    f = np.where(np.isfinite(pol.f) & np.isfinite(pol.x).all(axis=1), pol.f, np.inf)
    best = int(np.argmin(f))
    ok, gnorm = _grad_ok(pol.grad[best], d.W.sum())
    return pol, f, best, ok and bool(np.isfinite(f[best])), gnorm


def fit_t2_beta(N, D, *, n=None, c=None, p=None, loss_law, init: T2BetaLaw | None = None,
                eps: float = 1e-6, censor: bool = True, weights=None) -> T2BetaLaw:
    """Fit ``theta1..theta4`` from per-problem counts (``n``, ``c``) or probabilities ``p``.

    Exactly one of (``n`` and ``c``) or ``p`` must be given. ``p`` is clipped to
    ``[eps, 1 - eps]`` (tiny models have near-zero accuracy; far-tail likelihoods are not
    Beta-distributed). ``censor`` (default): a clipped p enters as the probability of its tail,
    ``P(p <= eps) = I_eps(a, b)`` (or ``P(p >= 1 - eps)``), not as a density at eps; the density
    at the clip (``censor=False``) biases theta when many problems sit there (the T² paper's
    clipped-p recipe). ``weights``: how often each row
    counts (a bootstrap resample's multiplicities; default 1). ``init``: warm refit from that
    law (with the moment start as a fallback) instead of every start. Needs at least two
    checkpoints with different loss; ``FitError`` if no start converges.
    """
    law_nd = _as_chinchilla(loss_law)
    N, D, n, c, p = _rows(N, D, n, c, p, eps)
    weights = np.ones(len(N)) if weights is None else as_array("weights", weights, positive=False)
    if len(weights) != len(N) or (weights < 0).any():
        raise ValueError("weights: expected one non-negative weight per row")
    N_ck, D_ck, ck = _checkpoints(N, D)
    L_ck = as_array("loss_law(N, D)", law_nd.predict(N_ck, D_ck))
    used = np.bincount(ck, weights, minlength=len(N_ck)) > 0
    if np.unique(L_ck[used]).size < 2:
        raise ValueError(f"{int(used.sum())} checkpoint(s) with distinct loss: the Beta law's "
                         "mean and precision need at least 2 checkpoints of different loss")
    d, _ = _compress(ck, len(N_ck), weights, n=n, c=c, p=p,
                     censor_eps=eps if censor and p is not None else 0.0)
    L0 = float(np.average(L_ck[d.ck], weights=d.W[0]))
    Lc = (L_ck - L0)[d.ck][None]
    starts, grid = [_moment_start(d, Lc[0])], list(_centre(STARTS, L0))
    if init is None:
        starts += grid
    else:
        starts.insert(0, _centre([init.theta1, init.theta2, init.theta3, init.theta4], L0)[0])
    pol, f, best, ok, gnorm = _best_of(starts, Lc, d)
    if init is not None and not ok:  # the warm start missed: every start
        pol, f, best, ok, gnorm = _best_of(starts + grid, Lc, d)
    if not np.isfinite(f[best]):
        raise FitError("Beta law fit: no start reached a finite likelihood")
    if not ok:
        raise FitError(f"Beta law fit did not converge (max |grad| = {gnorm:.3g})")
    agree = int((f <= f[best] + AGREE_RTOL * max(1.0, abs(f[best]))).sum())
    extra = {} if p is None else {"p_censored": float(d.klo.sum() + d.khi.sum()) if d.eps else 0.0,
                                  "p_clip": eps, "censor": bool(d.eps)}
    return _law(pol.x[best], L0, f[best], gnorm, d.W, law_nd,
                "beta" if p is not None else "beta-binomial", num_starts=len(starts),
                num_agree=agree, **extra)


def checkpoint_loss(N, D, *, n=None, c=None, p=None, eps: float = 1e-6, groups=None) -> dict:
    """The task loss of each checkpoint: the mean over its problems of ``-log p_hat_i``.

    ``p_hat_i = clip(p_i, eps, 1)`` for likelihood-based p (the gold answer's mean NLL), or
    ``(c_i + 1/2) / (n_i + 1)`` for sampled counts: the Krichevsky–Trofimov estimate, never 0
    (an unsolved problem costs log(2(n + 1)), not infinity). Returns per-checkpoint ``N``,
    ``D``, ``L`` and ``num_problems``; with ``groups`` (runs), a checkpoint is a distinct
    (N, D, run).
    """
    N, D, n, c, p = _rows(N, D, n, c, p, eps, num_params=1)
    N_ck, D_ck, ck = _checkpoints(N, D, groups)
    p_hat = p if p is not None else (c + 0.5) / (n + 1.0)
    count = np.bincount(ck, minlength=len(N_ck)).astype(float)
    L = np.bincount(ck, -np.log(p_hat), minlength=len(N_ck)) / count
    return {"N": N_ck, "D": D_ck, "L": L, "num_problems": count}


def _loss_from_rows(N, D, n, c, p, eps, init=None) -> ChinchillaLaw:
    ckpts = checkpoint_loss(N, D, n=n, c=c, p=p, eps=eps)
    num = len(ckpts["N"])
    if num < MIN_LOSS_CHECKPOINTS:
        raise ValueError(f"{num} checkpoint(s) (distinct N, D): fitting the loss surface needs "
                         f"at least {MIN_LOSS_CHECKPOINTS}; give a fitted loss law instead")
    return fit_chinchilla(ckpts["N"], ckpts["D"], ckpts["L"], init=init)


def fit_t2_beta_rows(N, D, *, n=None, c=None, p=None, loss_law=None, eps: float = 1e-6,
                     censor: bool = True, init: T2BetaLaw | None = None) -> T2BetaLaw:
    """The Beta law of per-problem rows, its loss surface fitted from the same rows unless given.

    Without ``loss_law`` a Chinchilla law is fitted to ``checkpoint_loss`` (warm from
    ``init.loss_law`` when ``init`` is given), then theta by ``fit_t2_beta``. Usable as the
    ``fit_fn`` of ``bootstrap_fit`` and of the extrapolation protocols (train rows only).
    """
    source = "given"
    if loss_law is None:
        loss_law = _loss_from_rows(N, D, n, c, p, eps, init.loss_law if init else None)
        source = "checkpoint mean -log p_hat"
    law = fit_t2_beta(N, D, n=n, c=c, p=p, loss_law=loss_law, init=init, eps=eps, censor=censor)
    law.info["loss_law_source"] = source
    return law

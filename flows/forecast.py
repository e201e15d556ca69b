"""Each round's fit: point laws, a bootstrap ensemble, and forecasts of (N*, D*, k*) at targets.

    state = fit_round(observations, targets, num_bootstrap=32, seed=0, prev=None)
    state.point[t]        # log N*, log D*, log k* at target t (natural logs)
    state.interval(0.8)   # (T, 3, 2) quantiles of the bootstrap forecasts

Observations are checkpoint records (``N, D, val_loss, loss_k={k: L}, run``). With task losses at
two or more k the forecast law is T² Approach 1 (``fit_t2_loss`` on −log pass@k); otherwise the
Chinchilla law of the validation loss (then k* is not defined and its column is NaN). The
report (``t2.flows.report``) adds the Chinchilla fit of the validation loss for comparison.
The bootstrap resamples training runs (a run's decay checkpoints share noise, so they move
together) and refits each replicate warm-started from the point fit: milliseconds per replicate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from t2.fitting.checks import FitError
from t2.fitting.fit import fit_chinchilla, fit_t2_loss

# Fewest checkpoints before a fit is attempted (the T² law has 7 parameters).
MIN_CHECKPOINTS = 7
# A full grid-start fit whenever the data grew by this factor since the last one.
COLD_GROWTH = 1.25


@dataclass
class FitState:
    """One round's fit. ``theta`` rows are replicate parameters (E, A, B, alpha, beta, G, gamma)."""

    kind: str                       # "t2" or "chinchilla"
    law: object                     # point fit (T2LossLaw or ChinchillaLaw)
    theta: np.ndarray               # (B, 7)
    forecasts: np.ndarray           # (B, T, 3) natural-log N*, D*, k*
    point: np.ndarray               # (T, 3)
    targets: list[tuple[float, float]]
    ks: list[int] = field(default_factory=list)
    cold_at: int = 0                # number of checkpoints at the last cold (grid-start) fit

    def interval(self, q: float) -> np.ndarray:
        """(T, 3, 2): the central ``q`` interval of each forecast over replicates."""
        lo, hi = (1 - q) / 2, 1 - (1 - q) / 2
        return np.moveaxis(np.nanquantile(self.forecasts, [lo, hi], axis=0), 0, -1)

    def width(self, q: float) -> np.ndarray:
        """(T,) relative width hi/lo − 1 of each target's N* interval."""
        iv = self.interval(q)[:, 0, :]
        return np.exp(iv[:, 1] - iv[:, 0]) - 1.0



def law_theta(law) -> np.ndarray:
    return np.array([law.E, law.A, law.B, law.alpha, law.beta,
                     getattr(law, "G", 0.0), getattr(law, "gamma", 0.0)], dtype=float)


def predict_theta(theta: np.ndarray, N, D, ks) -> np.ndarray:
    """Vectorized law: theta (B, 7), N and D (M,), ks (K,) -> (B, M, K)."""
    E, A, B, a, b, G, g = (theta[:, i, None, None] for i in range(7))
    N = np.asarray(N, float)[None, :, None]
    D = np.asarray(D, float)[None, :, None]
    k = np.asarray(ks, float)[None, None, :]
    return E + A * N ** -a + B * D ** -b + G * k ** -g


def allocate(theta: np.ndarray, c_train: float, c_inf: float, iters: int = 40) -> np.ndarray:
    """(B, 3) natural-log N*, D*, k* minimizing the law at D = C_train/6N, k = C_inf/2N.

    In u = log N the objective A e^{-alpha u} + B' e^{beta u} + G' e^{gamma u} is convex
    (REFERENCE §3, derived), so Newton on the log of the first-order condition converges from the
    Chinchilla closed form in a few steps; vectorized over replicates for the acquisition.
    """
    A, B, a, b, G, g = (theta[:, i] for i in (1, 2, 3, 4, 5, 6))
    logBp = np.log(B) + b * math.log(6.0 / c_train)
    with np.errstate(divide="ignore"):
        logGp = np.where(G > 0, np.log(np.maximum(G, 1e-300)) + g * math.log(2.0 / c_inf), -np.inf)
    u = (np.log(a * A) - np.log(b) - logBp) / (a + b)  # G = 0 optimum
    for _ in range(iters):
        t1 = np.log(b) + logBp + b * u
        t2 = np.where(np.isfinite(logGp), np.log(np.maximum(g, 1e-300)) + logGp + g * u, -np.inf)
        right = np.logaddexp(t1, t2)
        res = right - (np.log(a * A) - a * u)
        w1, w2 = np.exp(t1 - right), np.exp(t2 - right)
        slope = w1 * b + w2 * g + a
        step = np.clip(res / slope, -5.0, 5.0)
        u = u - step
        if np.all(np.abs(step) < 1e-10):
            break
    logN = np.minimum(u, math.log(c_inf / 2.0))  # k >= 1, as in t2.fitting.optimal
    logD = math.log(c_train / 6.0) - logN
    logk = np.where(G > 0, math.log(c_inf / 2.0) - logN, np.nan)
    return np.stack([logN, logD, logk], axis=-1)


def forecast_all(theta: np.ndarray, targets) -> np.ndarray:
    """(B, T, 3) forecasts for every replicate and target (NaN where a replicate is degenerate,
    e.g. a zero coefficient; quantiles skip those)."""
    with np.errstate(all="ignore"):
        return np.stack([allocate(theta, ct, ci) for ct, ci in targets], axis=1)


def _arrays(obs: list[dict], rows: np.ndarray | None = None):
    """Flatten checkpoint records into fit arrays; ``rows`` picks (and repeats) checkpoints."""
    picked = obs if rows is None else [obs[i] for i in rows]
    N = np.array([o["N"] for o in picked], float)
    D = np.array([o["D"] for o in picked], float)
    V = np.array([o["val_loss"] for o in picked], float)
    tN, tD, tk, tL = [], [], [], []
    for o in picked:
        for k, L in sorted(o.get("loss_k", {}).items(), key=lambda kv: int(kv[0])):
            tN.append(o["N"]), tD.append(o["D"]), tk.append(float(k)), tL.append(L)
    return N, D, V, (np.array(tN), np.array(tD), np.array(tk), np.array(tL))


def _group_counts(obs: list[dict], rng: np.random.Generator, num: int) -> np.ndarray:
    """(num, M) how often each checkpoint appears in each run-level bootstrap resample."""
    runs = sorted({o["run"] for o in obs})
    where = np.array([runs.index(o["run"]) for o in obs])
    picks = rng.integers(0, len(runs), size=(num, len(runs)))
    run_counts = np.stack([np.bincount(p, minlength=len(runs)) for p in picks])
    return run_counts[:, where].astype(float)


def _to_free(theta: np.ndarray) -> np.ndarray:
    """(B, 7) law parameters -> fit space (log E, log A, log B, log G, alpha, beta, gamma)."""
    E, A, B, a, b, G, g = theta.T
    return np.stack([np.log(E), np.log(A), np.log(B), np.log(np.maximum(G, 1e-300)), a, b, g], 1)


def _from_free(p: np.ndarray) -> np.ndarray:
    return np.stack([np.exp(p[:, 0]), np.exp(p[:, 1]), np.exp(p[:, 2]), p[:, 4], p[:, 5],
                     np.exp(p[:, 3]), p[:, 6]], 1)


def _residual_jacobian(p: np.ndarray, X: np.ndarray, y: np.ndarray):
    """Residuals (B, M) of log L and the Jacobian (B, M, 7) of the log prediction in fit space."""
    lnN, lnD, lnk = X.T
    terms = np.stack([p[:, 0, None] + 0 * lnN, p[:, 1, None] - p[:, 4, None] * lnN,
                      p[:, 2, None] - p[:, 5, None] * lnD,
                      p[:, 3, None] - p[:, 6, None] * lnk], -1)           # (B, M, 4)
    pred = np.logaddexp.reduce(terms, axis=-1)
    w = np.exp(terms - pred[..., None])
    J = np.stack([w[..., 0], w[..., 1], w[..., 2], w[..., 3], -w[..., 1] * lnN,
                  -w[..., 2] * lnD, -w[..., 3] * lnk], -1)
    return y[None, :] - pred, J


def refit_bootstrap(law, X: np.ndarray, y: np.ndarray, counts: np.ndarray, free: np.ndarray,
                    max_iter: int = 60) -> np.ndarray:
    """Bootstrap replicates refitted together, warm-started from the point fit.

    All replicates (rows re-weighted by their resample counts) run one batched
    Levenberg-Marquardt least-squares fit in the same log space as ``t2.fitting.fit``; replicate
    0 is the full data, and its offset from the point fit (a Huber fit) is removed from every
    replicate so the ensemble centres on the point fit. This is the per-round acquisition
    ensemble, where a few dozen sequential refits per round would dominate the loop; the report's
    intervals use ``t2.fitting.bootstrap.bootstrap_fit``. ``free`` masks the parameters that move
    (G, gamma stay fixed for a Chinchilla law). Returns (B, 7) law parameters of usable replicates.
    """
    weights = np.vstack([np.ones(len(y)), counts])
    p0 = _to_free(law_theta(law)[None, :])[0]
    p = np.repeat(p0[None, :], len(weights), axis=0)
    idx = np.flatnonzero(free)
    eye = np.eye(len(idx))
    lam = np.full(len(weights), 1e-3)

    def cost_of(q):
        r, _ = _residual_jacobian(q, X, y)
        return np.einsum("bm,bm->b", weights, r * r)

    cost = cost_of(p)
    for _ in range(max_iter):
        r, J = _residual_jacobian(p, X, y)
        J = J[..., idx]
        H = np.einsum("bm,bmi,bmj->bij", weights, J, J)
        g = np.einsum("bm,bmi,bm->bi", weights, J, r)
        diag = np.einsum("bii->bi", H)[:, :, None] * eye
        step = np.linalg.solve(H + lam[:, None, None] * diag + 1e-12 * eye, g[..., None])[..., 0]
        trial = p.copy()
        trial[:, idx] += np.clip(step, -2.0, 2.0)
        new = cost_of(trial)
        better = np.isfinite(new) & (new < cost)
        p[better] = trial[better]
        lam = np.where(better, lam / 3.0, lam * 5.0)
        gain = np.where(better, cost - new, 0.0)
        cost = np.where(better, new, cost)
        if np.all(gain <= 1e-12 * np.maximum(cost, 1e-300)) and np.all(lam < 1e6):
            break
    p[1:, idx] += p0[idx] - p[0, idx]
    theta = _from_free(p[1:])
    ok = np.all(np.isfinite(theta), axis=1) & (theta[:, 3] > 0) & (theta[:, 4] > 0)
    return theta[ok]


def _best_fit(fit_fn, arrays, init, cold: bool):
    """Warm refit from the previous round's law; also a full grid-start fit when ``cold`` (the
    data grew enough that the previous basin may be the wrong one). The lower objective wins."""
    fits = []
    if init is not None:
        try:
            fits.append(fit_fn(*arrays, init=init))
        except FitError:
            cold = True
    if cold or not fits:
        fits.append(fit_fn(*arrays))
    return min(fits, key=lambda law: law.info["objective"])


def _design(obs: list[dict], kind: str):
    """Fit rows as (X = log N, log D, log k; y = log L) and the checkpoint of each row."""
    X, y, row_of = [], [], []
    for i, o in enumerate(obs):
        pairs = o.get("loss_k", {}).items() if kind == "t2" else [("1", o["val_loss"])]
        for k, L in pairs:
            X.append((math.log(o["N"]), math.log(o["D"]), math.log(float(k))))
            y.append(math.log(L))
            row_of.append(i)
    return np.array(X), np.array(y), np.array(row_of)


def fit_round(obs: list[dict], targets, *, num_bootstrap: int = 32, seed: int = 0,
              prev: FitState | None = None) -> FitState | None:
    """Fit the point laws and the bootstrap ensemble; None while the data cannot support a fit."""
    if len(obs) < MIN_CHECKPOINTS or len({o["N"] for o in obs}) < 3:
        return None
    arrays = _arrays(obs)
    ks = sorted({int(k) for o in obs for k in o.get("loss_k", {})})
    kind = "t2" if len(ks) >= 2 else "chinchilla"
    cold = prev is None or prev.kind != kind or len(obs) >= COLD_GROWTH * prev.cold_at
    try:
        init = prev.law if prev and prev.kind == kind else None
        law = _best_fit(fit_t2_loss if kind == "t2" else fit_chinchilla,
                        arrays[3] if kind == "t2" else arrays[:3], init, cold)
    except FitError:
        return None
    X, y, row_of = _design(obs, kind)
    counts = _group_counts(obs, np.random.default_rng(seed), num_bootstrap)[:, row_of]
    free = np.array([1, 1, 1, kind == "t2", 1, 1, kind == "t2"], dtype=bool)
    theta = np.vstack([law_theta(law)[None, :], refit_bootstrap(law, X, y, counts, free)])
    forecasts = forecast_all(theta, targets)
    return FitState(kind=kind, law=law, theta=theta, forecasts=forecasts,
                    point=forecasts[0], targets=list(targets), ks=ks,
                    cold_at=len(obs) if cold else prev.cold_at)

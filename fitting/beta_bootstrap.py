"""Bootstrap of the T² Beta law over runs: the loss surface and theta refitted per resample.

    bs = bootstrap_t2_beta({"N": N, "D": D, "n": n, "c": c}, groups=run, num_samples=32)
    bs.intervals(0.95)["theta2"]; [lw.loss_law for lw in bs.laws]   # each resample's surface

Resamples are drawn as ``bootstrap_fit`` draws them (``resample_counts`` over runs), so a
replicate pairs with the loss-law replicate of the same runs and seed. All resamples' theta are
refitted in one batched L-BFGS from the full-data fit, on the compressed likelihood of
``t2.fitting.beta`` (a resample only reweights checkpoints); a refit that does not converge is
redone from every start. Roberts et al. 2026 (arXiv 2604.01411) for the law.
"""

from __future__ import annotations

import numpy as np
from t2.fitting.beta import (
    _as_chinchilla,
    _centre,
    _checkpoints,
    _compress,
    _Data,
    _grad_ok,
    _law,
    _minimize,
    _rows,
    checkpoint_loss,
    fit_t2_beta,
    fit_t2_beta_rows,
)
from t2.fitting.bootstrap import Bootstrap, resample_counts
from t2.fitting.checks import FitError
from t2.fitting.fit import fit_chinchilla
from t2.fitting.laws import T2BetaLaw

BATCH_CELLS = 4_000_000    # refits batched up to this many cells per likelihood array


def _group_of_checkpoints(groups, ck, num_ck) -> np.ndarray:
    """The run of each checkpoint (its rows share one by construction)."""
    out = np.empty(num_ck, dtype=groups.dtype)
    out[ck] = groups
    return out


def _refit_batch(law, loss_laws, d: _Data, logc_ck, N_ck, D_ck, W_ck, L0) -> list:
    """Warm refits of the resamples in batches of at most ``BATCH_CELLS`` array cells; None
    where a refit did not converge."""
    idx = [b for b, lw in enumerate(loss_laws) if lw is not None]
    out = [None] * len(loss_laws)
    size = max(1, BATCH_CELLS // max(d.W.size if d.ta is None else d.ta.size + d.tb.size, 1))
    for i in range(0, len(idx), size):
        _refit_chunk(law, loss_laws, d, logc_ck, N_ck, D_ck, W_ck, L0, idx[i:i + size], out)
    return out


def _refit_chunk(law, loss_laws, d, logc_ck, N_ck, D_ck, W_ck, L0, idx, out) -> None:
    L = np.stack([loss_laws[b].predict(N_ck, D_ck)[d.ck] - L0 for b in idx])
    db = d.scaled(W_ck[idx], logc_ck)
    start = _centre([law.theta1, law.theta2, law.theta3, law.theta4], L0)
    pol = _minimize(np.repeat(start, len(idx), axis=0), L, db)
    for j, b in enumerate(idx):
        ok, gnorm = _grad_ok(pol.grad[j], db.W[j].sum())
        if ok and np.isfinite(pol.f[j]) and np.isfinite(pol.x[j]).all():
            out[b] = _law(pol.x[j], L0, pol.f[j], gnorm, db.W[j], loss_laws[b],
                          law.info.get("likelihood", ""), num_starts=1)


def bootstrap_t2_beta(arrays: dict, groups=None, *, num_samples: int = 200, seed: int = 0,
                      loss_law=None, law: T2BetaLaw | None = None, eps: float = 1e-6,
                      censor: bool = True, replicate_loss_laws: list | None = None,
                      max_failed_frac: float = 0.2, strata=None) -> Bootstrap:
    """Resample runs and refit the loss surface and theta per resample (warm, batched).

    ``arrays``: per-problem rows ``N, D`` and ``n, c`` or ``p``; ``groups``: each row's run
    (default: one per distinct (N, D)); two runs at one (N, D) are two checkpoints here, each
    with its own mean ``-log p_hat`` in the loss-surface refits. Resample b draws runs
    exactly as ``bootstrap_fit`` does (``resample_counts``), so it pairs with a loss-law
    bootstrap of the same runs and seed. Without ``loss_law`` the surface is fitted to
    ``checkpoint_loss`` and refitted per resample (``fit_chinchilla.refit_weighted``); a given
    ``loss_law`` is held fixed (its own uncertainty is then not in the intervals), unless
    ``replicate_loss_laws`` gives resample b's surface (e.g. the k = 1 surface of the Approach-1
    bootstrap's replicate b, drawn with the same runs and seed; None: that resample fails).
    Each bootstrap law carries its own loss law. ``FitError`` if more than ``max_failed_frac``
    refits fail (``max_failed_frac=1`` never raises: count ``num_failed`` instead).
    ``strata`` (one label per row): resample runs within each stratum, as ``resample_counts``.
    """
    N, D, n, c, p = _rows(arrays["N"], arrays["D"], arrays.get("n"), arrays.get("c"),
                          arrays.get("p"), eps)
    groups = _checkpoints(N, D)[2] if groups is None else np.asarray(groups)
    if groups.shape != N.shape:
        raise ValueError(f"groups: expected one per row ({N.size}), got {groups.size}")
    N_ck, D_ck, ck = _checkpoints(N, D, groups)
    ck_groups = _group_of_checkpoints(groups, ck, len(N_ck))
    if np.unique(ck_groups).size < 2:
        raise ValueError("groups: need at least 2 distinct runs to resample")
    if num_samples < 1:
        raise ValueError("num_samples: must be >= 1")
    rows = {"N": N, "D": D, "n": n, "c": c, "p": p}
    if law is None:
        law = fit_t2_beta_rows(**rows, loss_law=loss_law, eps=eps, censor=censor)
    W_ck = resample_counts(ck_groups, num_samples, seed,
                           None if strata is None else _group_of_checkpoints(
                               np.asarray(strata), ck, len(N_ck)))
    if replicate_loss_laws is not None:
        if len(replicate_loss_laws) != num_samples:
            raise ValueError(f"replicate_loss_laws: expected {num_samples}, got "
                             f"{len(replicate_loss_laws)}")
        loss_laws = [None if lw is None else _as_chinchilla(lw) for lw in replicate_loss_laws]
    elif loss_law is None:
        ckpts = checkpoint_loss(N, D, n=n, c=c, p=p, eps=eps, groups=groups)
        loss_laws = fit_chinchilla.refit_weighted(law.loss_law, ckpts, W_ck)
    else:
        loss_laws = [_as_chinchilla(loss_law)] * num_samples
    d, logc_ck = _compress(ck, len(N_ck), np.ones(len(N)), n=n, c=c, p=p,
                           censor_eps=eps if censor and p is not None else 0.0)
    L0 = float(np.average(law.loss_law.predict(N_ck, D_ck)[d.ck], weights=d.W[0]))
    reps = _refit_batch(law, loss_laws, d, logc_ck, N_ck, D_ck, W_ck, L0)
    for b, rep in enumerate(reps):
        if rep is None and loss_laws[b] is not None:  # warm start failed: every start
            try:
                reps[b] = fit_t2_beta(N, D, n=n, c=c, p=p, loss_law=loss_laws[b], eps=eps,
                                      censor=censor, weights=W_ck[b, ck])
            except (FitError, ValueError):
                pass
    laws = [r for r in reps if r is not None]
    num_failed = num_samples - len(laws)
    if num_failed > max_failed_frac * num_samples:
        raise FitError(f"bootstrap: {num_failed} of {num_samples} refits failed")
    return Bootstrap(law=law, laws=laws, num_failed=num_failed, replicates=reps)

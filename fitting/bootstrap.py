"""Bootstrap over training runs: refit on resampled runs, percentile intervals for anything.

    bs = bootstrap_fit(fit_chinchilla, {"N": N, "D": D, "L": L}, groups=run_id, num_samples=200)
    bs.intervals(0.95)["alpha"]                                   # (lo, hi)
    bs.interval(lambda law: optimal_allocation(law, 1e21, 1e9).N)  # interval of N*

Runs (``groups``), not points, are resampled with replacement (points of one run share its
noise; ``resample_counts``). Every refit is warm-started from the full-data fit and minimizes the
same objective on the resampled rows; the Chinchilla and T² loss laws refit all resamples in one
batched L-BFGS (``refit_weighted``), the Beta law one by one. Seeds are fixed per resample, so
results depend neither on the number of resamples drawn after it nor on the number of workers.
"""

from __future__ import annotations

import inspect
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from t2.fitting.checks import FitError


@dataclass(frozen=True)
class Bootstrap:
    """The full-data law, the resampled laws, and how many refits failed."""

    law: object
    laws: list = field(repr=False)
    num_failed: int = 0
    # every resample's refit in draw order, None where it failed (to pair resamples of two fits)
    replicates: list = field(default_factory=list, repr=False, compare=False)

    @property
    def samples(self) -> dict[str, np.ndarray]:
        """Parameter name -> array of resampled values."""
        return {k: np.array([lw.params[k] for lw in self.laws]) for k in self.law.params}

    def intervals(self, q: float = 0.95) -> dict[str, tuple[float, float]]:
        """Central ``q`` percentile interval for every parameter."""
        from t2.fitting.forecast import central_interval

        return {k: tuple(float(x) for x in central_interval(v, q))
                for k, v in self.samples.items()}

    def interval(self, fn, q: float = 0.95):
        """Central ``q`` interval of ``fn(law)`` over the resampled laws (arrays per element)."""
        from t2.fitting.forecast import central_interval

        lo, hi = central_interval([np.asarray(fn(lw), float) for lw in self.laws], q)
        return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def _accepts_init(fit_fn) -> bool:
    try:
        return "init" in inspect.signature(fit_fn).parameters
    except (TypeError, ValueError):
        return False


def resample_counts(groups, num_samples: int, seed: int = 0, strata=None) -> np.ndarray:
    """(num_samples, n) how often each row appears in each resample of its groups (runs).

    Resample b draws ``len(unique(groups))`` groups with replacement from its own seed (the b-th
    of ``SeedSequence(seed)``), so a replicate does not depend on how many others are drawn.
    ``strata`` (one label per row, constant within a group, e.g. each row's model size):
    a stratified bootstrap, each stratum's groups drawn from that stratum only, as many as it
    has, so every resample keeps every stratum (every size of the design).
    """
    groups = np.asarray(groups)
    uniq, where = np.unique(groups, return_inverse=True)
    where = where.ravel()
    if strata is None:
        members = [np.arange(uniq.size)]
    else:
        strata = np.asarray(strata)
        if strata.shape != groups.shape:
            raise ValueError(f"strata: expected one per row ({groups.size}), got {strata.size}")
        strata = strata.ravel()
        of_group = np.empty(uniq.size, dtype=strata.dtype)
        of_group[where] = strata
        if (of_group[where] != strata).any():
            raise ValueError("strata: a group's rows must share one stratum")
        members = [np.flatnonzero(of_group == s) for s in np.unique(of_group)]
    seeds = np.random.SeedSequence(seed).generate_state(num_samples)
    counts = np.empty((num_samples, groups.size))
    for b, s in enumerate(seeds):
        rng = np.random.default_rng(int(s))
        picks = np.concatenate([m[rng.integers(0, m.size, size=m.size)] for m in members])
        counts[b] = np.bincount(picks, minlength=uniq.size)[where]
    return counts


def _refit_rows(fit_fn, arrays, W, init):
    """Refit on each resample (rows repeated by their counts); failed fits come back as None."""
    out = []
    for w in W:
        rows = np.repeat(np.arange(w.size), w.astype(int))
        kwargs = {k: v[rows] for k, v in arrays.items()}
        if init is not None:
            kwargs["init"] = init
        try:
            out.append(fit_fn(**kwargs))
        except (FitError, ValueError):
            out.append(None)  # e.g. a resample with too few distinct runs
    return out


def _refit(fit_fn, arrays, W, law, workers):
    """Every resample's refit: one batched call when the law has one (``refit_weighted``),
    else one warm-started ``fit_fn`` call per resample, in processes when they are slow."""
    batched = getattr(fit_fn, "refit_weighted", None)
    if batched is not None:
        return batched(law, arrays, W)
    init = law if _accepts_init(fit_fn) else None
    t0 = time.perf_counter()
    first = _refit_rows(fit_fn, arrays, W[:1], init)
    per_fit = time.perf_counter() - t0
    if workers is None:
        workers = (os.cpu_count() or 1) if per_fit * len(W) > 5.0 else 1
    rest = W[1:]
    if workers <= 1 or len(rest) <= workers:
        return first + _refit_rows(fit_fn, arrays, rest, init)
    chunks = [np.arange(i, len(rest), workers) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_refit_rows, [fit_fn] * workers, [arrays] * workers,
                              [rest[c] for c in chunks], [init] * workers))
    by_row = {int(i): lw for c, part in zip(chunks, parts) for i, lw in zip(c, part)}
    return first + [by_row[i] for i in range(len(rest))]


def bootstrap_fit(fit_fn, arrays: dict, groups, num_samples: int = 200, seed: int = 0,
                  workers: int | None = None, max_failed_frac: float = 0.2,
                  law=None, strata=None) -> Bootstrap:
    """Resample runs ``num_samples`` times and refit with ``fit_fn(**arrays[, init=law])``.

    ``law``: the full-data fit when the caller has it (else ``fit_fn(**arrays)``); every refit
    starts from it. Laws with a batched refit (Chinchilla, T² loss) refit all resamples in one
    call; others refit one by one, serially when that is quick and in ``workers`` processes
    otherwise (``fit_fn`` must then be picklable: a module-level function or
    ``functools.partial``). Raises ``FitError`` if more than ``max_failed_frac`` refits fail.
    ``strata``: resample groups within each stratum (``resample_counts``).
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    groups = np.asarray(groups)
    lengths = {len(v) for v in arrays.values()} | {len(groups)}
    if len(lengths) != 1:
        raise ValueError(f"bootstrap_fit: arrays and groups must have equal lengths, got {lengths}")
    if num_samples < 1:
        raise ValueError("num_samples: must be >= 1")
    if np.unique(groups).size < 2:
        raise ValueError("groups: need at least 2 distinct runs to resample")
    law = fit_fn(**arrays) if law is None else law
    results = _refit(fit_fn, arrays, resample_counts(groups, num_samples, seed, strata), law,
                     workers)
    laws = [lw for lw in results if lw is not None]
    num_failed = len(results) - len(laws)
    if num_failed > max_failed_frac * num_samples:
        raise FitError(f"bootstrap: {num_failed} of {num_samples} refits failed")
    return Bootstrap(law=law, laws=laws, num_failed=num_failed, replicates=list(results))

"""Bootstrap over training runs: refit on resampled runs, percentile intervals for anything.

    bs = bootstrap_fit(fit_chinchilla, {"N": N, "D": D, "L": L}, groups=run_id, num_samples=200)
    bs.intervals(0.95)["alpha"]                                   # (lo, hi)
    bs.interval(lambda law: optimal_allocation(law, 1e21, 1e9).N)  # interval of N*

Runs (``groups``), not points, are resampled with replacement (points of one run share its
noise). Every refit is warm-started from the full-data fit (``init=``), so a refit costs
milliseconds; seeds are fixed per sample, so results do not depend on the number of workers.
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

    @property
    def samples(self) -> dict[str, np.ndarray]:
        """Parameter name -> array of resampled values."""
        return {k: np.array([lw.params[k] for lw in self.laws]) for k in self.law.params}

    def intervals(self, q: float = 0.95) -> dict[str, tuple[float, float]]:
        """Central ``q`` percentile interval for every parameter."""
        lo, hi = 50 * (1 - q), 50 * (1 + q)
        return {k: (float(np.percentile(v, lo)), float(np.percentile(v, hi)))
                for k, v in self.samples.items()}

    def interval(self, fn, q: float = 0.95):
        """Central ``q`` interval of ``fn(law)`` over the resampled laws (arrays per element)."""
        vals = np.array([np.asarray(fn(lw), float) for lw in self.laws])
        lo, hi = np.percentile(vals, [50 * (1 - q), 50 * (1 + q)], axis=0)
        return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def _accepts_init(fit_fn) -> bool:
    try:
        return "init" in inspect.signature(fit_fn).parameters
    except (TypeError, ValueError):
        return False


def _refit_many(fit_fn, arrays, groups, seeds, init):
    """Refit on each seed's resample of runs; failed fits come back as None."""
    uniq = np.unique(groups)
    rows_of = {g: np.flatnonzero(groups == g) for g in uniq}
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rows = np.concatenate([rows_of[g] for g in rng.choice(uniq, size=uniq.size)])
        kwargs = {k: v[rows] for k, v in arrays.items()}
        if init is not None:
            kwargs["init"] = init
        try:
            out.append(fit_fn(**kwargs))
        except (FitError, ValueError):
            out.append(None)  # e.g. a resample with too few distinct runs
    return out


def bootstrap_fit(fit_fn, arrays: dict, groups, num_samples: int = 200, seed: int = 0,
                  workers: int | None = None, max_failed_frac: float = 0.2) -> Bootstrap:
    """Resample runs ``num_samples`` times and refit with ``fit_fn(**arrays[, init=law])``.

    ``workers=None`` picks serial when the refits are quick (the usual case thanks to warm
    starts) and processes otherwise; ``fit_fn`` must then be picklable (a module-level function
    or ``functools.partial``). Raises ``FitError`` if more than ``max_failed_frac`` refits fail.
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
    law = fit_fn(**arrays)
    init = law if _accepts_init(fit_fn) else None
    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(num_samples)]
    t0 = time.perf_counter()
    first = _refit_many(fit_fn, arrays, groups, seeds[:1], init)
    per_fit = time.perf_counter() - t0
    num_cpu = os.cpu_count() or 1
    if workers is None:
        workers = num_cpu if per_fit * num_samples > 5.0 else 1
    rest = seeds[1:]
    if workers > 1 and len(rest) > workers:
        chunks = [rest[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_refit_many, [fit_fn] * workers, [arrays] * workers,
                                  [groups] * workers, chunks, [init] * workers))
        by_seed = {s: lw for ch, part in zip(chunks, parts) for s, lw in zip(ch, part)}
        results = first + [by_seed[s] for s in rest]
    else:
        results = first + _refit_many(fit_fn, arrays, groups, rest, init)
    laws = [lw for lw in results if lw is not None]
    num_failed = len(results) - len(laws)
    if num_failed > max_failed_frac * num_samples:
        raise FitError(f"bootstrap: {num_failed} of {num_samples} refits failed")
    return Bootstrap(law=law, laws=laws, num_failed=num_failed)

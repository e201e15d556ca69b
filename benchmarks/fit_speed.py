"""Speed of the 4,500-start Chinchilla fit: t2's batched L-BFGS vs a naive scipy loop.

    .venv/bin/python benchmarks/fit_speed.py [--naive-starts 150]

Both run in one process on the Epoch AI data (240 points). The naive baseline is what a quick
script does: ``scipy.optimize.minimize(method="L-BFGS-B")`` without gradients (finite
differences) on the summed Huber objective, start by start. It runs on an evenly spaced subset of
the grid and is scaled to 4,500 starts. Last line: ``ratio=<naive/t2>``.
"""

import argparse
import os
import time

# One BLAS thread: scipy's L-BFGS-B works on 5-vectors, where a multi-threaded BLAS only adds
# synchronisation (5 ms/iteration under load) and would inflate the ratio 8x. t2 calls no BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from t2.fitting import fit_chinchilla
from t2.fitting.fit import CHINCHILLA_GRID, grid_starts
from t2.fitting.table import read_chinchilla_points

EPOCH_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / \
    "chinchilla_epoch_svg_extracted.csv"


def naive_objective(theta, logN, logD, y, delta):
    """The summed Huber objective as a quick script writes it (plain numpy, no gradient)."""
    e, a, b, alpha, beta = theta
    pred = np.logaddexp(np.logaddexp(a - alpha * logN, b - beta * logD), e)
    r = np.abs(pred - y)
    return np.sum(np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-starts", type=int, default=150)
    args = parser.parse_args()
    N, D, L = read_chinchilla_points(EPOCH_CSV)
    logN, logD, y = np.log(N), np.log(D), np.log(L)
    starts = grid_starts(CHINCHILLA_GRID, ["e", "a", "b", "alpha", "beta"])

    t0 = time.perf_counter()
    law = fit_chinchilla(N, D, L)
    t2_secs = time.perf_counter() - t0

    subset = starts[np.linspace(0, len(starts) - 1, args.naive_starts).astype(int)]
    best = np.inf
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        for x0 in subset:
            res = minimize(naive_objective, x0, args=(logN, logD, y, 1e-3), method="L-BFGS-B")
            best = min(best, res.fun)
    naive_secs = (time.perf_counter() - t0) * len(starts) / len(subset)

    print(f"data: {len(N)} points, {len(starts)} starts")
    print(f"t2: {t2_secs:.2f} s, objective {law.info['objective']!r}, "
          f"E={law.E!r} A={law.A!r} B={law.B!r} alpha={law.alpha!r} beta={law.beta!r}")
    print(f"naive: {naive_secs:.1f} s (scaled from {len(subset)} starts), "
          f"best objective {float(best)!r}")
    print(f"ratio={naive_secs / t2_secs:.1f}")


if __name__ == "__main__":
    main()

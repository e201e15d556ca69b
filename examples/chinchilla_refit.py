"""Refit Chinchilla Approach 3 on Epoch AI's data and reproduce Besiroglu et al. (2024).

    .venv/bin/python examples/chinchilla_refit.py [PATH_TO_CSV]

Data: ``chinchilla_epoch_svg_extracted.csv`` (columns ``Model Size``, ``Training FLOP``, ``loss``);
tokens = FLOP / 6N; the 5 highest-loss points are dropped as Epoch did. Prints the parameters at
full precision beside Epoch's published values, and the compute-optimal allocation at a few budgets.
"""

import sys
import time

from t2.fitting import fit_chinchilla, optimal_allocation
from t2.fitting.table import read_chinchilla_points

DEFAULT_CSV = "/work/shared/data/chinchilla_epoch_svg_extracted.csv"
EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def main(path: str = DEFAULT_CSV) -> None:
    N, D, L = read_chinchilla_points(path)  # the 5 highest losses dropped
    t0 = time.perf_counter()
    law = fit_chinchilla(N, D, L)
    secs = time.perf_counter() - t0
    print(f"fit of {len(N)} points from {law.info['num_starts']} starts in {secs:.2f} s; "
          f"{law.info['num_agree']} starts agree; summed Huber = {law.info['objective']!r}")
    print(f"{'param':>6} {'t2 (full precision)':>24} {'Besiroglu et al.':>17} {'rel diff':>9}")
    for name, ref in EPOCH.items():
        val = law.params[name]
        print(f"{name:>6} {val!r:>24} {ref:>17} {val / ref - 1:>+9.2%}")
    print(f"\n{'C_train':>9} {'N_opt':>10} {'D_opt':>10} {'D/N':>6} {'loss':>7}")
    for c in (1e21, 1e23, 1e25):
        a = optimal_allocation(law, c, 1.0e30)
        print(f"{c:>9.0e} {a.N:>10.3e} {a.D:>10.3e} {a.tokens_per_param:>6.1f} {a.loss:>7.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])

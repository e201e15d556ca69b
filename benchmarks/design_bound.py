"""How early could any design settle? The isoFLOP grid vs a greedy design that knows the law.

    python benchmarks/design_bound.py --laws 24 [--law-seed 1] [--max-seeds 4]

For each law of a family (``t2.flows.executors.prior``) this computes, without simulating a
study, the training FLOPs from which the linearized sd of log N* at the study's targets, for the
fit t2 runs at the true law (the Huber sandwich of ``t2.fitting.design``, 1% seed noise per
run shared by its trunk), is at most tol/1.645 (a 10% tolerance met by ~90% of refits):

- ``grid``: the study's isoFLOP grid schedule, run after run;
- ``oracle``: the grid's opening, then greedily the candidate with the largest variance
  reduction per training FLOP at the *true* law (what active selection does with its bootstrap
  ensemble in place of the truth), over the candidates a study offers with
  ``design.max_seeds=1`` (one run per (N, D); extensions pay only their extra tokens);
- ``oracle+seeds``: the same, each point also offered again with new seeds up to
  ``--max-seeds`` runs.

The oracle columns bound what a selector over that candidate pool can reach with the law known
(greedy, so not the optimum, but within the factors that matter here): where ``oracle`` never
gets there inside the budget, no selector that runs each point once can settle by this
criterion, whatever it does. The last line is ``ratio=<median grid/oracle+seeds>``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
from t2.fitting.design import variance_reduction
from t2.flows.config import load_study
from t2.flows.executors.prior import describe, draw_laws
from t2.flows.family import ratio
from t2.flows.plan import candidates, grid_opening, grid_schedule, run_flops

ROOT = Path(__file__).resolve().parents[1]


def _theta(law) -> np.ndarray:
    return np.array([[law.E, law.A, law.B, law.alpha, law.beta, law.G, law.gamma]])


class _Sd:
    def __init__(self, cfg, sigma: float):
        self.ks, self.sigma = cfg.eval.ks, sigma
        self.targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]

    def __call__(self, theta, observed) -> float:
        _, var = variance_reduction(theta, self.ks, self.targets, observed, [(None, 1.0, 1.0)],
                                    sigma=self.sigma)
        return math.sqrt(var[0])


def grid_flops(cfg, theta, sd, threshold: float) -> float:
    """FLOPs of the grid schedule at which sd first reaches ``threshold`` (sd only falls as
    runs are added at a fixed law)."""
    f, observed, spent = cfg.train.decay_frac, [], 0.0
    for i, req in enumerate(grid_schedule(cfg)):
        observed += [(i, req.N, D) for D in req.Ds]
        spent += run_flops(req, f)
        if sd(theta, observed) <= threshold:
            return spent
    return math.inf


def oracle_flops(cfg, theta, sd, threshold: float) -> float:
    """Greedy variance reduction per FLOP at the true law from the grid's opening, over the
    study's candidates (``design.max_seeds`` of ``cfg``), until sd reaches ``threshold``."""
    f, budget = cfg.train.decay_frac, cfg.budget.train_flops
    observed, runs, spent = [], [], 0.0
    for i, req in enumerate(grid_opening(cfg)):
        observed += [(i, req.N, D) for D in req.Ds]
        runs.append((i, req.N, req.D))
        spent += run_flops(req, f)
    while sd(theta, observed) > threshold:
        held = Counter((N, D) for _, N, D in observed)
        first = [r for r in runs if r[0] >= 0]
        cands = [c for c in candidates(cfg, first, held) if spent + run_flops(c, f) <= budget
                 and (c.seed > 0 or (c.N, c.D) not in held)]
        if not cands:
            return math.inf
        red, _ = variance_reduction(theta, cfg.eval.ks, sd.targets, observed,
                                    [(c.extends, c.N, c.D) for c in cands], sigma=sd.sigma)
        c = cands[int(np.argmax(red / np.array([run_flops(c, f) for c in cands])))]
        spent += run_flops(c, f)
        if c.extends is not None:  # the trunk grows: its longest D moves on
            observed.append((c.extends, c.N, c.D))
            runs = [(n, N, c.D if n == c.extends else D) for n, N, D in runs]
        else:
            number = len(runs) if c.seed == 0 else -len(runs) - 1  # reruns are never extended
            observed.append((number, c.N, c.D))
            runs.append((number, c.N, c.D))
    return spent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--laws", type=int, default=24)
    p.add_argument("--law-seed", type=int, default=2)
    p.add_argument("--study", default=str(ROOT / "examples" / "cluster.yaml"))
    p.add_argument("--max-seeds", type=int, default=4)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--tol", type=float, default=0.10)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study field (as `t2 run --set`), e.g. design.num_ratios=24")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    base = load_study(args.study, ["tracking.enabled=false", *args.set, "design.max_seeds=1"])
    seeds = load_study(args.study, ["tracking.enabled=false", *args.set,
                                    f"design.max_seeds={args.max_seeds}"])
    sd, threshold = _Sd(base, args.noise), args.tol / 1.645
    laws = draw_laws(args.laws, sd.targets, seed=args.law_seed)
    print(f"training FLOPs until sd(log N*) <= {threshold:.4f} at the true law "
          f"({args.laws} laws, law-seed {args.law_seed}, {args.study}, budget "
          f"{base.budget.train_flops:.3g}):")
    print(f"{'law':>4} {'N*':>9} {'D*/N*':>7} {'grid':>9} {'oracle':>9} "
          f"{'+seeds':>9}  {'grid/oracle':>11} {'grid/+seeds':>11}")
    rows = []
    for i, law in enumerate(laws):
        theta, d = _theta(law), describe(law, sd.targets)
        g = grid_flops(base, theta, sd, threshold)
        o = oracle_flops(base, theta, sd, threshold)
        s = oracle_flops(seeds, theta, sd, threshold)
        rows.append((g, o, s))
        print(f"{i:>4} {d['N*']:>9.3g} {d['D*/N*']:>7.0f} {g:>9.3g} {o:>9.3g} {s:>9.3g}  "
              f"{ratio(g, o):>11.2f} {ratio(g, s):>11.2f}", flush=True)
    g, o, s = (np.array(col) for col in zip(*rows))
    print(f"never within the budget: grid {int(np.isinf(g).sum())}, oracle "
          f"{int(np.isinf(o).sum())}, oracle+seeds (max {args.max_seeds}) "
          f"{int(np.isinf(s).sum())} of {len(rows)} laws ({time.perf_counter() - t0:.0f} s)")
    print(f"median grid/oracle {np.median([ratio(a, b) for a, b in zip(g, o)]):.2f}")
    print(f"ratio={np.median([ratio(a, b) for a, b in zip(g, s)]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

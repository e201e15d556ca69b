"""Training FLOPs each selection strategy needs to forecast N* within 10%, in simulation.

    python benchmarks/active_selection.py [--true-law examples/true_law.json] \
        [--study examples/cluster.yaml] [--seeds 5] [--noise 0.01]

Each strategy runs the real study loop (``t2.flows.driver``) with training replaced by draws
from the true law plus noise (default 1% per run on the loss, as between seeds of small models,
shared by the run's decayed checkpoints; ``--noise-mode checkpoint`` draws it per checkpoint).
After every round the forecast N* at each of the study's target budgets is compared with the true
optimum; a strategy "needs" the training FLOPs spent at the first round from which every later
forecast stays within the tolerance at every target (inf if it never settles). Reported: the
median over seeds. The grid baseline is standard practice: the study's compute levels × a fixed
set of sizes spanning the same tokens/param range, cheapest level first, one run per point.
The last line is ``ratio=<grid/active>``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from t2.flows.config import load_study
from t2.flows.driver import run_study, true_optima
from t2.flows.executors.simulated import SimulatedExecutor
from t2.flows.executors.truth import load_true_law

ROOT = Path(__file__).resolve().parents[1]


def flops_to_settle(rounds: list[dict], tol: float) -> float:
    """FLOPs at the first round after which |N* error| <= tol at every target, for good."""
    settled = math.inf
    for rec in reversed([r for r in rounds if r.N_error is not None]):
        if max(abs(e) for e in rec.N_error) > tol:
            break
        settled = rec.flops
    return settled


def run_one(study_path: Path, law, strategy: str, seed: int, noise: float, root: Path,
            noise_mode: str = "run", overrides: tuple[str, ...] = ()) -> dict:
    cfg = load_study(study_path, [f"select.seed={seed}", "select.stop_width=0",
                                  "tracking.enabled=false", f"select.strategy={strategy}",
                                  f"select.noise_per={noise_mode}", *overrides])
    ex = SimulatedExecutor(law, cfg.eval.ks, noise=noise, seed=seed, noise_mode=noise_mode)
    truth = true_optima(law, [(t.c_train, t.c_inf) for t in cfg.budget.targets])
    t0 = time.perf_counter()
    result = run_study(cfg, root, ex, strategy=strategy, truth=truth, log=lambda *a: None)
    return {"rounds": result.rounds, "flops": result.flops, "seconds": time.perf_counter() - t0,
            "final_error": result.rounds[-1].N_error}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--true-law", default=str(ROOT / "examples" / "true_law.json"))
    p.add_argument("--study", default=str(ROOT / "examples" / "cluster.yaml"))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--noise-mode", choices=["checkpoint", "run"], default="run",
                   help="seed noise shared by a run's trunk (default) or drawn per checkpoint")
    p.add_argument("--tol", type=float, default=0.10)
    p.add_argument("--strategies", default="active,grid,random")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study field (as `t2 run --set`), e.g. select.runs_per_round=2")
    args = p.parse_args(argv)
    law = load_true_law(args.true_law)
    strategies = args.strategies.split(",")
    needed = {s: [] for s in strategies}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for s in strategies:
                r = run_one(Path(args.study), law, s, seed, args.noise, Path(tmp) / f"{s}-{seed}",
                            args.noise_mode, tuple(args.set))
                needed[s].append(flops_to_settle(r["rounds"], args.tol))
                err = ", ".join(f"{e:+.1%}" for e in r["final_error"] or [])
                print(f"seed {seed} {s:>6}: settles at {needed[s][-1]:.3g} FLOPs "
                      f"(spent {r['flops']:.3g}, final N* error {err}, {r['seconds']:.0f} s)",
                      flush=True)
    print(f"median training FLOPs until forecast N* stays within {args.tol:.0%} "
          f"(over {args.seeds} seeds, noise {args.noise:.1%} per {args.noise_mode}):")
    med = {s: float(np.median(v)) for s, v in needed.items()}
    for s in strategies:
        print(f"  {s:>6}: {med[s]:.3g}")
    if "grid" in med and "active" in med:
        print(f"ratio={med['grid'] / med['active']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

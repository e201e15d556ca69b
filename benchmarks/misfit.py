"""Can a study see that its law's form is wrong? Residual scales of the fitted form, per law.

    python benchmarks/misfit.py --laws 24 [--law-seed 2] [--draws 2] [--design grid|opening]

For each law of a family (``t2.flows.executors.prior``), of the fitted form and misspecified
(forms: a bend in D, an N–D interaction, a k exponent that drifts with the loss;
``t2.flows.executors.misspecified``), the study's whole isoFLOP grid schedule (``--design
opening``: only the grid's opening, the design every active study fits first) is drawn
``--draws`` times with the study simulator's noise (``--noise`` per run, shared by the run's
checkpoints, σ/4 per checkpoint and σ/4 per k) and the T² Approach 1 law is fitted cold, as a
round does. Two robust residual scales (1.4826·median |r|, r = log predicted − log observed),
each over the noise sd it would have if the form were right:

- ``all``: every row, over the row noise sd σ·√(1 + 2/16); the seed noise of a run is in it;
- ``k-shape``: a checkpoint's rows minus their mean over k, over (σ/4)·√(1 − 1/K): only how
  the loss falls with k at one checkpoint, free of the run's and the checkpoint's noise.

Near 1 the data cannot tell the form is wrong. Beside them the k trend of
``t2.fitting.misfit`` (which needs no noise model: its t and rel, and whether it flags), and the
fit's N* error at the study's first target, and where the k trend flags, the N* error of the law
whose k exponent follows the loss (``t2.fitting.drift``: what a round then forecasts with; the
one-γ fit's elsewhere). ``--drift-shape`` swaps the k-drift laws for drifts of shapes that law
does not have: ``linear`` (γ·max(0.1, 1 + κ·(L_ref − S)), κ at 0.8 of the drawn one) and ``size``
(γ·(N/N*)^0.25, N* the drawn law's optimum), to see the drift law off its own form. The last
line is ``ratio=<smallest k-shape of a
k-drift law / largest of a fitted-form law>``: above 1, a threshold on the k-shape scale
separates the two on this family. ``t2.fitting.misfit``'s thresholds were read off this script
at ``--law-seed 1`` (the development family).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from dataclasses import dataclass

import numpy as np
from t2.fitting.checks import FitError
from t2.fitting.drift import fit_t2_drift
from t2.fitting.fit import fit_t2_loss
from t2.fitting.forecast import forecast
from t2.fitting.misfit import k_trend
from t2.flows.config import load_study
from t2.flows.driver import true_optima
from t2.flows.executors.misspecified import KDriftLaw
from t2.flows.executors.prior import draw_laws
from t2.flows.executors.simulated import SimulatedExecutor
from t2.flows.plan import grid_opening, grid_schedule
from t2.flows.rounds import checkpoint_of_rows, fit_arrays

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LinearDrift(KDriftLaw):
    """k exponent ``gamma·max(0.1, 1 + kappa·(L_ref − S))``: linear in the loss, floored."""

    form = "kdrift-linear"

    def k_exponent(self, N, D, L):
        return self.base.gamma * np.maximum(0.1, 1 + self.kappa * (self.L_ref - L))


@dataclass(frozen=True)
class SizeDrift(KDriftLaw):
    """k exponent ``gamma·(N/N_ref)^nu``: set by the model's size, not its loss (``kappa`` and
    ``L_ref`` unused)."""

    nu: float = 0.25
    N_ref: float = 1e8
    form = "kdrift-size"

    def k_exponent(self, N, D, L):
        return self.base.gamma * np.power(np.asarray(N, float) / self.N_ref, self.nu)


def reshaped(law, shape: str, targets):
    """A k-drift law of the family as ``shape`` (``exp``: as drawn)."""
    if shape == "exp" or type(law) is not KDriftLaw:
        return law
    if shape == "linear":
        return LinearDrift(law.base, kappa=0.8 * law.kappa, L_ref=law.L_ref)
    return SizeDrift(law.base, nu=0.25, N_ref=math.exp(true_optima(law, targets)[0, 0]))


def grid_design(cfg, opening: bool = False) -> list[tuple]:
    """(trial, trunk, N, D) of every checkpoint of the study's isoFLOP grid schedule (or of
    its opening)."""
    runs = grid_opening(cfg) if opening else grid_schedule(cfg)
    return [(i, i, req.N, D) for i, req in enumerate(runs) for D in req.Ds]


def residual_scales(law, obs, sigma: float, ks) -> tuple[float, float]:
    """(all, k-shape): the robust residual scales of ``law`` on ``obs`` over their noise sd."""
    arrays, _ = fit_arrays(obs, "t2")
    r = np.log(law.predict(arrays["N"], arrays["D"], arrays["k"])) - np.log(arrays["L"])
    K = len(ks)
    within = r.reshape(-1, K) - r.reshape(-1, K).mean(axis=1, keepdims=True)
    scale_all = 1.4826 * np.median(np.abs(r - np.median(r))) / (sigma * math.sqrt(1 + 2 / 16))
    scale_k = 1.4826 * np.median(np.abs(within)) / (sigma / 4 * math.sqrt(1 - 1 / K))
    return float(scale_all), float(scale_k)


def measure(cfg, law, draws: int, sigma: float, index: int, opening: bool = False) -> dict:
    """Median over ``draws`` noise draws of the grid design: both scales, the k trend's t and
    rel (and the share of draws it flags), and the N* error."""
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    ex = SimulatedExecutor(law, cfg.eval.ks, noise=sigma, seed=0)
    truth, design = true_optima(law, targets), grid_design(cfg, opening)
    rows = []
    for d in range(draws):
        obs = ex.redraw(design, np.random.default_rng([index, d]))
        arrays, _ = fit_arrays(obs, "t2")
        try:
            fitted = fit_t2_loss(**arrays)
        except (FitError, ValueError):
            continue
        err = math.expm1(float(forecast(fitted, [], targets).point[0, 0] - truth[0, 0]))
        trend = k_trend(fitted, **arrays, checkpoint=checkpoint_of_rows(obs))
        t, rel, flag = ((trend.t, trend.rel, float(trend.flags())) if trend is not None
                        else (math.nan, math.nan, 0.0))
        used = fitted
        if flag:
            try:
                used = fit_t2_drift(**arrays, init=fitted)
            except FitError:
                pass
        drift_err = math.expm1(float(forecast(used, [], targets).point[0, 0] - truth[0, 0]))
        rows.append((*residual_scales(fitted, obs, sigma, cfg.eval.ks), t, rel, flag, err,
                     drift_err))
    keys = ("all", "k", "t", "rel", "flags", "error", "drift_error")
    if not rows:
        return dict.fromkeys(keys, math.nan)
    return dict(zip(keys, (float(v) for v in np.median(np.array(rows), axis=0))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--laws", type=int, default=24)
    p.add_argument("--law-seed", type=int, default=2)
    p.add_argument("--draws", type=int, default=2)
    p.add_argument("--study", default=str(ROOT / "examples" / "cluster.yaml"))
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--design", choices=["grid", "opening"], default="grid")
    p.add_argument("--drift-shape", choices=["exp", "linear", "size"], default="exp",
                   help="the k-drift laws' shape (exp: as drawn, the drift law's own form)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    cfg = load_study(args.study, ["tracking.enabled=false"])
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    opening = args.design == "opening"
    print(f"residual scales over the noise sd, the grid's {'opening' if opening else 'design'} "
          f"({len(grid_design(cfg, opening))} checkpoints), {args.draws} draws per law, "
          f"law-seed {args.law_seed}, {args.study}:")
    print(f"{'family':>12} {'law':>4} {'form':>12} {'all':>6} {'k-shape':>8} {'k-trend t':>9} "
          f"{'rel':>6} {'flags':>5} {'N* error':>9} {'round':>8}")
    by_form: dict[str, list[float]] = {}
    trends: dict[str, list[tuple]] = {}
    errors: dict[str, list[tuple]] = {}
    for mis in (False, True):
        laws = [reshaped(law, args.drift_shape, targets)
                for law in draw_laws(args.laws, targets, seed=args.law_seed, misspecified=mis)]
        for i, law in enumerate(laws):
            form = getattr(law, "form", "fitted")
            m = measure(cfg, law, args.draws, args.noise, i, opening)
            by_form.setdefault(form, []).append(m["k"])
            trends.setdefault(form, []).append((abs(m["t"]), m["rel"], m["flags"]))
            errors.setdefault(form, []).append((abs(m["error"]), abs(m["drift_error"])))
            print(f"{'misspecified' if mis else 'fitted':>12} {i:>4} {form:>12} {m['all']:>6.2f} "
                  f"{m['k']:>8.2f} {m['t']:>+9.2f} {m['rel']:>6.2f} {m['flags']:>5.2f} "
                  f"{m['error']:>+9.1%} {m['drift_error']:>+8.1%}", flush=True)
    for form, ks in by_form.items():
        t, rel, flag = np.array(trends[form]).T
        print(f"k-shape, {form}: median {np.nanmedian(ks):.2f}, range {np.nanmin(ks):.2f}–"
              f"{np.nanmax(ks):.2f} ({len(ks)} laws); k trend |t| {np.nanmin(t):.1f}–"
              f"{np.nanmax(t):.1f}, rel {np.nanmin(rel):.2f}–{np.nanmax(rel):.2f}, flagged on "
              f"{np.mean(flag > 0.5):.0%} of laws")
        one, used = np.array(errors[form]).T
        print(f"  |N* error| one-γ fit median {np.nanmedian(one):.1%} (worst {np.nanmax(one):.1%}),"
              f" the round's law median {np.nanmedian(used):.1%} (worst {np.nanmax(used):.1%}); "
              f"the round's is further off on {np.mean(used > one + 1e-9):.0%} of laws")
    print(f"({time.perf_counter() - t0:.0f} s)")
    drift = next((v for f, v in by_form.items() if f.startswith("kdrift")), [math.nan])
    fitted = by_form["fitted"]
    print(f"ratio={np.nanmin(drift) / np.nanmax(fitted):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A documented prior over true laws: the family a study is simulated on before anyone knows the
law (``t2 simulate STUDY --laws 24``, ``benchmarks/active_selection.py --laws 24``).

    laws = draw_laws(24, targets=[(2.56e19, 2e9)], seed=0)                  # fitted form
    laws = draw_laws(24, targets=[(2.56e19, 2e9)], seed=0, misspecified=True)
    describe(laws[0])        # the drawn quantities: r*, dL, a, alpha, beta, shift, gamma, form

Each law ``E + A/N^alpha + B/D^beta + G/k^gamma`` is drawn through quantities published fits
report, at the study's first target (C_train, C_inf):

- E ~ U(1.5, 2.3): Hoffmann et al. 2022 (arXiv 2203.15556) 1.69; Besiroglu et al. 2024
  (Epoch's refit, arXiv 2404.10102) 1.82; Gadre et al. 2024's C4 runs (arXiv 2403.08540),
  refitted here, 1.62 (their RefinedWeb evaluation 2.16).
- alpha ~ U(0.22, 0.48): Hoffmann 0.34, Epoch 0.348, Gadre refit 0.25, Muennighoff et al. 2023
  (arXiv 2305.16264) 0.35.
- a = beta/(alpha + beta), the exponent of N* ∝ C^a, ~ U(0.42, 0.58): Hoffmann 0.45, Epoch 0.51,
  Gadre 0.51; ≈ 0.5 in Porian et al. 2024 (arXiv 2406.19146) and Pearce & Song 2024
  (arXiv 2406.12907) once Kaplan et al.'s 0.73 is corrected.
- r* = D*/N* of the Chinchilla optimum at C_train ~ log-U(5, 60): Gadre refit 7 (embeddings
  counted), Epoch 24, Hoffmann 35.
- dL = A/N*^alpha + B/D*^beta there ~ U(0.7, 1.5): Epoch 0.94, Hoffmann 1.12, Gadre 1.37.
- s = N*(Chinchilla)/N*(T²) at (C_train, C_inf) ~ log-U(2, 30): Roberts et al. 2026
  (arXiv 2604.01411) find 455–901M against 37M at their worked example, s ≈ 12–24.
- gamma ~ U(0.2, 0.7): around the 0.4 of the worked example's law (``examples/true_law.json``,
  which reproduces the paper's 37M, 3,100 tokens/param, k ≈ 27), wide on both sides.

The prior is this, conditioned on beta in ``BETA_RANGE`` and G in ``G_RANGE`` (a law is drawn
again until both hold).
Given those, A and B follow from the Chinchilla first-order condition (the two terms stand in the
ratio beta : alpha at the optimum) and G from the T² one at N*(Chinchilla)/s, so every law has
its k effect where the study forecasts and its optimum somewhere plausible.
``misspecified=True`` wraps law i in the form ``FORM_CYCLE[i % 3]`` of
``t2.flows.executors.misspecified`` with its own draw:
bend r_bend log-U(40, 400), delta U(0.2, 0.6); interaction p U(1.25, 2); kdrift kappa U(0.5, 1.5)
per nat of loss (L_ref = the loss at the Chinchilla optimum).
"""

from __future__ import annotations

import math

import numpy as np
from t2.flows.executors.misspecified import BentLaw, InteractionLaw, KDriftLaw
from t2.flows.executors.truth import TrueLaw

FORM_CYCLE = ("bend", "interaction", "kdrift")
BETA_RANGE = (0.2, 0.55)   # Hoffmann 0.28 ... Epoch 0.37, with room on both sides
G_RANGE = (0.2, 5.0)       # nats of -log pass@1 the k term adds (the paper's example: G = 3)


def _uniform(rng, lo, hi) -> float:
    return float(rng.uniform(lo, hi))


def _log_uniform(rng, lo, hi) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw_quantities(rng: np.random.Generator) -> dict:
    """One draw of the prior's quantities (the table in the module docstring)."""
    return {"E": _uniform(rng, 1.5, 2.3), "alpha": _uniform(rng, 0.22, 0.48),
            "a": _uniform(rng, 0.42, 0.58), "r_star": _log_uniform(rng, 5.0, 60.0),
            "dL": _uniform(rng, 0.7, 1.5), "shift": _log_uniform(rng, 2.0, 30.0),
            "gamma": _uniform(rng, 0.2, 0.7)}


def law_from_quantities(q: dict, c_train: float, c_inf: float, with_k: bool = True) -> TrueLaw:
    """The law whose Chinchilla optimum at ``c_train`` has ratio r* and reducible loss dL, and
    whose T² optimum at (c_train, c_inf) is N*(Chinchilla)/shift."""
    alpha = q["alpha"]
    beta = alpha * q["a"] / (1.0 - q["a"])
    N = math.sqrt(c_train / (6.0 * q["r_star"]))
    D = q["r_star"] * N
    A = q["dL"] * beta / (alpha + beta) * N**alpha   # alpha A N^-alpha = beta B D^-beta
    B = q["dL"] * alpha / (alpha + beta) * D**beta
    if not with_k:
        return TrueLaw(q["E"], A, B, alpha, beta)
    n = N / q["shift"]
    excess = alpha * A * n**-alpha - beta * B * (6.0 * n / c_train) ** beta
    G = excess / (q["gamma"] * (2.0 * n / c_inf) ** q["gamma"])
    return TrueLaw(q["E"], A, B, alpha, beta, G, q["gamma"])


def misspecify(law: TrueLaw, form: str, rng: np.random.Generator, c_train: float):
    """``law`` bent into ``form`` with that form's own draw (module docstring)."""
    if form == "bend":
        return BentLaw(law, r_bend=_log_uniform(rng, 40.0, 400.0), delta=_uniform(rng, 0.2, 0.6))
    if form == "interaction":
        return InteractionLaw(law, p=_uniform(rng, 1.25, 2.0))
    N = law.loss_law().chinchilla().N_opt(c_train)
    return KDriftLaw(law, kappa=_uniform(rng, 0.5, 1.5),
                     L_ref=float(law.loss(N, c_train / (6.0 * N))))


def draw_laws(num_laws: int, targets, *, seed: int = 0, misspecified: bool = False,
              with_k: bool = True) -> list:
    """``num_laws`` laws from the prior, anchored at the first of ``targets``; law i depends on
    (seed, i) only, so a family of 24 is the first 24 of a family of 48."""
    if num_laws < 1:
        raise ValueError("num_laws: must be >= 1")
    c_train, c_inf = (float(c) for c in targets[0])
    laws = []
    for i in range(num_laws):
        rng = np.random.default_rng([seed, i])
        while True:  # the prior is the table conditioned on a plausible beta and G
            law = law_from_quantities(draw_quantities(rng), c_train, c_inf, with_k)
            if BETA_RANGE[0] <= law.beta <= BETA_RANGE[1] and (
                    not with_k or G_RANGE[0] <= law.G <= G_RANGE[1]):
                break
        if misspecified:
            law = misspecify(law, FORM_CYCLE[i % len(FORM_CYCLE)], rng, c_train)
        laws.append(law)
    return laws


def describe(law, targets) -> dict:
    """What a per-law row shows: form, exponents and the true optimum at the first target."""
    base = getattr(law, "base", law)
    logs = law.optima(targets[:1])[0]
    return {"form": getattr(law, "form", "fitted"), "alpha": base.alpha, "beta": base.beta,
            "N*": float(np.exp(logs[0])), "D*/N*": float(np.exp(logs[1] - logs[0])),
            "k*": float(np.exp(logs[2])), "gamma": base.gamma}

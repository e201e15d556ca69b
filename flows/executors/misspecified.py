"""True laws that are *not* the fitted form, so a simulated study meets the model error of a real
suite (``t2 simulate --true-law LAW.json`` with a ``"form"`` key, or ``--laws M --misspecified``).

    law = BentLaw(TrueLaw(...), r_bend=150.0, delta=0.4)
    law.task_loss(N, D, k); law.optima([(2.56e19, 2e9)])   # optimum of its own function

Each wraps a fitted-form law (``base``: E, A, B, alpha, beta, G, gamma) and bends it one way:

- ``bend``: the data term flattens beyond ``r_bend`` tokens per parameter,
  ``B/D^beta · (1 + D/(r_bend·N))^(beta·delta)``: past the bend the data exponent is
  beta·(1 − delta). Real suites do this: a Chinchilla fit on ≤ 20 tokens/param overvalues the
  tokens of 80–640 tokens/param runs (Gadre et al. 2024, arXiv 2403.08540; Sardana & Frankle
  2024, arXiv 2401.00448); repeated data decays in value past a few epochs (Muennighoff et al.
  2023, arXiv 2305.16264).
- ``interaction``: N and D terms combine as a p-norm, ``(X^p + Y^p)^(1/p)`` with
  X = A/N^alpha, Y = B/D^beta, as in Kaplan et al. 2020's ``[(N_c/N)^(a_N/a_D) + D_c/D]^a_D``
  (arXiv 2001.08361; p = 1 is the additive form).
- ``kdrift``: the k exponent follows the model's loss, gamma·exp(kappa·(L_ref − L(N, D))): a
  better model gains faster from more samples, as the per-problem success distribution's tail
  sets the pass@k exponent (Schaeffer et al. 2025, arXiv 2502.17578; Brown et al. 2024,
  arXiv 2407.21787).

Gadre et al.'s over-training form ``E + (a·M^eta + b·M^−eta)·C^−eta`` (M = D/N, C = 6ND) is the
fitted form with alpha = beta (= 2·eta), so it is a special case, not a misspecification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from t2.flows.executors.truth import TrueLaw, numeric_optima, parse_true_law
from t2.infra.config import ConfigError


@dataclass(frozen=True)
class _Misspecified:
    base: TrueLaw

    @property
    def has_k(self) -> bool:
        return self.base.has_k

    def task_loss(self, N, D, k):
        return self.loss(N, D) + (self.base.G or 0.0) * np.power(k, -(self.base.gamma or 0.0))

    def loss_law(self):
        """The fitted-form law this one deviates from (its optima are not the truth)."""
        return self.base.loss_law()

    def optima(self, targets) -> np.ndarray:
        return numeric_optima(self, targets)

    def to_dict(self) -> dict:
        extra = {k: v for k, v in self.__dict__.items() if k != "base"}
        return {"form": self.form, **self.base.to_dict(), **extra}


@dataclass(frozen=True)
class BentLaw(_Misspecified):
    """Data term ``B/D^beta · (1 + D/(r_bend·N))^(beta·delta)`` (module docstring)."""

    r_bend: float = 150.0
    delta: float = 0.4
    form = "bend"

    def loss(self, N, D):
        b = self.base
        bend = np.power(1.0 + np.asarray(D, float) / (self.r_bend * np.asarray(N, float)),
                        b.beta * self.delta)
        return b.E + b.A * np.power(N, -b.alpha) + b.B * np.power(D, -b.beta) * bend


@dataclass(frozen=True)
class InteractionLaw(_Misspecified):
    """``E + ((A/N^alpha)^p + (B/D^beta)^p)^(1/p)`` (module docstring)."""

    p: float = 1.5
    form = "interaction"

    def loss(self, N, D):
        b = self.base
        X, Y = b.A * np.power(N, -b.alpha), b.B * np.power(D, -b.beta)
        return b.E + np.power(np.power(X, self.p) + np.power(Y, self.p), 1.0 / self.p)


@dataclass(frozen=True)
class KDriftLaw(_Misspecified):
    """``L(N, D) + G/k^(gamma·exp(kappa·(L_ref − L(N, D))))`` (module docstring)."""

    kappa: float = 1.0
    L_ref: float = 2.5
    form = "kdrift"

    def loss(self, N, D):
        return self.base.loss(N, D)

    def k_exponent(self, N, D, L):
        """The k exponent of a model of size N trained on D tokens, whose loss is L."""
        return self.base.gamma * np.exp(self.kappa * (self.L_ref - L))

    def task_loss(self, N, D, k):
        b = self.base
        L = self.loss(N, D)
        if not b.has_k:
            return L + 0.0 * np.asarray(k, float)
        return L + b.G * np.power(k, -self.k_exponent(N, D, L))


FORMS = {"bend": (BentLaw, ("r_bend", "delta")), "interaction": (InteractionLaw, ("p",)),
         "kdrift": (KDriftLaw, ("kappa", "L_ref"))}


def parse_form(data: dict, source: str):
    """A misspecified law from JSON: ``form`` plus the base law's keys and the form's own."""
    form = data.get("form")
    if form not in FORMS:
        raise ConfigError(f"{source}: form: expected one of {', '.join(FORMS)}, got {form!r}")
    cls, keys = FORMS[form]
    missing = [k for k in keys if k not in data]
    if missing:
        raise ConfigError(f"{source}: form {form}: missing {', '.join(missing)}")
    values = {}
    for key in keys:
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
            raise ConfigError(f"{source}: {key}: expected a finite number > 0")
        values[key] = float(v)
    if form == "interaction" and values["p"] < 1:
        raise ConfigError(f"{source}: p: expected >= 1 (1 is the additive form)")
    base = parse_true_law({k: v for k, v in data.items() if k != "form" and k not in keys},
                          source)
    return cls(base, **values)

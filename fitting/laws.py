"""Fitted scaling laws as frozen dataclasses, with full-precision JSON round trips.

    law = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
    law.predict(N=1e9, D=2e10); law.N_opt(1e21); save_law(law, "fit.json"); load_law("fit.json")

JSON files hold the parameters at top level (``E, A, B, alpha, beta`` and optionally ``G, gamma``,
``kappa, L_ref``) plus ``"law": "chinchilla" | "t2_loss" | "t2_kdrift" | "t2_beta"``; floats are
written with ``repr`` so no digit is lost (rounded coefficients bias forecasts; Besiroglu et al.
2024, arXiv 2404.10102).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from scipy.special import betaln, expit


class _Law:
    kind = ""

    @property
    def params(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "info"
                and f.name != "loss_law"}

    def to_dict(self) -> dict:
        return {"law": self.kind, **{k: float(v) for k, v in self.params.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, data: str | dict):
        law = law_from_dict(json.loads(data) if isinstance(data, str) else data)
        if not isinstance(law, cls):
            raise ValueError(f"JSON holds a {law.kind!r} law, not {cls.kind!r}")  # noqa: TRY004
        return law


@dataclass(frozen=True)
class _Surface(_Law):
    """The (N, D) part of every loss law: ``E + A/N^alpha + B/D^beta``."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def surface(self, N, D):
        N, D = np.asarray(N, float), np.asarray(D, float)
        return self.E + self.A * N ** -self.alpha + self.B * D ** -self.beta


@dataclass(frozen=True)
class ChinchillaLaw(_Surface):
    """Chinchilla loss surface ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022).

    Compute-optimal under ``C = 6 N D``: ``N_opt = F (C/6)^(beta/(alpha+beta))`` and
    ``D_opt = F^-1 (C/6)^(alpha/(alpha+beta))`` with ``F = (alpha A / (beta B))^(1/(alpha+beta))``.
    """

    info: dict = field(default_factory=dict, compare=False, repr=False)
    kind = "chinchilla"

    def predict(self, N, D):
        return self.surface(N, D)

    def _factor(self) -> float:
        if self.alpha <= 0 or self.beta <= 0:
            raise ValueError(f"compute-optimal allocation needs alpha, beta > 0 "
                             f"(alpha={self.alpha!r}, beta={self.beta!r})")
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def N_opt(self, C):
        s = self.alpha + self.beta
        return self._factor() * (np.asarray(C, float) / 6.0) ** (self.beta / s)

    def D_opt(self, C):
        s = self.alpha + self.beta
        return (np.asarray(C, float) / 6.0) ** (self.alpha / s) / self._factor()


@dataclass(frozen=True)
class T2LossLaw(_Surface):
    """T² Approach 1: ``L(N, D, k) = E + A/N^alpha + B/D^beta + G/k^gamma`` on ``-log pass@k``.

    ``pass_at_k(N, D, k) = exp(-L)``. With ``G = 0`` it is the Chinchilla surface.
    """

    G: float
    gamma: float
    info: dict = field(default_factory=dict, compare=False, repr=False)
    kind = "t2_loss"

    def predict(self, N, D, k):
        k = np.asarray(k, float)
        return self.surface(N, D) + self.G * k ** -self.gamma

    def pass_at_k(self, N, D, k):
        return np.exp(-self.predict(N, D, k))

    def chinchilla(self, k: float = 1.0) -> ChinchillaLaw:
        """The (N, D) surface at fixed k: a Chinchilla law with ``E + G/k^gamma``."""
        return ChinchillaLaw(self.E + self.G * k ** -self.gamma, self.A, self.B,
                             self.alpha, self.beta)


@dataclass(frozen=True)
class T2DriftLaw(_Surface):
    """T² Approach 1 with a k exponent that follows the loss (``t2.fitting.drift``):
    ``L(N, D, k) = S + G/k^(gamma·exp(kappa·(L_ref − S)))`` with ``S = E + A/N^alpha + B/D^beta``.

    ``L_ref`` is fixed when the law is fitted (a loss inside the data), not a free parameter:
    with ``kappa = 0`` this is ``T2LossLaw``. At k = 1 the k term is G whatever the exponent.
    """

    G: float
    gamma: float
    kappa: float
    L_ref: float
    info: dict = field(default_factory=dict, compare=False, repr=False)
    kind = "t2_kdrift"

    def k_exponent(self, N, D):
        """The k exponent of a model of size N trained on D tokens."""
        with np.errstate(over="ignore"):
            return self.gamma * np.exp(self.kappa * (self.L_ref - self.surface(N, D)))

    def predict(self, N, D, k):
        k = np.asarray(k, float)
        return self.surface(N, D) + self.G * k ** -self.k_exponent(N, D)

    def pass_at_k(self, N, D, k):
        return np.exp(-self.predict(N, D, k))

    def chinchilla(self, k: float = 1.0) -> ChinchillaLaw:
        """The (N, D) surface at k = 1 (only there is the k term a constant, G)."""
        if k != 1.0:
            raise ValueError("T2DriftLaw.chinchilla: the k term depends on (N, D) unless k = 1")
        return ChinchillaLaw(self.E + self.G, self.A, self.B, self.alpha, self.beta)


@dataclass(frozen=True)
class T2BetaLaw(_Law):
    """T² Approach 2: per-problem accuracy ``p ~ Beta(a, b)`` whose moments follow the loss.

    ``mu = sigmoid(theta1 + theta2 L(N, D))``, ``nu = exp(theta3 + theta4 L(N, D))``,
    ``a = mu nu``, ``b = (1 - mu) nu`` and ``Acc(N, D, k) = 1 - B(a, b + k) / B(a, b)``, where
    ``L(N, D)`` is ``loss_law`` (a Chinchilla surface of the task loss).
    """

    theta1: float
    theta2: float
    theta3: float
    theta4: float
    loss_law: ChinchillaLaw
    info: dict = field(default_factory=dict, compare=False, repr=False)
    kind = "t2_beta"

    def beta_params(self, N, D):
        return beta_ab(np.array([self.theta1, self.theta2, self.theta3, self.theta4]),
                       self.loss_law.predict(N, D))

    def predict(self, N, D, k):
        a, b = self.beta_params(N, D)
        k = np.asarray(k, float)
        with np.errstate(over="ignore", invalid="ignore"):  # a, b degenerate far from the data
            return np.clip(-np.expm1(betaln(a, b + k) - betaln(a, b)), 0.0, 1.0)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "loss_law": self.loss_law.to_dict()}


def beta_ab(theta: np.ndarray, L):
    """Beta shape parameters ``(a, b)`` from ``theta = (theta1..theta4)`` and loss values."""
    L = np.asarray(L, float)
    # Far from the data (a diverged loss law gives L = inf) nu overflows and 0 * inf is nan: a
    # degenerate (a, b), not a RuntimeWarning on the user's console (seen in a cpu.yaml report).
    with np.errstate(over="ignore", invalid="ignore"):
        mu = expit(theta[0] + theta[1] * L)
        nu = np.exp(theta[2] + theta[3] * L)
        return mu * nu, (1.0 - mu) * nu


LAWS = {cls.kind: cls for cls in (ChinchillaLaw, T2LossLaw, T2DriftLaw, T2BetaLaw)}
# The parameter order of a loss law as an array (vectorized forecasts and design information).
LOSS_PARAMS = ("E", "A", "B", "alpha", "beta", "G", "gamma")


def loss_params(laws) -> np.ndarray:
    """(len(laws), 7) parameters in ``LOSS_PARAMS`` order; a Chinchilla law has G = gamma = 0.
    A ``T2DriftLaw`` has no such row (its k exponent is not one number): ``TypeError``."""
    if any(isinstance(law, T2DriftLaw) for law in laws):
        raise TypeError("loss_params: a T2DriftLaw is not a 7-parameter loss law")
    return np.array([[getattr(law, name, 0.0) for name in LOSS_PARAMS] for law in laws],
                    dtype=float).reshape(-1, len(LOSS_PARAMS))


def law_from_dict(data: dict):
    """Rebuild a law; without a ``law`` key the kind follows from the keys (``G`` → T² loss)."""
    if not isinstance(data, dict):
        raise ValueError("law JSON: expected an object")  # noqa: TRY004 (bad user input)
    kind = data.get("law") or ("t2_beta" if "theta1" in data else
                               "t2_kdrift" if "kappa" in data else
                               "t2_loss" if "G" in data else "chinchilla")
    if kind not in LAWS:
        raise ValueError(f"law JSON: unknown law {kind!r} (expected one of {sorted(LAWS)})")
    cls = LAWS[kind]
    names = [f.name for f in fields(cls) if f.name not in ("info", "loss_law")]
    missing = [n for n in names if n not in data]
    if missing:
        raise ValueError(f"law JSON: {kind} law is missing {', '.join(missing)}")
    kwargs = {n: float(data[n]) for n in names}
    if cls is T2BetaLaw:
        kwargs["loss_law"] = law_from_dict({**data["loss_law"], "law": "chinchilla"})
    return cls(**kwargs)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_law(law, path, **extra) -> Path:
    """Write ``law`` (plus JSON-able ``extra`` keys) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps({**law.to_dict(), **extra}, indent=2) + "\n")


def load_law(path):
    """Read a law written by ``save_law`` (or any JSON with the parameter keys)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such law file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    try:
        return law_from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None

"""Known laws a simulated study draws its losses from (``t2 simulate --true-law LAW.json``).

    law = load_true_law("examples/true_law.json")    # keys E, A, B, alpha, beta[, G, gamma]
    law.loss(N, D); law.task_loss(N, D, k); law.optima([(2.56e19, 2e9)])   # (T, 3) log N*, D*, k*

A true law offers ``loss(N, D)`` (validation loss), ``task_loss(N, D, k)`` (−log pass@k),
``has_k``, ``to_dict()``, ``loss_law()`` (the fitted-law form closest to it) and
``optima(targets)``: the natural-log (N*, D*, k*) that minimize its own task loss (or validation
loss without a k effect) at each (C_train, C_inf), with D = C_train/6N and k = C_inf/2N
(Roberts et al. 2026, arXiv 2604.01411). ``TrueLaw`` is the fitted form itself; the forms in
``t2.flows.executors.misspecified`` are not, and their optima are found numerically from their
own functions. A JSON file with a ``"form"`` key loads one of those.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from t2.infra.config import ConfigError

LAW_KEYS = ("E", "A", "B", "alpha", "beta")


def numeric_optima(law, targets) -> np.ndarray:
    """(T, 3) log N*, D*, k* minimizing ``law``'s task loss (validation loss without k) over
    log N in [log 1e3, log(C_inf/2)] (k >= 1): a dense grid, then a bounded refinement."""
    out = []
    for c_train, c_inf in targets:
        def f(u, ct=float(c_train), ci=float(c_inf)):
            N = np.exp(u)
            D = ct / (6.0 * N)
            return law.task_loss(N, D, ci / (2.0 * N)) if law.has_k else law.loss(N, D)

        grid = np.linspace(math.log(1e3), math.log(c_inf / 2.0), 600)
        vals = f(grid)
        i = int(np.nanargmin(vals))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        u = float(minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-10}).x)
        out.append([u, math.log(c_train / 6.0) - u, math.log(c_inf / 2.0) - u])
    return np.array(out)


@dataclass(frozen=True)
class TrueLaw:
    """``L(N, D, k) = E + A/N^alpha + B/D^beta [+ G/k^gamma]`` read from a JSON file."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    G: float | None = None
    gamma: float | None = None

    @property
    def has_k(self) -> bool:
        return self.G is not None

    def loss(self, N, D):
        return self.E + self.A * np.power(N, -self.alpha) + self.B * np.power(D, -self.beta)

    def task_loss(self, N, D, k):
        return self.loss(N, D) + (self.G or 0.0) * np.power(k, -(self.gamma or 0.0))

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def loss_law(self):
        """The same surface as a fitted law (``T2LossLaw``; G = 0 without a k effect)."""
        from t2.fitting.laws import T2LossLaw

        return T2LossLaw(self.E, self.A, self.B, self.alpha, self.beta, self.G or 0.0,
                         self.gamma or 0.0)

    def optima(self, targets) -> np.ndarray:
        """(T, 3) log N*, D*, k* by the fitted laws' allocator (the law is of that form)."""
        from t2.fitting.forecast import optima

        return optima([self.loss_law()], targets)[0]


def load_true_law(path: str | Path):
    """Parse a law JSON (keys E, A, B, alpha, beta, optional G, gamma, optional ``form`` and
    its keys); ConfigError if bad."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such law file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err.msg})") from None
    return parse_true_law(data, str(path))


def _number(data: dict, key: str, source: str) -> float:
    v = data[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
        raise ConfigError(f"{source}: {key}: expected a finite number >= 0")
    return float(v)


def parse_true_law(data: dict, source: str = "law"):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    if "form" in data:
        from t2.flows.executors.misspecified import parse_form

        return parse_form(data, source)
    missing = [k for k in LAW_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{source}: missing {', '.join(missing)}")
    if ("G" in data) != ("gamma" in data):
        raise ConfigError(f"{source}: G and gamma go together")
    values = {key: _number(data, key, source) for key in (*LAW_KEYS, "G", "gamma") if key in data}
    if values["alpha"] <= 0 or values["beta"] <= 0:
        raise ConfigError(f"{source}: alpha and beta must be > 0")
    return TrueLaw(**values)

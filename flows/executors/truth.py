"""Known laws a simulated study draws its losses from (``t2 simulate --true-law LAW.json``).

    law = load_true_law("examples/true_law.json")    # keys E, A, B, alpha, beta[, G, gamma]
    law.loss(N, D); law.task_loss(N, D, k); law.loss_law()   # the same surface as a fitted law

A true law offers ``loss(N, D)`` (validation loss), ``task_loss(N, D, k)`` (−log pass@k),
``has_k``, ``to_dict()`` and ``loss_law()`` (the fitted-law form whose optima are the truth).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from t2.infra.config import ConfigError

LAW_KEYS = ("E", "A", "B", "alpha", "beta")


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


def load_true_law(path: str | Path) -> TrueLaw:
    """Parse a law JSON (keys E, A, B, alpha, beta, optional G, gamma); ConfigError if bad."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such law file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err.msg})") from None
    return parse_true_law(data, str(path))


def parse_true_law(data: dict, source: str = "law") -> TrueLaw:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    missing = [k for k in LAW_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{source}: missing {', '.join(missing)}")
    if ("G" in data) != ("gamma" in data):
        raise ConfigError(f"{source}: G and gamma go together")
    values = {}
    for key in (*LAW_KEYS, "G", "gamma"):
        if key in data:
            v = data[key]
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"{source}: {key}: expected a finite number >= 0")
            values[key] = float(v)
    if values["alpha"] <= 0 or values["beta"] <= 0:
        raise ConfigError(f"{source}: alpha and beta must be > 0")
    return TrueLaw(**values)

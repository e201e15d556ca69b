"""Per-task laws planted in a simulated study: each approach's law in its own data.

    tasks = load_task_truths("law.json")     # the "tasks" object of a true-law file, if any
    p, c = tasks["arithmetic"].problems(N, D, n=16, rng=rng)

A true-law file (``t2.flows.executors.truth``) may add per-task laws::

    "tasks": {"arithmetic": {"E": 0.2, "A": 300, "B": 900, "alpha": 0.3, "beta": 0.3,
                             "G": 2.0, "gamma": 0.5,
                             "theta1": -1.0, "theta2": -2.0, "theta3": 1.0, "theta4": -0.3,
                             "num_problems": 64}, ...}

The task's −log pass@k at each k follows its T² Approach-1 law (``E…gamma``; Roberts et al.
2026, arXiv 2604.01411); its per-problem success probabilities p_i follow Approach 2: Beta(a, b)
with mean sigmoid(θ1 + θ2·L) and precision exp(θ3 + θ4·L), L the same task's loss law at k = 1.
Each problem keeps its quantile of that Beta across checkpoints (a hard problem stays hard), and
its sampled count c_i is Binomial(n, p_i). So a fit of either approach can be checked against
the law it should recover.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import beta as beta_dist
from t2.fitting.laws import T2BetaLaw, T2LossLaw
from t2.infra.config import ConfigError
from t2.infra.storage import hash8

LOSS_KEYS = ("E", "A", "B", "alpha", "beta", "G", "gamma")
THETA_KEYS = ("theta1", "theta2", "theta3", "theta4")


@dataclass(frozen=True)
class TaskTruth:
    """One task's planted Approach-1 law and Approach-2 link."""

    name: str
    loss: T2LossLaw
    theta: tuple[float, float, float, float]
    num_problems: int = 64

    def beta_law(self) -> T2BetaLaw:
        return T2BetaLaw(*self.theta, loss_law=self.loss.chinchilla(1.0))

    def task_loss(self, N, D, k):
        return self.loss.predict(N, D, k)

    def quantiles(self) -> np.ndarray:
        """Each problem's fixed quantile of the per-checkpoint Beta (seeded by the task name)."""
        rng = np.random.default_rng(int(hash8("problems", self.name), 16))
        return (np.arange(self.num_problems) + rng.uniform(size=self.num_problems)) \
            / self.num_problems

    def problems(self, N: float, D: float, n: int, rng: np.random.Generator):
        """(p, c): each problem's success probability at (N, D) and its count of n samples."""
        a, b = self.beta_law().beta_params(N, D)
        p = np.clip(beta_dist.ppf(self.quantiles(), a, b), 1e-12, 1 - 1e-12)
        return p, rng.binomial(n, p)

    def to_dict(self) -> dict:
        return {**{k: getattr(self.loss, k) for k in LOSS_KEYS},
                **dict(zip(THETA_KEYS, self.theta)), "num_problems": self.num_problems}


def parse_task_truths(data: dict, source: str = "law") -> dict[str, TaskTruth]:
    tasks = data.get("tasks", {}) if isinstance(data, dict) else {}
    if not isinstance(tasks, dict):
        raise ConfigError(f"{source}: tasks: expected an object of task name -> law")
    out = {}
    for name, law in sorted(tasks.items()):
        where = f"{source}: tasks.{name}"
        if not isinstance(law, dict):
            raise ConfigError(f"{where}: expected an object")
        missing = [k for k in (*LOSS_KEYS, *THETA_KEYS) if k not in law]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        values = {}
        for key in (*LOSS_KEYS, *THETA_KEYS):
            v = law[key]
            if not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ConfigError(f"{where}.{key}: expected a finite number")
            values[key] = float(v)
        if min(values[k] for k in LOSS_KEYS) < 0 or values["alpha"] <= 0 or values["beta"] <= 0:
            raise ConfigError(f"{where}: E, A, B, G, gamma must be >= 0 and alpha, beta > 0")
        num = law.get("num_problems", 64)
        if not isinstance(num, int) or num < 2:
            raise ConfigError(f"{where}.num_problems: expected an integer >= 2")
        out[name] = TaskTruth(name, T2LossLaw(*(values[k] for k in LOSS_KEYS)),
                              tuple(values[k] for k in THETA_KEYS), num)
    return out


def load_task_truths(path: str | Path) -> dict[str, TaskTruth]:
    """The per-task laws of a true-law file ({} when it has none); ConfigError if bad."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the law file ({err})") from None
    return parse_task_truths(data, str(path))

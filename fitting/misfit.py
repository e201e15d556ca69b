"""Does the k exponent of a fitted T² law drift with the loss? A test the data can answer.

    trend = k_trend(law, N, D, k, L, checkpoint)   # None: too few checkpoints or no k effect
    trend.t, trend.rel, trend.flags()

T² Approach 1 (Roberts et al. 2026, arXiv 2604.01411) gives every model one k exponent γ:
``L(N, D, k) = E + A/N^α + B/D^β + G/k^γ``. Where it is wrong, it is most likely wrong in that
way: how fast pass@k grows with k is set by the tail of the per-problem success distribution, and
that tail moves as models get better (Brown et al. 2024, arXiv 2407.21787; Schaeffer et al. 2025,
arXiv 2502.17578). A fit then takes its one γ from where its rows are, and a design whose rows sit
at high loss forecasts the optimum with the wrong γ (docs/selection.md: +328% on one simulated
law).

The test asks each checkpoint's k curve for its own γ and regresses that on the checkpoint's
loss. With r the log residuals (observed over fitted) of one checkpoint's rows and s = ∂ log L/∂γ
at them, both centred over the checkpoint's k (so the run's and the checkpoint's noise, which
move all its k alike, drop out), ``a = <r, s>/<s, s>`` is the checkpoint's γ minus the law's to
first order. Under the fitted form the a's are noise around a constant; a slope of a on the
checkpoint's loss ``E + A/N^α + B/D^β`` is the drift. Each a is weighted by ``<s, s>`` (its noise
variance goes as 1/<s, s>: a checkpoint whose k curve is flat says little about γ). The slope's t
statistic takes the noise from the scatter of the a's themselves, so it needs no noise model
(real pass@k curves are only near power laws and their per-k errors are correlated: neither
moves the slope, only a shape that changes with the loss does). Significance alone grows with
the data, so ``rel``, the change of γ across the observed losses relative to γ, says whether the
drift is large enough to matter.

What it cannot do: see a drift where the design has no spread of loss that shows it (an active
design at high loss sees it only late: docs/selection.md), or see a misfit that leaves the k
curves alone (a bend in D, an N–D interaction: ``benchmarks/misfit.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Thresholds of ``KTrend.flags``, read off the development family (``python benchmarks/misfit.py
# --law-seed 1``: 24 laws of the fitted form, 24 misspecified, the grid's design): the fitted
# form, a bend in D and an N–D interaction kept |t| ≤ 1.8 and rel ≤ 0.07; every k-drift law
# reached |t| ≥ 17 and rel ≥ 1.6.
T_MIN = 5.0
REL_MIN = 0.25
MIN_CHECKPOINTS = 5


@dataclass(frozen=True)
class KTrend:
    """The per-checkpoint γ's regressed on the checkpoint's loss (module docstring)."""

    slope: float            # dγ / d loss
    t: float                # slope over its standard error
    rel: float              # |slope| × (loss range) / γ: how much γ changes across the data
    num_checkpoints: int

    def flags(self, t_min: float = T_MIN, rel_min: float = REL_MIN) -> bool:
        return abs(self.t) >= t_min and self.rel >= rel_min

    def to_dict(self) -> dict:
        """The fields and the verdict at the default thresholds (round records, report.json)."""
        return {"slope": self.slope, "t": self.t, "rel": self.rel,
                "num_checkpoints": self.num_checkpoints, "flags": self.flags()}


def k_trend(law, N, D, k, L, checkpoint) -> KTrend | None:
    """The trend of the k exponent with the loss, from rows (N, D, k, L) grouped by
    ``checkpoint``; None where it cannot be told (fewer than ``MIN_CHECKPOINTS`` checkpoints
    with three or more k, no k effect in the law, or no spread of loss)."""
    N, D, k, L = (np.asarray(a, float) for a in (N, D, k, L))
    group = np.asarray(checkpoint)
    G, gamma = float(getattr(law, "G", 0.0)), float(getattr(law, "gamma", 0.0))
    if G <= 0 or len(L) == 0:
        return None
    pred = law.predict(N, D, k)
    r = np.log(L) - np.log(pred)
    s = -G * np.log(k) * k ** -gamma / pred
    x, a, w = [], [], []
    for g in np.unique(group):
        m = group == g
        if m.sum() < 3:
            continue
        rc, sc = r[m] - r[m].mean(), s[m] - s[m].mean()
        ss = float(sc @ sc)
        if ss <= 1e-300:
            continue
        a.append(float(rc @ sc) / ss)
        w.append(ss)
        x.append(float(law.surface(N[m][0], D[m][0])))
    n = len(a)
    if n < MIN_CHECKPOINTS:
        return None
    x, a, w = np.array(x), np.array(a), np.array(w)
    dx, da = x - (w @ x) / w.sum(), a - (w @ a) / w.sum()
    sxx = float(w @ dx**2)
    if sxx <= 0:
        return None
    slope = float(w @ (dx * da)) / sxx
    res = da - slope * dx
    se = math.sqrt(float(w @ res**2) / (n - 2) / sxx)
    t = slope / se if se > 0 else math.copysign(math.inf, slope) if slope else 0.0
    rel = abs(slope) * float(x.max() - x.min()) / max(gamma, 0.01)
    return KTrend(slope=slope, t=float(t), rel=float(rel), num_checkpoints=n)

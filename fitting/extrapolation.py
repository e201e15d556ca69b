"""Extrapolation checks: fit on some runs, predict held-out ones, report relative errors.

    cmp = compare_protocols(fit_chinchilla, {"N": N, "D": D, "L": L})
    cmp.paper.mean_abs_rel_error, cmp.design.mean_abs_rel_error, cmp.disagree, cmp.reason
    rep = run_split(fit_chinchilla, arrays, paper_split(N, D, test_min_ratio=80))
    rep = extrapolation_check(fit_chinchilla, arrays, max_tokens_per_param=40)   # one split

Two protocols, for any law:

- **paper** (``paper_split``): fit on runs inside the Chinchilla band, D/N <= ``train_max_ratio``
  (default 20), predict the overtrained ones, D/N >= ``test_min_ratio`` (default: every run
  above the band). The T² paper fits its 85 suite checkpoints and checks 21 overtrained ones: 2.8%
  (Approach 1) and 8.4% (Approach 2) (Roberts et al. 2026, arXiv 2604.01411).
- **design** (``design_split``): fit on everything except the largest sizes' overtrained runs,
  predict those. "Largest sizes": the top ``large_frac`` (default 1/3, rounded up, at least one)
  of the distinct N; "overtrained": D/N > ``overtrained_ratio`` (default 20, above the band).

A law fitted inside the band can mispredict the overtrained regime while one that has seen
small models overtrained predicts large overtrained runs well (Gadre et al. 2024, arXiv
2403.08540; Sardana & Frankle 2024, arXiv 2401.00448): ``compare_protocols`` runs both and flags
when they disagree (``disagree``: see ``DISAGREE_FACTOR``).

Each report gives the rows held in and out, mean and max |relative error| and the mean signed
error (``mean_rel_error``: negative for a loss predicted too low) with ``optimistic_fraction``,
the share of held-out points predicted better than observed. Targets: ``loss_target`` (a loss
column, Chinchilla or T² Approach 1 rows with k) and ``pass_at_k_target`` (per-problem rows of
a Beta law: each checkpoint's mean pass@k).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

# Two protocols disagree when one's mean |relative error| is more than DISAGREE_FACTOR times the
# other's and the two differ by more than DISAGREE_GAP (absolute, 0.01 = one percentage point).
DISAGREE_FACTOR = 2.0
DISAGREE_GAP = 0.01
_RTOL = 1e-9  # ratios within this relative tolerance of a threshold count as on it


@dataclass(frozen=True)
class Split:
    """Rows to fit on (``train``) and to predict (``test``), both bool per row."""

    protocol: str
    train: np.ndarray
    test: np.ndarray
    rule: str


def _ratio(N, D) -> np.ndarray:
    return np.asarray(D, float) / np.asarray(N, float)


def _check(split: Split, why_train: str, why_test: str) -> Split:
    if not split.train.any():
        raise ValueError(f"{split.protocol} protocol: no training rows ({why_train})")
    if not split.test.any():
        raise ValueError(f"{split.protocol} protocol: no held-out rows ({why_test})")
    return split


def paper_split(N, D, *, train_max_ratio: float = 20.0,
                test_min_ratio: float | None = None) -> Split:
    """Train on D/N <= ``train_max_ratio``; test on D/N >= ``test_min_ratio`` (default: every
    row above ``train_max_ratio``), which must lie above ``train_max_ratio``."""
    r = _ratio(N, D)
    train = r <= train_max_ratio * (1 + _RTOL)
    if test_min_ratio is None:
        test, test_rule = ~train, f"D/N > {train_max_ratio:g}"
    elif test_min_ratio <= train_max_ratio:
        raise ValueError(f"paper protocol: test_min_ratio ({test_min_ratio:g}) must exceed "
                         f"train_max_ratio ({train_max_ratio:g})")
    else:
        test, test_rule = r >= test_min_ratio * (1 - _RTOL), f"D/N >= {test_min_ratio:g}"
    span = f"D/N spans {r.min():.3g}..{r.max():.3g}"
    rule = f"train D/N <= {train_max_ratio:g}; test {test_rule}"
    return _check(Split("paper", train, test, rule),
                  f"none with D/N <= {train_max_ratio:g}; {span}", f"none with {test_rule}; {span}")


def largest_sizes(N, large_frac: float = 1 / 3) -> np.ndarray:
    """The top ``large_frac`` of the distinct N (rounded up, at least one), ascending."""
    if not 0 < large_frac <= 1:
        raise ValueError(f"large_frac: must lie in (0, 1], got {large_frac!r}")
    sizes = np.unique(np.asarray(N, float))
    num = max(1, int(np.ceil(large_frac * sizes.size - 1e-9)))
    return sizes[-num:]


def design_split(N, D, *, large_frac: float = 1 / 3, overtrained_ratio: float = 20.0) -> Split:
    """Test on the largest sizes' runs with D/N > ``overtrained_ratio``; train on all others."""
    N = np.asarray(N, float)
    large = largest_sizes(N, large_frac)
    test = np.isin(N, large) & (_ratio(N, D) > overtrained_ratio * (1 + _RTOL))
    sizes = f"the {large.size} largest size(s), N >= {large[0]:.3g}"
    rule = f"test {sizes} at D/N > {overtrained_ratio:g}; train the rest"
    return _check(Split("design", ~test, test, rule), f"every row is one of {sizes} overtrained",
                  f"none of {sizes} has D/N > {overtrained_ratio:g}")


@dataclass(frozen=True)
class Target:
    """What the held-out rows are scored on: ``evaluate(law, test_arrays)`` returns per-point
    (predicted, observed, N, D); ``higher_is_better`` says which way is optimistic."""

    name: str
    evaluate: Callable
    higher_is_better: bool = False


def loss_target(column: str = "L", predict=None) -> Target:
    """One point per held-out row: ``law.predict(N, D[, k])`` against ``arrays[column]``."""
    def evaluate(law, test):
        if predict is not None:
            pred = predict(law, test)
        else:
            names = ("N", "D", "k") if "k" in test and hasattr(law, "G") else ("N", "D")
            pred = law.predict(*(test[n] for n in names))
        return np.asarray(pred, float), np.asarray(test[column], float), test["N"], test["D"]

    return Target(column, evaluate)


def problem_pass_at_k(k: float, *, n=None, c=None, p=None) -> np.ndarray:
    """Per-problem pass@k: unbiased from counts, 1 - C(n-c, k)/C(n, k) (Chen et al. 2021,
    arXiv 2107.03374; needs k <= n), or 1 - (1 - p)^k from a success probability."""
    if p is not None:
        with np.errstate(divide="ignore"):  # p = 1: pass@k = 1
            return -np.expm1(k * np.log1p(-np.asarray(p, float)))
    n, c = np.asarray(n, float), np.asarray(c, float)
    if (k > n).any():
        raise ValueError(f"pass@{k:g}: needs k <= n samples per problem (min n = {n.min():g})")
    m = n - c
    with np.errstate(invalid="ignore"):
        log_ratio = gammaln(m + 1) - gammaln(m - k + 1) - gammaln(n + 1) + gammaln(n - k + 1)
    return np.where(m < k, 1.0, -np.expm1(log_ratio))


def pass_at_k_target(ks=(1,), min_observed: float = 0.0) -> Target:
    """One point per held-out checkpoint (distinct N, D) and k: the mean over its problems of
    pass@k (``problem_pass_at_k``) against the Beta law's ``predict(N, D, k)``. Points observed
    below ``min_observed`` are left out: a relative error of a near-zero accuracy (a tiny model
    on a hard task) measures sampling noise, not the law."""
    ks = tuple(float(k) for k in np.atleast_1d(ks))

    def evaluate(law, test):
        uniq, ck = np.unique(np.column_stack([test["N"], test["D"]]), axis=0,
                             return_inverse=True)
        ck = ck.ravel()
        counts = np.bincount(ck, minlength=len(uniq))
        pred, obs = [], []
        for k in ks:
            per = problem_pass_at_k(k, n=test.get("n"), c=test.get("c"), p=test.get("p"))
            obs.append(np.bincount(ck, per, minlength=len(uniq)) / counts)
            pred.append(law.predict(uniq[:, 0], uniq[:, 1], k))
        pred, obs = np.concatenate(pred), np.concatenate(obs)
        keep = obs >= min_observed
        if not keep.any():
            raise ValueError(f"pass@k target: no held-out point observed >= {min_observed:g}")
        tiled = [np.tile(uniq[:, j], len(ks))[keep] for j in (0, 1)]
        return pred[keep], obs[keep], *tiled

    return Target("mean pass@k", evaluate, higher_is_better=True)


@dataclass(frozen=True)
class ExtrapolationReport:
    law: object
    predicted: np.ndarray
    observed: np.ndarray
    rel_errors: np.ndarray     # (predicted - observed) / observed on the held-out points
    mean_abs_rel_error: float
    max_abs_rel_error: float
    num_train: int             # rows fitted
    num_test: int              # rows held out
    mean_rel_error: float = float("nan")       # signed: < 0 when predictions are too low
    optimistic_fraction: float = float("nan")  # held-out points predicted better than observed
    protocol: str = "custom"
    rule: str = ""
    test_N: np.ndarray = field(default=None, repr=False)  # the held-out points' N and D
    test_D: np.ndarray = field(default=None, repr=False)

    def summary(self) -> dict:
        """JSON-able numbers (no law, no arrays) for a report."""
        return {"protocol": self.protocol, "rule": self.rule, "num_train": self.num_train,
                "num_test": self.num_test, "num_points": int(self.rel_errors.size),
                "mean_abs_rel_error": self.mean_abs_rel_error,
                "max_abs_rel_error": self.max_abs_rel_error,
                "mean_rel_error": self.mean_rel_error,
                "optimistic_fraction": self.optimistic_fraction}


def run_split(fit_fn, arrays: dict, split: Split, target: Target | None = None
              ) -> ExtrapolationReport:
    """Fit ``fit_fn(**arrays[split.train])`` and score it on ``arrays[split.test]``."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    target = target or loss_target()
    law = fit_fn(**{k: v[split.train] for k, v in arrays.items()})
    test = {k: v[split.test] for k, v in arrays.items()}
    pred, obs, tN, tD = target.evaluate(law, test)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (pred - obs) / obs
    better = pred > obs if target.higher_is_better else pred < obs
    return ExtrapolationReport(
        law, pred, obs, rel, float(np.mean(np.abs(rel))), float(np.max(np.abs(rel))),
        int(split.train.sum()), int(split.test.sum()), mean_rel_error=float(np.mean(rel)),
        optimistic_fraction=float(np.mean(better)), protocol=split.protocol, rule=split.rule,
        test_N=np.asarray(tN, float), test_D=np.asarray(tD, float))


def extrapolation_check(fit_fn, arrays: dict, *, train_mask=None,
                        max_tokens_per_param: float | None = None, target: str = "L",
                        predict=None, observed=None) -> ExtrapolationReport:
    """One split: ``train_mask`` (bool per row) or train on D/N <= ``max_tokens_per_param``;
    predict every other row. ``predict(law, test_arrays)`` and ``observed`` (per row) override
    the defaults (see ``run_split`` with ``pass_at_k_target`` for per-problem Beta rows)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if (train_mask is None) == (max_tokens_per_param is None):
        raise ValueError("give exactly one of train_mask or max_tokens_per_param")
    if train_mask is None:
        train_mask = _ratio(arrays["N"], arrays["D"]) <= max_tokens_per_param
    train_mask = np.asarray(train_mask, bool)
    if train_mask.all() or not train_mask.any():
        raise ValueError("extrapolation_check: the split leaves no training or no held-out rows")
    tgt = loss_target(target, predict)
    if observed is not None:
        obs = np.asarray(observed, float)[~train_mask]

        def evaluate(law, test):
            pred = predict(law, test) if predict is not None else tgt.evaluate(law, test)[0]
            return np.asarray(pred, float), obs, test["N"], test["D"]

        tgt = Target(target, evaluate)
    split = Split("custom", train_mask, ~train_mask, "given train rows")
    return run_split(fit_fn, arrays, split, tgt)


@dataclass(frozen=True)
class ProtocolComparison:
    """Both protocols' reports and whether they disagree (see ``DISAGREE_FACTOR``)."""

    paper: ExtrapolationReport
    design: ExtrapolationReport
    disagree: bool
    reason: str

    def summary(self) -> dict:
        return {"paper": self.paper.summary(), "design": self.design.summary(),
                "disagree": self.disagree, "reason": self.reason}


def _describe(rep: ExtrapolationReport) -> str:
    return (f"{rep.protocol} {rep.mean_abs_rel_error:.1%} mean |rel. error| "
            f"(signed {rep.mean_rel_error:+.1%}, optimistic on "
            f"{rep.optimistic_fraction:.0%} of {rep.rel_errors.size})")


def disagreement(paper: ExtrapolationReport, design: ExtrapolationReport,
                 factor: float = DISAGREE_FACTOR, gap: float = DISAGREE_GAP) -> tuple[bool, str]:
    """The rule: disagree when max(e1, e2) > ``factor`` * min(e1, e2) and |e1 - e2| > ``gap``,
    e = mean |relative error|. Returns (flag, a one-line reason)."""
    e1, e2 = paper.mean_abs_rel_error, design.mean_abs_rel_error
    flag = bool(max(e1, e2) > factor * min(e1, e2) and abs(e1 - e2) > gap)
    verdict = "disagree" if flag else "agree"
    return flag, f"{verdict}: {_describe(paper)} vs {_describe(design)}"


def compare_protocols(fit_fn, arrays: dict, *, target: Target | None = None,
                      train_max_ratio: float = 20.0, test_min_ratio: float | None = None,
                      large_frac: float = 1 / 3, overtrained_ratio: float = 20.0,
                      factor: float = DISAGREE_FACTOR, gap: float = DISAGREE_GAP
                      ) -> ProtocolComparison:
    """Run the paper's and the design's protocol on the same rows, side by side.

    ``ValueError`` (naming the protocol) when a split leaves no training or held-out rows.
    """
    N, D = arrays["N"], arrays["D"]
    paper = run_split(fit_fn, arrays, paper_split(N, D, train_max_ratio=train_max_ratio,
                                                  test_min_ratio=test_min_ratio), target)
    design = run_split(fit_fn, arrays, design_split(N, D, large_frac=large_frac,
                                                    overtrained_ratio=overtrained_ratio), target)
    flag, reason = disagreement(paper, design, factor, gap)
    return ProtocolComparison(paper, design, flag, reason)

"""Extrapolation check: fit on a subset of runs, predict the held-out ones, report relative errors.

    rep = extrapolation_check(fit_chinchilla, {"N": N, "D": D, "L": L}, max_tokens_per_param=40)
    rep.mean_abs_rel_error        # the paper's validation: 2.8% (Approach 1), 8.4% (Approach 2)

By default the held-out runs are the overtrained ones (D/N above the threshold), as in the paper's
21 held-out overtrained checkpoints (Roberts et al. 2026, arXiv 2604.01411).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExtrapolationReport:
    law: object
    predicted: np.ndarray
    observed: np.ndarray
    rel_errors: np.ndarray     # (predicted - observed) / observed on the held-out rows
    mean_abs_rel_error: float
    max_abs_rel_error: float
    num_train: int
    num_test: int


def _default_predict(law, arrays):
    names = ("N", "D", "k") if "k" in arrays and hasattr(law, "G") else ("N", "D")
    return law.predict(*(arrays[n] for n in names))


def extrapolation_check(fit_fn, arrays: dict, *, train_mask=None,
                        max_tokens_per_param: float | None = None, target: str = "L",
                        predict=None, observed=None) -> ExtrapolationReport:
    """Fit ``fit_fn(**arrays[train])`` and compare predictions with ``arrays[target]`` on the rest.

    Give either ``train_mask`` (bool per row) or ``max_tokens_per_param`` (train on D/N <= it).
    ``predict(law, test_arrays)`` and ``observed`` (per row) override the defaults, e.g. for a
    Beta law whose target (mean pass@k per checkpoint) is not one of the fit's inputs.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if (train_mask is None) == (max_tokens_per_param is None):
        raise ValueError("give exactly one of train_mask or max_tokens_per_param")
    if train_mask is None:
        train_mask = arrays["D"] / arrays["N"] <= max_tokens_per_param
    train_mask = np.asarray(train_mask, bool)
    if train_mask.all() or not train_mask.any():
        raise ValueError("extrapolation_check: the split leaves no training or no held-out rows")
    law = fit_fn(**{k: v[train_mask] for k, v in arrays.items()})
    test = {k: v[~train_mask] for k, v in arrays.items()}
    pred = np.asarray((predict or _default_predict)(law, test), float)
    obs = np.asarray(observed, float)[~train_mask] if observed is not None else test[target]
    rel = (pred - obs) / obs
    return ExtrapolationReport(law, pred, obs, rel, float(np.mean(np.abs(rel))),
                               float(np.max(np.abs(rel))), int(train_mask.sum()),
                               int((~train_mask).sum()))

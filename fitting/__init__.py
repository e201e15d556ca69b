"""Scaling-law fitting for T² studies: Chinchilla and T² laws, optimal (N, D, k), bootstrap CIs.

    from t2.fitting import fit_chinchilla, optimal_allocation
    law = fit_chinchilla(N, D, L)
    optimal_allocation(law, c_train=1e21, c_inf=1e9).N

Pure numpy/scipy/stdlib (``t2.fitting.plots`` adds matplotlib); usable on any table of results.
"""

from t2.fitting.beta import checkpoint_loss, fit_t2_beta, fit_t2_beta_rows
from t2.fitting.beta_bootstrap import bootstrap_t2_beta
from t2.fitting.bootstrap import Bootstrap, bootstrap_fit
from t2.fitting.checks import FitError
from t2.fitting.extrapolation import (
    ExtrapolationReport,
    ProtocolComparison,
    Split,
    compare_protocols,
    design_split,
    extrapolation_check,
    loss_target,
    paper_split,
    pass_at_k_target,
    run_split,
)
from t2.fitting.fit import fit_chinchilla, fit_t2_loss
from t2.fitting.laws import ChinchillaLaw, T2BetaLaw, T2LossLaw, load_law, save_law
from t2.fitting.optimal import Allocation, optimal_allocation, optimal_pooled

__all__ = [
    "Allocation",
    "Bootstrap",
    "ChinchillaLaw",
    "ExtrapolationReport",
    "FitError",
    "ProtocolComparison",
    "Split",
    "T2BetaLaw",
    "T2LossLaw",
    "bootstrap_fit",
    "bootstrap_t2_beta",
    "checkpoint_loss",
    "compare_protocols",
    "design_split",
    "extrapolation_check",
    "fit_chinchilla",
    "fit_t2_beta",
    "fit_t2_beta_rows",
    "fit_t2_loss",
    "load_law",
    "loss_target",
    "optimal_allocation",
    "optimal_pooled",
    "paper_split",
    "pass_at_k_target",
    "run_split",
    "save_law",
]

"""The study report: forecast intervals that exclude the full-data fit are flagged; degenerate
laws and sparse pass rates give inf or nan, never a RuntimeWarning."""

import math
import warnings

import numpy as np
from t2.fitting import T2LossLaw
from t2.fitting.misfit import KTrend
from t2.flows.config import load_study
from t2.flows.report import _markdown
from t2.flows.report_tasks import pass_at_k
from t2.flows.validation import _ratio


def _row(N, lo, hi):
    row = {"c_train": 1e19, "c_inf": 1e9, "pass_at_k": 0.5, "chin_N": 1e8, "chin_k": 5.0,
           "chin_tokens_per_param": 20.0, "chin_pass_at_k": 0.4}
    for name, scale in (("N", 1.0), ("D", 10.0), ("k", 0.1), ("tokens_per_param", 1e-7)):
        row.update({name: N * scale, f"{name}_lo": lo * scale, f"{name}_hi": hi * scale})
    return row


def test_an_interval_that_excludes_the_fit_is_flagged(sim_study):
    cfg = load_study(sim_study())
    state = {"num_runs": 5, "num_checkpoints": 9, "flops": 1e18}
    extra, ratios = [], [{"c_train": 1e19, "c_inf": 1e9, "N": 1e8, "k": 5, "tokens_per_param": 20}]
    inside = _markdown(cfg, state, [_row(1e8, 5e7, 2e8)], extra, ratios, None, 0.8)
    assert "†" not in inside
    outside = _markdown(cfg, state, [_row(1e8, 1.2e8, 2e8)], extra, ratios, None, 0.8)
    assert "1e+08 [1.2e+08, 2e+08]†" in outside and "excludes the full-data fit" in outside


def test_a_k_exponent_that_drifts_with_the_loss_is_said_in_the_report(sim_study):
    cfg = load_study(sim_study())
    state = {"num_runs": 5, "num_checkpoints": 9, "flops": 1e18}
    extra, ratios = [], [{"c_train": 1e19, "c_inf": 1e9, "N": 1e8, "k": 5, "tokens_per_param": 20}]
    rows = [_row(1e8, 5e7, 2e8)]
    quiet = _markdown(cfg, state, rows, extra, ratios, None, 0.8,
                      trend=KTrend(slope=0.01, t=1.2, rel=0.05, num_checkpoints=30))
    assert "t = +1.2" in quiet and "drifts" not in quiet
    drift = _markdown(cfg, state, rows, extra, ratios, None, 0.8,
                      trend=KTrend(slope=-0.2, t=-16.0, rel=1.7, num_checkpoints=30))
    assert "The k exponent drifts with the loss" in drift and "far off" in drift
    assert "No law whose k exponent follows the loss converged" in drift
    drifted = {"law": {"kappa": 1.25}, "num_bootstrap": 8, "one_gamma_N": [1e8]}
    said = _markdown(cfg, state, [_row(7.5e7, 6e7, 9e7)], extra, ratios, None, 0.8,
                     drifted=drifted,
                     trend=KTrend(slope=-0.2, t=-16.0, rel=1.7, num_checkpoints=30))
    assert "κ = 1.25 per nat" in said and "N* = 7.5e+07 (interval 6e+07–9e+07)" in said
    assert "(one γ, the per-task table's pooled Approach 1: 1e+08)" in said
    assert "## Pooled forecast (the law whose k exponent follows the loss" in said
    assert "not possible here" in _markdown(cfg, state, rows, extra, ratios, None, 0.8)


def test_a_sparse_chinchilla_pass_rate_gives_an_infinite_ratio_bound_without_a_warning():
    """Validation's T²/Chinchilla ratio over problems: where most resamples of the Chinchilla
    model's sampled pass@k are 0 the upper bound is inf, and no RuntimeWarning is printed."""
    t2 = {"sampled": [1.0] * 20 + [0.0] * 80}
    chin = {"sampled": [1.0] + [0.0] * 99}         # 1 of 100 problems: most resamples are 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _ratio(t2, chin, 0.8, seed=0)
    assert out["ratio_sampled"] == 20.0
    lo, hi = out["ratio_sampled_iv"]
    assert 0 < lo < 20 and hi == math.inf


def test_a_bootstrap_law_far_from_its_data_gives_nan_pass_at_k_without_a_warning():
    """A not-identifiable task's bootstrap laws (the cpu.yaml report's post-training spatial
    Approach 2) overflow far from the data: nan, skipped by the interval, and no warning."""
    wild = T2LossLaw(E=0.0, A=float("inf"), B=1e9, alpha=1281.9, beta=1.49, G=2.7, gamma=0.93)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = pass_at_k(wild, 3e4, 1e7, 4.0)
    assert np.isnan(p)

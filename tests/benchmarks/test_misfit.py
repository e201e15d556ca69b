"""benchmarks/misfit.py: the k-shape residual scale tells a drifting k exponent from the form."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_scripts import load_script
from t2.flows.config import load_study
from t2.flows.executors.prior import draw_laws

pytestmark = pytest.mark.slow  # two cold T² fits: seconds

STUDY = Path(__file__).resolve().parents[2] / "examples" / "cluster.yaml"


def test_k_shape_scale_is_the_noise_for_the_fitted_form_and_far_above_it_for_k_drift():
    """Under the fitted form the within-checkpoint residuals are the per-k noise (scale ~1);
    a k exponent that drifts with the loss bends every checkpoint's k curve the same way."""
    m = load_script("misfit")
    cfg = load_study(STUDY, ["tracking.enabled=false"])
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    fitted = draw_laws(1, targets, seed=2)[0]
    drift = draw_laws(3, targets, seed=2, misspecified=True)[2]
    assert drift.form == "kdrift"
    right = m.measure(cfg, fitted, draws=1, sigma=0.01, index=0)
    wrong = m.measure(cfg, drift, draws=1, sigma=0.01, index=2)
    assert 0.6 < right["k"] < 1.5 and 0.5 < right["all"] < 1.6
    assert wrong["k"] > 4.0 * right["k"]
    # only the k-drift law flags, and only there does a round forecast with the drift law
    assert right["flags"] == 0 and right["drift_error"] == right["error"]
    assert wrong["flags"] == 1 and abs(wrong["drift_error"]) < abs(wrong["error"])

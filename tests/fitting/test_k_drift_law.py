"""t2.fitting.drift: the law whose k exponent follows the loss, fitted where the check flags."""

import json

import numpy as np
import pytest
from t2.fitting.drift import fit_t2_drift
from t2.fitting.fit import fit_t2_loss
from t2.fitting.forecast import forecast
from t2.fitting.laws import T2DriftLaw, T2LossLaw, law_from_dict, loss_params
from t2.fitting.optimal import optimal_allocation
from t2.flows.executors.misspecified import KDriftLaw
from t2.flows.executors.truth import numeric_optima
from test_k_trend import BASE, LAW, _rows

TARGETS = [(2.56e19, 2e9)]
SIZES, RATIOS = (5e6, 1e7, 2e7, 4e7, 8e7, 1.6e8), (10, 40, 160, 640)


def _error(law, truth_log_n) -> float:
    return float(np.expm1(forecast(law, [], TARGETS).point[0, 0] - truth_log_n))


def test_a_drifting_k_exponent_is_recovered_and_its_forecast_is_near_the_truth():
    """Rows of a law whose γ grows as the loss falls (4 noise draws): the drift law finds κ
    within 0.1 and forecasts N* within 15% every time, closer in median than the one-γ law."""
    truth = KDriftLaw(base=BASE, kappa=1.2, L_ref=2.6)
    true_n = numeric_optima(truth, TARGETS)[0, 0]
    errors = []
    for seed in range(4):
        N, D, k, L, _ = _rows(truth, seed=seed, sizes=SIZES, ratios=RATIOS)
        one = fit_t2_loss(N, D, k, L)
        law = fit_t2_drift(N, D, k, L, init=one)
        assert law.kappa == pytest.approx(1.2, abs=0.1)
        assert law.info["objective"] < one.info["objective"]
        errors.append((abs(_error(law, true_n)), abs(_error(one, true_n))))
    drift, one = np.array(errors).T
    assert drift.max() < 0.15 and np.median(drift) < np.median(one)


def test_on_the_fitted_form_kappa_stays_near_zero_and_the_forecast_is_the_one_gamma_law_s():
    N, D, k, L, _ = _rows(BASE, sizes=SIZES, ratios=RATIOS)
    one = fit_t2_loss(N, D, k, L)
    law = fit_t2_drift(N, D, k, L, init=one)
    assert abs(law.kappa) < 0.15
    assert _error(law, forecast(one, [], TARGETS).point[0, 0]) == pytest.approx(0, abs=0.05)


def test_a_warm_refit_keeps_l_ref_and_lands_where_the_cold_fit_did():
    truth = KDriftLaw(base=BASE, kappa=1.0, L_ref=2.5)
    N, D, k, L, _ = _rows(truth, sizes=SIZES, ratios=RATIOS)
    cold = fit_t2_drift(N, D, k, L, init=fit_t2_loss(N, D, k, L))
    warm = fit_t2_drift(N, D, k, L, init=cold)
    assert warm.L_ref == cold.L_ref and warm.info["num_starts"] == 1
    assert warm.info["objective"] == pytest.approx(cold.info["objective"], rel=1e-6)


def test_with_kappa_zero_it_is_the_t2_law_and_its_optimum_is_the_closed_form_s():
    drift = T2DriftLaw(**LAW.params, kappa=0.0, L_ref=2.5)
    N, D, k = 3e7, 6e9, np.array([1.0, 8.0, 64.0])
    assert np.allclose(drift.predict(N, D, k), LAW.predict(N, D, k), rtol=1e-12)
    numeric, closed = optimal_allocation(drift, *TARGETS[0]), optimal_allocation(LAW, *TARGETS[0])
    assert numeric.N == pytest.approx(closed.N, rel=1e-6)
    assert numeric.chinchilla.N == pytest.approx(closed.chinchilla.N, rel=1e-9)


def test_a_drift_law_round_trips_through_json_and_is_no_seven_parameter_row():
    drift = T2DriftLaw(**LAW.params, kappa=0.7, L_ref=2.5)
    back = law_from_dict(json.loads(drift.to_json()))
    assert back == drift and back.kind == "t2_kdrift"
    assert law_from_dict({k: v for k, v in drift.to_dict().items() if k != "law"}) == drift
    with pytest.raises(TypeError, match="T2DriftLaw"):
        loss_params([drift])


def test_bad_starts_are_refused():
    N, D, k, L, _ = _rows(BASE, sizes=SIZES, ratios=RATIOS)
    from t2.fitting.checks import FitError
    with pytest.raises(FitError, match="k effect"):
        fit_t2_drift(N, D, k, L, init=T2LossLaw(**{**LAW.params, "G": 0.0}))
    two = k <= 2
    with pytest.raises(FitError, match="three or more k"):
        fit_t2_drift(N[two], D[two], k[two], L[two], init=LAW)

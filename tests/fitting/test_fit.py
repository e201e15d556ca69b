"""Chinchilla and T² loss fits: exact recovery, noisy recovery, warm refits, bad input, failures."""

import numpy as np
import pytest
from fitting_helpers import design
from t2.fitting import FitError, fit_chinchilla, fit_t2_loss

SMALL_GRID = {"e": [-1.0, 0.5], "a": [0.0, 5.0, 10.0], "b": [0.0, 5.0, 10.0],
              "alpha": [0.2, 0.8], "beta": [0.2, 0.8]}


def rel(a, b):
    return abs(a - b) / abs(b)


def test_chinchilla_fit_recovers_noise_free_parameters_exactly(chin_law):
    N, D, _ = design()
    law = fit_chinchilla(N, D, chin_law.predict(N, D))
    for name, true in chin_law.params.items():
        assert rel(law.params[name], true) < 1e-6, name
    assert law.info["objective"] < 1e-12
    assert law.info["num_agree"] >= 2  # several starts reach the same minimum


def test_chinchilla_fit_recovers_parameters_from_noisy_data_within_tolerance(chin_law):
    N, D, _ = design()
    rng = np.random.default_rng(1)
    L = chin_law.predict(N, D) * np.exp(rng.normal(0, 0.005, N.size))
    law = fit_chinchilla(N, D, L, grid=SMALL_GRID)
    assert rel(law.E, chin_law.E) < 0.05
    assert rel(law.alpha, chin_law.alpha) < 0.1 and rel(law.beta, chin_law.beta) < 0.1


def test_warm_refit_from_init_matches_the_grid_fit_quickly(chin_law):
    N, D, _ = design()
    rng = np.random.default_rng(2)
    L = chin_law.predict(N, D) * np.exp(rng.normal(0, 0.01, N.size))
    cold = fit_chinchilla(N, D, L, grid=SMALL_GRID)
    warm = fit_chinchilla(N, D, L, init=chin_law)
    assert warm.info["num_starts"] == 3
    assert warm.info["objective"] <= cold.info["objective"] * (1 + 1e-9)
    for name in cold.params:
        assert rel(warm.params[name], cold.params[name]) < 1e-4


def test_t2_loss_fit_recovers_noise_free_parameters_exactly(t2_law):
    N, D, k = design(num_k=6)
    law = fit_t2_loss(N, D, k, t2_law.predict(N, D, k))
    for name, true in t2_law.params.items():
        assert rel(law.params[name], true) < 1e-6, name


def test_t2_loss_fit_recovers_parameters_from_noisy_data_within_tolerance(t2_law):
    N, D, k = design(num_k=6)
    rng = np.random.default_rng(3)
    L = t2_law.predict(N, D, k) * np.exp(rng.normal(0, 0.005, N.size))
    law = fit_t2_loss(N, D, k, L, init=t2_law)
    for name in ("E", "G", "alpha", "beta", "gamma"):
        assert rel(law.params[name], t2_law.params[name]) < 0.1, name


def test_t2_loss_fit_drives_G_towards_zero_when_k_has_no_effect(chin_law):
    N, D, k = design(num_k=4)
    law = fit_t2_loss(N, D, k, chin_law.predict(N, D))
    assert law.G == 0.0 and law.info["k_effect"] is False
    assert abs(law.predict(N, D, k) / chin_law.predict(N, D) - 1).max() < 1e-4


def test_t2_loss_fit_with_a_single_k_raises_fit_error(t2_law):
    N, D, _ = design()
    k = np.full(N.size, 4.0)
    with pytest.raises(FitError, match="single k"):
        fit_t2_loss(N, D, k, t2_law.predict(N, D, k))


@pytest.mark.parametrize("bad, match", [
    ({"L": [np.nan]}, "L: 1 value"),
    ({"N": [-1.0]}, "N: values must be > 0"),
    ({"D": [0.0]}, "D: values must be > 0"),
    ({"L": [0.0]}, "L: values must be > 0"),
])
def test_bad_input_raises_a_clear_value_error(chin_law, bad, match):
    N, D, _ = design()
    arrays = {"N": N, "D": D, "L": chin_law.predict(N, D)}
    for key, val in bad.items():
        arrays[key] = arrays[key].copy()
        arrays[key][5] = val[0]
    with pytest.raises(ValueError, match=match):
        fit_chinchilla(**arrays)


def test_mismatched_lengths_and_too_few_points_raise_value_error(chin_law):
    N, D, _ = design()
    L = chin_law.predict(N, D)
    with pytest.raises(ValueError, match="mismatched lengths"):
        fit_chinchilla(N, D[:-1], L)
    with pytest.raises(ValueError, match="need at least 5"):
        fit_chinchilla(N[:4], D[:4], L[:4])
    with pytest.raises(ValueError, match="need at least 7"):
        fit_t2_loss(N[:6], D[:6], np.arange(1, 7), L[:6])


def test_a_fit_that_cannot_converge_raises_fit_error_not_garbage(chin_law):
    N, D, _ = design()
    with pytest.raises(FitError, match="did not converge"):
        fit_chinchilla(N, D, chin_law.predict(N, D), grid=SMALL_GRID, max_iter=2)


def test_a_batched_refit_with_non_finite_parameters_is_one_failed_replicate(t2_law,
                                                                           monkeypatch):
    """A resample whose refit overflows (B = e^1000) is None, as bootstrap_fit counts failed
    replicates, instead of a FitError that sinks every other replicate (seen on post-trained
    checkpoints of a tiny study)."""
    from t2.fitting import fit as fit_module

    N, D, k = design(num_k=6)
    good = fit_module._t2_theta(t2_law)
    bad = good.copy()
    bad[2] = 1000.0
    monkeypatch.setattr(fit_module, "_refit_lse", lambda *a, **kw: [(bad, {}), (good, {})])
    W = np.ones((2, N.size))
    laws = fit_module.refit_t2_loss(t2_law, {"N": N, "D": D, "k": k,
                                             "L": t2_law.predict(N, D, k)}, W)
    assert laws[0] is None and laws[1].params == pytest.approx(t2_law.params)

"""Budget optimizer: Chinchilla closed form when G = 0, brute-force agreement otherwise, pooled
form."""

import numpy as np
import pytest
from t2.fitting import T2LossLaw, optimal_allocation, optimal_pooled


def brute_force_separate(law, c_train, c_inf, num=200_001):
    N = np.geomspace(1e3, c_inf / 2, num)
    L = law.predict(N, c_train / (6 * N), c_inf / (2 * N))
    return N[np.argmin(L)], L.min()


def test_chinchilla_law_allocation_is_the_closed_form(chin_law):
    a = optimal_allocation(chin_law, 1e21, 1e12)
    s = chin_law.alpha + chin_law.beta
    F = (chin_law.alpha * chin_law.A / (chin_law.beta * chin_law.B)) ** (1 / s)
    assert a.N == pytest.approx(F * (1e21 / 6) ** (chin_law.beta / s), rel=1e-12)
    assert a.N * a.D * 6 == pytest.approx(1e21, rel=1e-12)
    assert a.k == pytest.approx(1e12 / (2 * a.N))


def test_t2_law_with_G_zero_agrees_with_the_chinchilla_closed_form(chin_law):
    law = T2LossLaw(chin_law.E, chin_law.A, chin_law.B, chin_law.alpha, chin_law.beta, 0.0, 0.5)
    budgets = np.geomspace(1e18, 1e24, 7)
    a = optimal_allocation(law, budgets, 1e30)
    np.testing.assert_allclose(a.N, chin_law.N_opt(budgets), rtol=1e-10)
    np.testing.assert_allclose(a.D, chin_law.D_opt(budgets), rtol=1e-10)
    np.testing.assert_allclose(a.N, a.chinchilla.N, rtol=1e-10)


@pytest.mark.parametrize("c_train, c_inf", [(2.56e19, 2e9), (1e21, 1e11), (1e18, 1e8)])
def test_t2_allocation_matches_a_brute_force_grid_search(t2_law, c_train, c_inf):
    a = optimal_allocation(t2_law, c_train, c_inf)
    N_grid, L_grid = brute_force_separate(t2_law, c_train, c_inf)
    assert a.N == pytest.approx(N_grid, rel=1e-3)
    assert a.loss <= L_grid + 1e-12
    assert a.k == pytest.approx(c_inf / (2 * a.N)) and a.D == pytest.approx(c_train / (6 * a.N))
    assert a.k_int == round(a.k) or abs(a.k_int - a.k) < 1
    assert a.loss < a.chinchilla.loss  # T² beats Chinchilla sizing on its own objective


def test_t2_allocation_is_vectorized_over_budgets(t2_law):
    ct = np.array([1e19, 1e20, 1e21])
    a = optimal_allocation(t2_law, ct, 2e9)
    singles = [optimal_allocation(t2_law, c, 2e9).N for c in ct]
    np.testing.assert_allclose(a.N, singles, rtol=1e-12)
    assert a.N.shape == (3,)


def test_inference_budget_too_small_for_more_samples_pins_k_at_one(t2_law):
    law = T2LossLaw(**{**t2_law.params, "G": 0.01})  # a weak k effect wants a big model
    a = optimal_allocation(law, 1e23, 2e6)
    assert a.k == pytest.approx(1.0) and a.N == pytest.approx(1e6)


def test_pooled_allocation_matches_brute_force_and_splits_the_bill(t2_law):
    c_total, T, Q = 1e22, 512.0, 1e8
    p = optimal_pooled(t2_law, c_total, T, Q)
    assert 6 * p.N * p.D + 2 * p.N * p.k * T * Q == pytest.approx(c_total, rel=1e-9)
    assert p.train_fraction == pytest.approx(6 * p.N * p.D / c_total, rel=1e-9)
    # brute force over (log N, train share s)
    N = np.geomspace(1e6, c_total / (2 * T * Q), 800)[:, None]
    R = c_total / N
    s = np.linspace(1e-4, 1, 2000)[None, :] * (1 - 2 * T * Q / R)  # k >= 1
    with np.errstate(divide="ignore"):
        L = t2_law.predict(N, s * R / 6, (1 - s) * R / (2 * T * Q))
    assert p.loss <= L.min() + 1e-9
    assert p.loss == pytest.approx(L.min(), rel=1e-3)
    assert p.chinchilla.k == pytest.approx(1.0) and p.loss < p.chinchilla.loss


def test_optimizer_rejects_bad_budgets_and_exponents(t2_law, chin_law):
    with pytest.raises(ValueError, match="c_train"):
        optimal_allocation(t2_law, -1.0, 1e9)
    with pytest.raises(ValueError, match="c_inf"):
        optimal_allocation(t2_law, 1e20, np.nan)
    bad = T2LossLaw(1.0, 1.0, 1.0, -0.1, 0.3, 1.0, 0.5)
    with pytest.raises(ValueError, match="alpha|exponents"):
        optimal_allocation(bad, 1e20, 1e9)
    with pytest.raises(ValueError, match="T"):
        optimal_pooled(chin_law, 1e22, 0.0, 1e8)


def _brute_pooled(law, c_total, TQ):
    N = np.geomspace(1e6, c_total / (2 * TQ), 600)[:, None]
    R = c_total / N
    s = np.geomspace(1e-6, 1, 1500)[None, :] * (1 - 2 * TQ / R)  # k >= 1
    with np.errstate(all="ignore"):  # a floor of s so low that D underflows the surface
        return np.nanmin(law.predict(N, s * R / 6, (1 - s) * R / (2 * TQ)))


@pytest.mark.parametrize("kappa", [0.0, 0.6, -0.4])
def test_pooled_allocation_of_a_drifting_k_exponent_is_found_numerically(t2_law, kappa):
    """The drift law has no closed inner split, so its pooled optimum is searched over (log N,
    training share): at κ = 0 it is the one-γ law's closed form, otherwise no brute-force point
    of the budget beats it, and the bill adds up."""
    from t2.fitting.laws import T2DriftLaw

    law = T2DriftLaw(**t2_law.params, kappa=kappa, L_ref=3.0)
    c_total, T, Q = 1e22, 512.0, 1e8
    p = optimal_pooled(law, c_total, T, Q)
    assert 6 * p.N * p.D + 2 * p.N * p.k * T * Q == pytest.approx(c_total, rel=1e-9)
    assert p.k >= 1 and p.loss <= _brute_pooled(law, c_total, T * Q) + 1e-9
    assert p.chinchilla.k == pytest.approx(1.0)
    if kappa == 0.0:
        closed = optimal_pooled(t2_law, c_total, T, Q)
        assert p.N == pytest.approx(closed.N, rel=1e-4)
        assert p.train_fraction == pytest.approx(closed.train_fraction, rel=1e-4)

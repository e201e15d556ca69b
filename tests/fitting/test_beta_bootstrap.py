"""T² Beta law fits, bootstrap intervals over runs, extrapolation check."""

import numpy as np
import pytest
from fitting_helpers import design
from scipy.stats import beta as beta_dist
from t2.fitting import (
    ChinchillaLaw,
    FitError,
    T2BetaLaw,
    bootstrap_fit,
    extrapolation_check,
    fit_chinchilla,
    fit_t2_beta,
    optimal_allocation,
)

TRUE_THETA = (2.0, -1.5, 1.0, 0.3)
# Task-loss surface spanning L ~ 1.3..2.8, where accuracies are not all clipped at 0.
TASK_LOSS = ChinchillaLaw(E=1.0, A=50.0, B=300.0, alpha=0.3, beta=0.35)


def beta_rows(law, num_problems, rng=None, n=64):
    """Per-(checkpoint, problem) rows; without rng p_i are Beta quantiles (noise-free sample)."""
    N, D, _ = design()
    N, D = N[::4], D[::4]
    rows = {"N": [], "D": [], "p": [], "n": [], "c": []}
    for Nv, Dv in zip(N, D):
        a, b = law.beta_params(Nv, Dv)
        if rng is None:
            p = beta_dist.ppf((np.arange(num_problems) + 0.5) / num_problems, a, b)
        else:
            p = rng.beta(a, b, num_problems)
            rows["c"] += list(rng.binomial(n, p))
        rows["N"] += [Nv] * num_problems
        rows["D"] += [Dv] * num_problems
        rows["p"] += list(p)
        rows["n"] += [n] * num_problems
    return {k: np.array(v, float) for k, v in rows.items() if v}


def test_beta_law_recovers_parameters_from_noise_free_quantile_data():
    true = T2BetaLaw(*TRUE_THETA, TASK_LOSS)
    rows = beta_rows(true, 2000)
    law = fit_t2_beta(rows["N"], rows["D"], p=rows["p"], loss_law=TASK_LOSS)
    np.testing.assert_allclose([law.theta1, law.theta2, law.theta3, law.theta4], TRUE_THETA,
                               atol=2e-2)


def test_beta_binomial_fit_recovers_parameters_from_sampled_counts():
    true = T2BetaLaw(*TRUE_THETA, TASK_LOSS)
    rows = beta_rows(true, 500, rng=np.random.default_rng(0))
    law = fit_t2_beta(rows["N"], rows["D"], n=rows["n"], c=rows["c"], loss_law=TASK_LOSS)
    np.testing.assert_allclose([law.theta1, law.theta2], TRUE_THETA[:2], atol=0.25)
    N, D = 1e8, 2e9
    for k in (1, 10, 100):  # pass@k forecasts agree closely even where theta is loose
        assert law.predict(N, D, k) == pytest.approx(true.predict(N, D, k), abs=0.02)


def test_beta_law_closed_form_matches_monte_carlo_pass_at_k():
    law = T2BetaLaw(*TRUE_THETA, TASK_LOSS)
    a, b = law.beta_params(1e8, 2e9)
    p = np.random.default_rng(1).beta(a, b, 400_000)
    for k in (1, 4, 32):
        assert law.predict(1e8, 2e9, k) == pytest.approx(np.mean(1 - (1 - p) ** k), abs=3e-3)


def test_beta_fit_rejects_bad_counts():
    with pytest.raises(ValueError, match="either n and c"):
        fit_t2_beta([1e8] * 4, [1e9] * 4, loss_law=TASK_LOSS)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        fit_t2_beta([1e8] * 4, [1e9] * 4, n=[4] * 4, c=[5, 1, 1, 1], loss_law=TASK_LOSS)


def noisy_runs(law, seed=0):
    N, D, _ = design()
    rng = np.random.default_rng(seed)
    L = law.predict(N, D) * np.exp(rng.normal(0, 0.01, N.size))
    return {"N": N, "D": D, "L": L}, np.arange(N.size) // 2  # two checkpoints per run


def test_bootstrap_gives_intervals_for_parameters_and_for_optimal_N(chin_law):
    arrays, groups = noisy_runs(chin_law)
    bs = bootstrap_fit(fit_chinchilla, arrays, groups, num_samples=30, seed=0)
    assert len(bs.laws) + bs.num_failed == 30
    ci = bs.intervals(0.95)
    for name in ("E", "alpha", "beta"):
        lo, hi = ci[name]
        assert lo < bs.law.params[name] < hi and hi - lo > 0
    lo, hi = bs.interval(lambda law: optimal_allocation(law, 1e21, 1e12).N)
    assert lo < optimal_allocation(bs.law, 1e21, 1e12).N < hi
    again = bootstrap_fit(fit_chinchilla, arrays, groups, num_samples=30, seed=0)
    assert again.intervals() == ci  # fixed seeds: reproducible


def test_bootstrap_in_worker_processes_matches_serial(chin_law):
    arrays, groups = noisy_runs(chin_law, seed=4)
    serial = bootstrap_fit(fit_chinchilla, arrays, groups, num_samples=12, seed=3, workers=1)
    parallel = bootstrap_fit(fit_chinchilla, arrays, groups, num_samples=12, seed=3, workers=2)
    np.testing.assert_allclose(serial.samples["alpha"], parallel.samples["alpha"], rtol=1e-9)


def test_bootstrap_rejects_a_single_run(chin_law):
    arrays, _ = noisy_runs(chin_law)
    with pytest.raises(ValueError, match="2 distinct runs"):
        bootstrap_fit(fit_chinchilla, arrays, np.zeros(len(arrays["N"])), num_samples=5)


def test_extrapolation_to_overtrained_runs_reports_small_relative_errors(chin_law):
    arrays, _ = noisy_runs(chin_law)
    rep = extrapolation_check(fit_chinchilla, arrays, max_tokens_per_param=300)
    assert rep.num_test == 16 and rep.num_train == 32
    assert rep.mean_abs_rel_error < 0.03
    with pytest.raises(ValueError, match="no training or no held-out"):
        extrapolation_check(fit_chinchilla, arrays, max_tokens_per_param=1e9)


def test_failed_bootstrap_raises_fit_error(chin_law):
    arrays, groups = noisy_runs(chin_law)

    def always_fails(N, D, L, init=None):
        if init is not None:
            raise FitError("boom")
        return fit_chinchilla(N, D, L)

    with pytest.raises(FitError, match="refits failed"):
        bootstrap_fit(always_fails, arrays, groups, num_samples=5)


def test_t2_loss_extrapolation_from_chinchilla_ratios_to_overtrained_checkpoints(t2_law):
    from functools import partial

    from t2.fitting import fit_t2_loss

    N, D, k = design(num_k=5)
    L = t2_law.predict(N, D, k) * np.exp(np.random.default_rng(5).normal(0, 0.01, N.size))
    rep = extrapolation_check(partial(fit_t2_loss, init=t2_law), {"N": N, "D": D, "k": k, "L": L},
                              max_tokens_per_param=100)
    assert rep.num_test > 0 and rep.rel_errors.shape == (rep.num_test,)
    assert rep.mean_abs_rel_error < 0.03

"""The compressed Beta-law likelihood is the per-row likelihood; the fast fit finds its optimum.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/fitting/test_beta_likelihood.py

References are scipy.stats' beta-binomial and Beta densities on every row (no compression).
"""

import time
import warnings

import numpy as np
import pytest
from fitting_helpers import problem_rows
from scipy.optimize import minimize
from scipy.stats import beta as beta_dist
from scipy.stats import betabinom
from t2.fitting import ChinchillaLaw, T2BetaLaw, fit_t2_beta
from t2.fitting.beta import _checkpoints, _compress, _nll

LOSS = ChinchillaLaw(E=1.2, A=400.0, B=2000.0, alpha=0.34, beta=0.36)
TRUTHS = [(2.0, -1.5, 1.0, 0.3), (5.0, -3.0, -1.0, 0.5), (-1.0, -0.5, 2.0, -0.3)]
EPS = 1e-6


def reference_nll(theta, rows, likelihood, censor=False):
    """-sum over rows of the scipy log-likelihood (p clipped to [EPS, 1 - EPS])."""
    a, b = T2BetaLaw(*theta, LOSS).beta_params(rows["N"], rows["D"])
    if likelihood == "counts":
        return -betabinom.logpmf(rows["c"], rows["n"], a, b).sum()
    p = np.clip(rows["p"], EPS, 1 - EPS)
    ll = beta_dist.logpdf(p, a, b)
    if censor:
        lo, hi = p <= EPS, p >= 1 - EPS
        upper = np.where(hi, beta_dist.logsf(1 - EPS, a, b), ll)
        ll = np.where(lo, beta_dist.logcdf(EPS, a, b), upper)
    return -ll.sum()


def compressed_nll(theta, rows, likelihood, censor=False):
    N_ck, D_ck, ck = _checkpoints(rows["N"], rows["D"])
    cols = {"n": rows["n"], "c": rows["c"]} if likelihood == "counts" else {
        "p": np.clip(rows["p"], EPS, 1 - EPS)}
    d, _ = _compress(ck, len(N_ck), np.ones(len(ck)), censor_eps=EPS if censor else 0.0, **cols)
    L = LOSS.predict(N_ck, D_ck)[d.ck][None]
    f, g = _nll(np.array([theta], float), L, d)
    return f[0], g[0]


def small_rows(theta, seed):
    return problem_rows(T2BetaLaw(*theta, LOSS), seed, num_problems=60, sizes=4, ratios=3)


@pytest.mark.parametrize("likelihood, censor", [("counts", False), ("p", False), ("p", True)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compressed_objective_equals_the_per_row_scipy_likelihood(likelihood, censor, seed):
    theta = TRUTHS[seed]
    rows = small_rows(theta, seed)
    for t in (theta, np.array(theta) + [0.3, -0.2, 0.5, -0.1]):
        f, _ = compressed_nll(t, rows, likelihood, censor)
        assert f == pytest.approx(reference_nll(t, rows, likelihood, censor), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("likelihood, censor", [("counts", False), ("p", False), ("p", True)])
def test_analytic_gradient_matches_finite_differences(likelihood, censor):
    rows = small_rows(TRUTHS[0], 3)
    theta = np.array([1.5, -1.2, 0.8, 0.4])
    _, g = compressed_nll(theta, rows, likelihood, censor)
    h = 1e-6
    fd = [(compressed_nll(theta + h * e, rows, likelihood, censor)[0]
           - compressed_nll(theta - h * e, rows, likelihood, censor)[0]) / (2 * h)
          for e in np.eye(4)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("likelihood", ["counts", "p"])
@pytest.mark.parametrize("theta", TRUTHS)
def test_fit_is_the_optimum_of_the_per_row_likelihood(likelihood, theta):
    rows = problem_rows(T2BetaLaw(*theta, LOSS), seed=7, num_problems=100)
    cols = {"n": rows["n"], "c": rows["c"]} if likelihood == "counts" else {"p": rows["p"]}
    law = fit_t2_beta(rows["N"], rows["D"], loss_law=LOSS, censor=False, **cols)
    fitted = np.array([law.theta1, law.theta2, law.theta3, law.theta4])
    ref = minimize(reference_nll, fitted + 0.05, args=(rows, likelihood), method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})
    assert reference_nll(fitted, rows, likelihood) <= ref.fun + 1e-6
    np.testing.assert_allclose(fitted, ref.x, atol=2e-3)
    assert law.info["num_agree"] >= 2  # several starts reach the same optimum


def test_weights_count_like_repeated_rows_and_a_warm_refit_finds_the_same_optimum():
    rows = problem_rows(T2BetaLaw(*TRUTHS[0], LOSS), seed=4, num_problems=80)
    w = np.random.default_rng(0).integers(0, 3, rows["N"].size).astype(float)
    rep = np.repeat(np.arange(w.size), w.astype(int))
    cols = ("N", "D", "n", "c")
    weighted = fit_t2_beta(**{k: rows[k] for k in cols}, loss_law=LOSS, weights=w)
    repeated = fit_t2_beta(**{k: rows[k][rep] for k in cols}, loss_law=LOSS)
    warm = fit_t2_beta(**{k: rows[k][rep] for k in cols}, loss_law=LOSS, init=weighted)
    for law in (repeated, warm):
        assert law.theta2 == pytest.approx(weighted.theta2, abs=1e-5)
        assert law.theta4 == pytest.approx(weighted.theta4, abs=1e-5)
        assert law.info["neg_loglik"] == pytest.approx(weighted.info["neg_loglik"], rel=1e-10)


def test_weights_that_leave_whole_checkpoints_out_fit_like_the_kept_rows_without_warnings():
    """A checkpoint bootstrap draws some checkpoints zero times: the moment start must use only
    the drawn ones (it divided 0 by 0 and started from NaN before)."""
    rows = problem_rows(T2BetaLaw(*TRUTHS[0], LOSS), seed=5, num_problems=80)
    _, _, ck = _checkpoints(rows["N"], rows["D"])
    w = np.where(np.isin(ck, [0, 3]), 0.0, 1.0)
    cols = ("N", "D", "n", "c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weighted = fit_t2_beta(**{k: rows[k] for k in cols}, loss_law=LOSS, weights=w)
    kept = fit_t2_beta(**{k: rows[k][w > 0] for k in cols}, loss_law=LOSS)
    assert weighted.info["neg_loglik"] == pytest.approx(kept.info["neg_loglik"], rel=1e-10)
    assert weighted.theta2 == pytest.approx(kept.theta2, abs=1e-5)


@pytest.mark.parametrize("theta", TRUTHS)
def test_censored_clip_recovers_theta_where_the_density_at_the_clip_is_biased(theta):
    """Many p_i far below the clip (tiny models): treated as P(p <= eps) they inform theta."""
    truth = T2BetaLaw(*theta, LOSS)
    errors = {True: [], False: []}
    for seed in range(3):
        rows = problem_rows(truth, seed)
        assert np.mean(rows["p"] < EPS) > 0.1
        for censor in (True, False):
            law = fit_t2_beta(rows["N"], rows["D"], p=rows["p"], loss_law=LOSS, censor=censor)
            errors[censor].append(max(abs(law.predict(N, D, k) - truth.predict(N, D, k))
                                      for k in (1, 8, 64) for N, D in [(5e6, 1e8), (1e8, 2e9),
                                                                       (9e8, 1.8e11)]))
    assert max(errors[True]) < 0.03
    assert min(errors[False]) > 2 * max(errors[True])


def test_a_single_checkpoint_is_rejected_and_bad_counts_name_the_field():
    with pytest.raises(ValueError, match="at least 2 checkpoints of different loss"):
        fit_t2_beta([1e8] * 5, [1e9] * 5, n=[4] * 5, c=[1, 2, 0, 4, 3], loss_law=LOSS)
    with pytest.raises(ValueError, match="weights: expected one non-negative"):
        fit_t2_beta([1e8, 2e8] * 3, [1e9] * 6, n=[4] * 6, c=[1] * 6, loss_law=LOSS, weights=[1])


def test_a_study_sized_cold_fit_takes_well_under_a_second_of_cpu():
    rows = problem_rows(T2BetaLaw(*TRUTHS[0], LOSS), seed=0, num_problems=300, sizes=8,
                        ratios=5, num_samples=64)  # 40 checkpoints x 300 problems
    t0 = time.process_time()
    fit_t2_beta(rows["N"], rows["D"], n=rows["n"], c=rows["c"], loss_law=LOSS)
    assert time.process_time() - t0 < 1.0  # measured ~0.1 s; the per-row fit took ~3 s

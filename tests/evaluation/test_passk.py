"""pass@k: unbiased estimator vs brute force, likelihood pass@k stability, bootstrap CIs."""

import itertools
import math

import numpy as np
import pytest
import t2.evaluation as ev
from t2.evaluation.passk import (
    bootstrap_ci,
    neg_log_pass_at_k_from_nll,
    neg_log_pass_at_k_from_p,
    pass_at_k,
    pass_at_k_curve,
    pass_at_k_from_p,
)


def comb_pass_at_k(n, c, k):
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def enumerated_pass_at_k(n, c, k):
    """Fraction of all k-subsets of the n samples that contain at least one correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_estimator_equals_brute_force_combinatorics_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        c = int(rng.integers(0, n + 1))
        k = int(rng.integers(1, n + 1))
        assert pass_at_k(n, c, k) == pytest.approx(comb_pass_at_k(n, c, k), abs=1e-12)


def test_estimator_equals_enumeration_of_all_subsets_for_small_n():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(enumerated_pass_at_k(n, c, k))


def test_vectorized_call_matches_scalar_calls_and_broadcasts():
    rng = np.random.default_rng(1)
    n = rng.integers(10, 40, size=50)
    c = np.array([rng.integers(0, m + 1) for m in n])
    got = pass_at_k(n, c, 5)
    assert got.shape == (50,)
    assert np.allclose(got, [comb_pass_at_k(int(a), int(b), 5) for a, b in zip(n, c)])
    curve = pass_at_k_curve(n, c, [1, 2, 5, 10])
    assert curve.shape == (50, 4)
    assert np.allclose(curve[:, 2], got)
    assert np.all(np.diff(curve, axis=1) >= -1e-15)  # more samples never hurt
    assert np.allclose(curve[:, 0], c / n)  # pass@1 is the plain success rate


def test_edge_cases_c_zero_and_too_few_failures():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 8, 5) == 1.0  # n - c = 2 < k: every 5-subset holds a correct sample
    assert pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert isinstance(pass_at_k(3, 1, 2), float)


@pytest.mark.parametrize("n, c, k, words", [
    (5, 1, 6, "k = 6 exceeds n = 5"),
    (5, 6, 1, "c (correct samples) must be <= n"),
    (-1, 0, 1, "n must be >= 0"),
    (5, -2, 1, "c must be >= 0"),
    (5, 1, 0, "k must be >= 1"),
    (5.5, 1, 1, "n must hold integers"),
])
def test_bad_inputs_are_rejected_with_a_clear_error(n, c, k, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        pass_at_k(n, c, k)


def test_k_larger_than_n_in_an_array_is_rejected():
    with pytest.raises(ValueError, match="exceeds n"):
        pass_at_k_curve([10, 4], [1, 1], [1, 5])


def test_large_n_stays_accurate():
    n, c, k = 10_000, 3, 2_000
    exact = 1 - math.exp(math.lgamma(n - c + 1) - math.lgamma(n - c - k + 1)
                         - math.lgamma(n + 1) + math.lgamma(n - k + 1))
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-9)


def test_public_api_is_reexported():
    assert ev.pass_at_k is pass_at_k and ev.pass_at_k_from_p is pass_at_k_from_p
    assert ev.pass_at_k([4, 4], [1, 2], 2).shape == (2,)


def test_likelihood_pass_at_k_matches_the_closed_form():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    for k in (1, 3, 10):
        assert np.allclose(pass_at_k_from_p(p, k), 1 - (1 - p) ** k)
    assert pass_at_k_from_p(0.3, 1) == pytest.approx(0.3)
    assert pass_at_k_from_p(0.3, 2.5) == pytest.approx(1 - 0.7 ** 2.5)  # real k (fitted laws)


def test_likelihood_pass_at_k_is_stable_for_tiny_and_near_one_p():
    # naive 1 - (1 - p)**k loses everything at p = 1e-12; the stable form keeps k * p
    assert pass_at_k_from_p(1e-12, 10) == pytest.approx(1e-11, rel=1e-6)
    assert neg_log_pass_at_k_from_p(1e-12, 10) == pytest.approx(-math.log(1e-11), rel=1e-9)
    # near p = 1 the loss is (1 - p)^k, far below float resolution of 1 - pass@k
    assert neg_log_pass_at_k_from_p(1 - 1e-6, 3) == pytest.approx(1e-18, rel=1e-6)
    assert neg_log_pass_at_k_from_p(0.0, 5) == math.inf
    assert neg_log_pass_at_k_from_p(1.0, 5) == 0.0


def test_loss_from_nll_matches_loss_from_p():
    nll = np.array([1e-8, 0.01, 0.7, 5.0, 40.0])
    for k in (1, 4, 64):
        assert np.allclose(neg_log_pass_at_k_from_nll(nll, k),
                           neg_log_pass_at_k_from_p(np.exp(-nll), k), rtol=1e-6)
    assert neg_log_pass_at_k_from_nll(50.0, 1) == pytest.approx(50.0)


@pytest.mark.parametrize("p, k", [(-0.1, 1), (1.1, 1), (0.5, 0), (0.5, -2)])
def test_likelihood_pass_at_k_rejects_bad_inputs(p, k):
    with pytest.raises(ValueError):
        pass_at_k_from_p(p, k)


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_more_problems():
    rng = np.random.default_rng(0)
    small = rng.random(30)
    large = rng.random(3000)
    lo, hi = bootstrap_ci(small, num=2000, seed=0)
    assert lo < small.mean() < hi
    lo2, hi2 = bootstrap_ci(large, num=2000, seed=0)
    assert (hi2 - lo2) < (hi - lo) / 5  # width ~ 1/sqrt(problems)
    # the 95% interval of a mean of uniforms: about +-1.96 * sqrt(1/12 / 3000)
    assert hi2 - lo2 == pytest.approx(2 * 1.96 * math.sqrt(1 / 12 / 3000), rel=0.15)
    assert np.array_equal(bootstrap_ci(small, seed=3), bootstrap_ci(small, seed=3))


def test_bootstrap_ci_works_over_a_pass_at_k_curve():
    n = np.full(40, 10)
    c = np.arange(40) % 11
    curve = pass_at_k_curve(n, c, [1, 2, 4])
    ci = bootstrap_ci(curve, num=500)
    assert ci.shape == (2, 3)
    assert np.all(ci[0] <= curve.mean(0)) and np.all(curve.mean(0) <= ci[1])
    with pytest.raises(ValueError, match="at least one problem"):
        bootstrap_ci([])


def test_many_problems_with_many_samples_are_chunked_not_materialized():
    from t2.evaluation import passk

    n = np.full(3000, 4000)
    c = np.arange(3000)
    got = pass_at_k(n, c, 3)  # 3000 x 2999 terms: ~9M > one chunk
    assert 3000 * 2999 > passk.MAX_CHUNK_ELEMENTS
    for i in (0, 1, 1500, 2999):
        assert got[i] == pytest.approx(comb_pass_at_k(4000, i, 3), rel=1e-10, abs=1e-15)

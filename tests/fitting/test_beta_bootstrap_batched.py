"""The batched Beta-law bootstrap equals one refit per resample, drawn as bootstrap_fit draws.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/fitting/test_beta_bootstrap_batched.py
"""

from functools import partial

import numpy as np
import pytest
from fitting_helpers import problem_rows
from t2.fitting import (
    ChinchillaLaw,
    T2BetaLaw,
    bootstrap_fit,
    bootstrap_t2_beta,
    checkpoint_loss,
    fit_chinchilla,
    fit_t2_beta,
    fit_t2_beta_rows,
)
from t2.fitting.bootstrap import resample_counts

LOSS = ChinchillaLaw(E=1.2, A=400.0, B=2000.0, alpha=0.34, beta=0.36)
THETA = (2.0, -1.5, 1.0, 0.3)


def runs_of(rows, per_run=2):
    """Two checkpoints per training run (a run's decayed checkpoints share its noise)."""
    return rows["run"] // per_run


@pytest.mark.parametrize("likelihood", [("n", "c"), ("p",)])
@pytest.mark.parametrize("seed", [0, 1])
def test_batched_refits_equal_one_warm_refit_per_resample(likelihood, seed):
    rows = problem_rows(T2BetaLaw(*THETA, LOSS), seed, num_problems=60)
    arrays = {k: rows[k] for k in ("N", "D", *likelihood)}
    groups = runs_of(rows)
    batched = bootstrap_t2_beta(arrays, groups, num_samples=6, seed=seed, loss_law=LOSS)
    one_by_one = bootstrap_fit(partial(fit_t2_beta, loss_law=LOSS), arrays, groups,
                               num_samples=6, seed=seed, law=batched.law, workers=1)
    for a, b in zip(batched.replicates, one_by_one.replicates):
        np.testing.assert_allclose([a.theta1, a.theta2, a.theta3, a.theta4],
                                   [b.theta1, b.theta2, b.theta3, b.theta4], atol=1e-5)


def test_each_resample_refits_the_loss_surface_on_the_same_runs():
    rows = problem_rows(T2BetaLaw(*THETA, LOSS), 2, num_problems=60)
    arrays = {k: rows[k] for k in ("N", "D", "n", "c")}
    groups = runs_of(rows)
    law = fit_t2_beta_rows(**arrays)
    bs = bootstrap_t2_beta(arrays, groups, num_samples=5, seed=3, law=law)
    ckpts = checkpoint_loss(**arrays)  # checkpoints in (N, D) order
    _, first = np.unique(np.column_stack([rows["N"], rows["D"]]), axis=0, return_index=True)
    W = resample_counts(groups, 5, seed=3)  # per row: how often its run was drawn
    for w, rep in zip(W, bs.replicates):
        again = np.repeat(np.arange(first.size), w[first].astype(int))
        loss_b = fit_chinchilla(*(ckpts[k][again] for k in "NDL"), init=law.loss_law)
        assert rep.loss_law.alpha == pytest.approx(loss_b.alpha, rel=1e-4)
        assert rep.loss_law.E == pytest.approx(loss_b.E, rel=1e-4)
        rows_b = np.repeat(np.arange(w.size), w.astype(int))
        direct = fit_t2_beta(**{k: v[rows_b] for k, v in arrays.items()},
                             loss_law=rep.loss_law, init=law)
        assert rep.theta2 == pytest.approx(direct.theta2, abs=1e-5)
    lo, hi = bs.intervals(0.95)["theta2"]
    assert lo < law.theta2 < hi


def test_replicate_loss_laws_drive_their_own_resamples():
    """As a study round pairs Approach 2 with the Approach-1 bootstrap of the same runs."""
    rows = problem_rows(T2BetaLaw(*THETA, LOSS), 6, num_problems=60)
    arrays = {k: rows[k] for k in ("N", "D", "p")}
    groups = runs_of(rows)
    law = fit_t2_beta(**arrays, loss_law=LOSS)
    surfaces = [ChinchillaLaw(LOSS.E * s, LOSS.A, LOSS.B, LOSS.alpha, LOSS.beta)
                for s in (0.97, 1.0, 1.03)] + [None]
    bs = bootstrap_t2_beta(arrays, groups, num_samples=4, seed=2, law=law,
                           replicate_loss_laws=surfaces, max_failed_frac=1.0)
    assert bs.replicates[3] is None and bs.num_failed == 1
    W = resample_counts(groups, 4, seed=2)
    for w, rep, surface in zip(W[:3], bs.replicates[:3], surfaces[:3]):
        assert rep.loss_law == surface
        rows_b = np.repeat(np.arange(w.size), w.astype(int))
        direct = fit_t2_beta(**{k: v[rows_b] for k, v in arrays.items()}, loss_law=surface,
                             init=law)
        assert rep.theta1 == pytest.approx(direct.theta1, abs=1e-5)


def test_two_runs_at_one_checkpoint_are_resampled_apart():
    rows = problem_rows(T2BetaLaw(*THETA, LOSS), 8, num_problems=40)
    twin = {k: np.concatenate([v, v]) for k, v in rows.items()}  # a second seed of every run
    twin["p"] = np.concatenate([rows["p"], problem_rows(T2BetaLaw(*THETA, LOSS), 9,
                                                        num_problems=40)["p"]])
    groups = np.concatenate([rows["run"], rows["run"] + 1000])
    arrays = {k: twin[k] for k in ("N", "D", "p")}
    batched = bootstrap_t2_beta(arrays, groups, num_samples=4, seed=1, loss_law=LOSS)
    one_by_one = bootstrap_fit(partial(fit_t2_beta, loss_law=LOSS), arrays, groups,
                               num_samples=4, seed=1, law=batched.law, workers=1)
    for a, b in zip(batched.replicates, one_by_one.replicates):
        assert a.theta2 == pytest.approx(b.theta2, abs=1e-5)
    assert len(checkpoint_loss(**arrays, groups=groups)["L"]) == 2 * len(np.unique(rows["run"]))


def test_a_stratified_resample_keeps_every_stratum_and_draws_each_from_its_own_groups():
    groups = np.repeat(np.arange(6), 2)           # 6 runs of 2 rows each
    strata = np.repeat([1.0, 1.0, 1.0, 2.0, 2.0, 3.0], 2)  # sizes: 3 runs, 2 runs, 1 run
    counts = resample_counts(groups, 64, seed=0, strata=strata)
    for s, runs in ((1.0, 3), (2.0, 2), (3.0, 1)):
        assert (counts[:, strata == s].sum(axis=1) == 2 * runs).all()  # as many as it has
    assert counts[:, strata == 1.0].std(axis=0).min() > 0   # yet drawn with replacement
    with pytest.raises(ValueError, match="strata: a group's rows must share one stratum"):
        resample_counts(groups, 4, strata=np.arange(12.0))

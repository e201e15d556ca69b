"""t2.fitting.misfit: the k exponent's drift with the loss, told from each checkpoint's k curve."""

import numpy as np
import pytest
from t2.fitting.laws import T2LossLaw
from t2.fitting.misfit import k_trend
from t2.flows.executors.misspecified import KDriftLaw
from t2.flows.executors.truth import TrueLaw

BASE = TrueLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, G=3.0, gamma=0.4)
LAW = T2LossLaw(**BASE.to_dict())
KS = (1, 2, 4, 8, 16, 32, 64)


def _rows(truth, sigma=0.01, seed=0, shared=None, sizes=(5e6, 1e7, 2e7, 4e7, 8e7, 1.6e8),
          ratios=(10, 40, 160)):
    """(N, D, k, L, checkpoint): each checkpoint's rows share a run and a checkpoint draw
    (σ each, or ``shared``) and get σ/4 of their own per k, as the study simulator draws them."""
    rng, per_k = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    shared = 2 ** 0.5 * sigma if shared is None else shared
    cols = []
    for c, (N, r) in enumerate((N, r) for N in sizes for r in ratios):
        move = shared * rng.standard_normal()
        for k in KS:
            L = truth.task_loss(N, r * N, k) * np.exp(move + sigma / 4 * per_k.standard_normal())
            cols.append((N, r * N, k, L, c))
    return [np.array(c) for c in zip(*cols)]


@pytest.mark.parametrize("seed", range(5))
def test_the_fitted_form_shows_no_trend(seed):
    trend = k_trend(LAW, *_rows(BASE, seed=seed))
    assert trend.num_checkpoints == 18
    assert abs(trend.t) < 4.5 and not trend.flags()


def test_a_k_exponent_that_grows_as_the_loss_falls_is_a_significant_negative_slope():
    drift = KDriftLaw(base=BASE, kappa=1.0, L_ref=2.5)
    trend = k_trend(LAW, *_rows(drift))
    assert trend.flags() and trend.t < -5 and trend.slope < 0 and trend.rel > 0.25



def test_noise_that_moves_a_checkpoint_s_k_alike_does_not_reach_it():
    """A run's seed and a checkpoint's own noise shift all its k together: centred over k,
    30% of it leaves the test as it was without any."""
    quiet = k_trend(LAW, *_rows(BASE, shared=0.0))
    loud = k_trend(LAW, *_rows(BASE, shared=0.3))
    assert loud.t == pytest.approx(quiet.t, rel=1e-6) and not loud.flags()


def test_nothing_to_tell_is_none_not_a_number():
    N, D, k, L, c = _rows(BASE)
    assert k_trend(T2LossLaw(**{**BASE.to_dict(), "G": 0.0}), N, D, k, L, c) is None
    few = c < 4  # four checkpoints
    assert k_trend(LAW, N[few], D[few], k[few], L[few], c[few]) is None
    one_k = k == 1  # a single k per checkpoint: no k curve
    assert k_trend(LAW, N[one_k], D[one_k], k[one_k], L[one_k], c[one_k]) is None


def test_every_round_records_its_k_trend_and_forecasts_with_the_drift_law_where_it_flags():
    """``fit_round`` runs the check on the law it fitted; the round's record (MLflow, ``t2
    status``) keeps it with its verdict. Where it flags, the round's forecast is the drift
    law's (``t2.fitting.drift``), kept in the record; the selector's ensemble stays one-γ."""
    from t2.fitting.forecast import forecast
    from t2.flows.records import Checkpoint, Evaluation, Observation
    from t2.flows.rounds import drift_of, fit_round, round_record

    def observations(truth):
        N, D, k, L, c = _rows(truth, sizes=(5e6, 1e7, 2e7, 4e7, 8e7), ratios=(20, 200, 2000))
        return [Observation(run=int(i) // 3, checkpoint=Checkpoint(
                    N=float(N[c == i][0]), D=float(D[c == i][0]), val_loss=float(L[c == i][0]),
                    result_dir=""), evaluation=Evaluation(
                    loss_k={int(kk): float(v) for kk, v in zip(k[c == i], L[c == i])}))
                for i in np.unique(c)]

    targets = [(2.56e19, 2e9)]
    drift = fit_round(observations(KDriftLaw(base=BASE, kappa=1.0, L_ref=2.5)), targets,
                      num_bootstrap=8, per_task=False)
    right = fit_round(observations(BASE), targets, num_bootstrap=8, per_task=False)
    assert drift.k_trend.flags() and not right.k_trend.flags()
    rec = round_record(drift, num_runs=5, num_checkpoints=15, flops=1.0, interval=0.8)
    assert rec.k_trend["flags"] is True and rec.k_trend["t"] == drift.k_trend.t
    assert rec.to_dict()["k_trend"]["num_checkpoints"] == 15
    assert right.drift is None and "drift" not in round_record(
        right, num_runs=5, num_checkpoints=15, flops=1.0, interval=0.8).to_dict()
    assert drift.drift.law.kind == "t2_kdrift" and drift.drift.law.kappa > 0.3
    assert np.array_equal(drift.forecast.point,
                          forecast(drift.drift.law, drift.drift.laws, targets).point)
    assert drift.theta.shape == (1 + len(drift.boot.laws), 7)
    assert drift_of(rec) is not None and drift_of(rec).law == drift.drift.law
    assert len(drift_of(rec).laws) == len(drift.drift.laws) > 0

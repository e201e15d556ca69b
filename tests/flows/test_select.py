"""Active selection: an Optuna sampler whose acquisition is forecast-variance reduction per FLOP."""

import math

import numpy as np
import optuna
import pytest
from t2.fitting.design import (
    expected_sd,
    forecast_gradient,
    from_free,
    to_free,
    variance_reduction,
)
from t2.fitting.laws import T2LossLaw, loss_params
from t2.fitting.optimal import allocate, optimal_allocation
from t2.flows import ledger
from t2.flows.config import load_study
from t2.flows.executors.truth import TrueLaw
from t2.flows.plan import RunRequest, run_flops
from t2.flows.records import Checkpoint, Evaluation, Observation
from t2.flows.rounds import fit_round
from t2.flows.select import (
    ForecastUncertaintySampler,
    RandomCandidateSampler,
    acquisition,
    make_sampler,
    search_space,
)

LAW = TrueLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, G=3.0, gamma=0.4)


def _obs(run, N, D, val_loss, loss_k):
    return Observation(run=run, checkpoint=Checkpoint(N=N, D=D, val_loss=val_loss, result_dir=""),
                       evaluation=Evaluation(loss_k=loss_k))


def _observations(Ns, ratios, ks=(1, 4, 16), noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    obs = []
    for run, N in enumerate(Ns):
        for r in ratios:
            eps = rng.standard_normal()
            obs.append(_obs(run, N, r * N, float(LAW.loss(N, r * N) * math.exp(noise * eps)),
                            {k: float(LAW.task_loss(N, r * N, k) * math.exp(noise * eps))
                             for k in ks}))
    return obs


def test_vectorized_allocation_matches_the_fitting_module():
    law = T2LossLaw(**{k: v for k, v in LAW.to_dict().items()})
    theta = loss_params([law])
    for c_train, c_inf in [(2.56e19, 2e9), (1e21, 2e10), (1e15, 1e7)]:
        a = optimal_allocation(law, c_train, c_inf)
        got = np.exp(allocate(theta, c_train, c_inf)[0])
        np.testing.assert_allclose(got, [a.N, a.D, a.k], rtol=1e-6)


def test_samplers_are_optuna_samplers_chosen_by_strategy(sim_study):
    cfg = load_study(sim_study())
    assert isinstance(make_sampler(cfg, "active"), optuna.samplers.BaseSampler)
    assert isinstance(make_sampler(cfg, "active"), ForecastUncertaintySampler)
    assert isinstance(make_sampler(cfg, "random"), RandomCandidateSampler)


def test_round_fit_ensemble_spread_shrinks_with_more_data():
    targets = [(2.56e19, 2e9)]
    small = fit_round(_observations([5e6, 1e7, 2e7, 4e7, 8e7], [20, 200, 2000]), targets,
                      num_bootstrap=24)
    big = fit_round(_observations(list(np.geomspace(5e6, 6.4e8, 8)), [20, 100, 500, 2000]),
                    targets, num_bootstrap=24)
    assert small.theta.shape[1] == 7 and len(big.theta) >= 20
    assert big.forecast.width(0.8)[0] < small.forecast.width(0.8)[0]


def test_acquisition_is_bounded_variance_reduction_per_flop_and_conditions_on_pending(sim_study):
    cfg = load_study(sim_study(), ["select.noise_per=checkpoint"])
    state = fit_round(_observations([5e6, 1e7, 2e7], [20, 200, 2000]), [(2.56e19, 2e9)],
                      num_bootstrap=32)
    f = cfg.train.decay_frac
    new = RunRequest(N=4e7, Ds=(4e7 * 300,))
    ext = RunRequest(N=2e7, Ds=(2e7 * 3000,), base_D=2e7 * 2000, extends=2)
    full = RunRequest(N=2e7, Ds=(2e7 * 3000,))
    finished = [(i, N, [r * N for r in (20, 200, 2000)]) for i, N in enumerate([5e6, 1e7, 2e7])]
    a = acquisition(state, [new, ext, full], finished, [], cfg)
    reductions = a * [run_flops(c, f) for c in (new, ext, full)]
    assert np.all(reductions > 0) and np.all(reductions <= 1 + 1e-9)  # a fraction of the variance
    assert reductions[1] == pytest.approx(reductions[2])  # same observation ...
    assert a[1] > 2 * a[2]                                  # ... for fewer FLOPs
    b = acquisition(state, [new], finished, [(99, new.N, list(new.Ds))], cfg)
    assert b[0] < 0.5 * a[0]  # already on its way: less left to learn there

    # With a run's seed noise shared by its trunk, continuing run 2 teaches less than a fresh
    # run at the same point (its noise is partly known), and a fresh run the same as before.
    shared = load_study(sim_study(), ["select.noise_per=run"])
    c = acquisition(state, [new, ext, full], finished, [], shared)
    red = c * [run_flops(x, f) for x in (new, ext, full)]
    assert 0 < red[1] < 0.9 * red[2]


@pytest.mark.parametrize("estimator", ["huber", "efficient"])
def test_candidate_reduction_equals_recomputing_with_the_candidate_observed(estimator):
    theta = loss_params([LAW.loss_law()])
    ks, targets = [1, 4, 16], [(2.56e19, 2e9), (1e21, 2e10)]
    observed = [(i, N, r * N) for i, N in enumerate((5e6, 1e7, 2e7)) for r in (20, 200)]
    cands = [(None, 4e7, 4e7 * 50), (0, 5e6, 5e6 * 3000), (None, 1e7, 1e8), (1, 1e7, 1e8)]
    red, var = variance_reduction(theta, ks, targets, observed, cands, sigma=0.01,
                                  estimator=estimator)
    for c, r in zip(cands, red):
        run = ("new",) if c[0] is None else c[0]
        _, after = variance_reduction(theta, ks, targets, observed + [(run, *c[1:])], cands,
                                      sigma=0.01, estimator=estimator)
        assert r * var[0] == pytest.approx(var[0] - after[0], rel=1e-6)
    assert red[3] < red[2]  # a branch of run 1 shares its seed noise: less to learn


def test_the_forecast_gradient_is_the_derivative_of_the_allocator():
    p = to_free(loss_params([LAW.loss_law()])) + np.random.default_rng(0).normal(0, 0.05, (6, 7))
    targets, free, h = [(2.56e19, 2e9), (1e21, 2e10)], np.arange(7), 1e-5
    got = forecast_gradient(p, targets, free)
    for i in free:
        step = np.zeros(7)
        step[i] = h
        for t, (ct, ci) in enumerate(targets):
            fd = (allocate(from_free(p + step), ct, ci)[:, 0]
                  - allocate(from_free(p - step), ct, ci)[:, 0]) / (2 * h)
            np.testing.assert_allclose(got[:, t, i], fd, rtol=1e-5, atol=1e-6)


def _refit_spread(design, ks, sigma, targets, reps, seed):
    """sd of log N* over ``reps`` fits of data drawn as the simulator draws them (a run's seed
    noise shared by its checkpoints)."""
    rng = np.random.default_rng(seed)
    logN = []
    for _ in range(reps):
        u = {run: rng.standard_normal() for run, _, _ in design}
        obs = []
        for run, N, D in design:
            e = sigma * (u[run] + rng.standard_normal() / 4 + rng.standard_normal(len(ks)) / 4)
            obs.append(_obs(run, N, D, float(LAW.loss(N, D)),
                            {k: float(LAW.task_loss(N, D, k) * math.exp(x))
                             for k, x in zip(ks, e)}))
        logN.append(fit_round(obs, targets, num_bootstrap=4).forecast.point[0, 0])
    return float(np.std(logN, ddof=1))


@pytest.mark.slow
def test_the_huber_sandwich_predicts_the_spread_of_real_refits_and_fisher_does_not():
    """Repeated noisy studies fitted by t2's own fit: the sandwich sd of log N* (the Huber fit as
    it is) matches their spread, for runs that share trunks and for separate runs; the GLS Fisher
    bound promises much less spread than the fit delivers where trunks are shared."""
    targets, ks, sigma = [(2.56e19, 2e9)], [1, 4, 16], 0.01
    points = [(N, r * N) for N in np.geomspace(5e6, 6e7, 6) for r in (10, 40, 160, 640)]
    theta = loss_params([LAW.loss_law()])
    for name, design in {"trunks": [(i // 4, N, D) for i, (N, D) in enumerate(points)],
                         "separate": [(i, N, D) for i, (N, D) in enumerate(points)]}.items():
        huber = expected_sd(theta, ks, targets, design, sigma=sigma)
        fisher = expected_sd(theta, ks, targets, design, sigma=sigma, estimator="efficient")
        observed = _refit_spread(design, ks, sigma, targets, reps=30, seed=1)
        assert 0.7 < observed / huber < 1.4, (name, observed, huber)
        if name == "trunks":
            assert observed / fisher > 1.5, (observed, fisher)


def test_ask_returns_the_proposed_request_and_batches_do_not_repeat(sim_study, tmp_path):
    cfg = load_study(sim_study())
    sampler = make_sampler(cfg, "active")
    study = ledger.open_ledger(cfg, tmp_path, sampler)
    state = fit_round(_observations([5e6, 1e7, 2e7], [20, 200, 2000]), [(2.56e19, 2e9)],
                      num_bootstrap=16)
    sampler.update(state, cfg.budget.train_flops)
    picked = []
    for _ in range(3):
        req = sampler.propose(study)
        trial = study.ask(search_space(cfg))
        assert trial.params["log10_N"] == pytest.approx(math.log10(req.N))
        assert trial.params["log10_D"] == pytest.approx(math.log10(req.D))
        trial.set_user_attr("N", req.N)
        trial.set_user_attr("Ds", list(req.Ds))
        picked.append(req.N)
    assert len(set(picked)) == 3  # a pending run's size is not proposed again


def test_nothing_affordable_means_no_proposal(sim_study, tmp_path):
    cfg = load_study(sim_study())
    sampler = make_sampler(cfg, "random")
    study = ledger.open_ledger(cfg, tmp_path, sampler)
    sampler.update(None, remaining=1.0)
    assert sampler.propose(study) is None

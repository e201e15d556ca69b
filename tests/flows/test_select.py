"""Active selection: an Optuna sampler whose acquisition is forecast-variance reduction per FLOP."""

import math

import numpy as np
import optuna
import pytest
from t2.fitting.laws import T2LossLaw
from t2.fitting.optimal import optimal_allocation
from t2.flows import ledger
from t2.flows.forecast import allocate, fit_round, law_theta
from t2.flows.plan import RunRequest, run_flops
from t2.flows.select import (
    ForecastUncertaintySampler,
    RandomCandidateSampler,
    acquisition,
    make_sampler,
    search_space,
)
from t2.flows.simulate import TrueLaw
from t2.flows.study import load_study

LAW = TrueLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, G=3.0, gamma=0.4)


def _observations(Ns, ratios, ks=(1, 4, 16), noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    obs = []
    for run, N in enumerate(Ns):
        for r in ratios:
            eps = rng.standard_normal()
            obs.append({"N": N, "D": r * N, "run": run,
                        "val_loss": float(LAW.loss(N, r * N) * math.exp(noise * eps)),
                        "loss_k": {str(k): float(LAW.task_loss(N, r * N, k)
                                                 * math.exp(noise * eps)) for k in ks}})
    return obs


def test_vectorized_allocation_matches_the_fitting_module():
    law = T2LossLaw(**{k: v for k, v in LAW.to_dict().items()})
    theta = law_theta(law)[None, :]
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
    small = fit_round(_observations([5e6, 1e7, 2e7], [20, 200, 2000]), targets, num_bootstrap=24)
    big = fit_round(_observations([5e6, 1e7, 2e7, 4e7, 8e7, 1.6e8], [20, 100, 500, 2000]),
                    targets, num_bootstrap=24)
    assert small.theta.shape[1] == 7 and len(big.theta) >= 20
    assert big.width(0.8)[0] < small.width(0.8)[0]


def test_acquisition_is_bounded_variance_reduction_per_flop_and_conditions_on_pending(sim_study):
    cfg = load_study(sim_study())
    state = fit_round(_observations([5e6, 1e7, 2e7], [20, 200, 2000]), [(2.56e19, 2e9)],
                      num_bootstrap=32)
    f = cfg.train.decay_frac
    new = RunRequest(N=4e7, Ds=(4e7 * 300,))
    ext = RunRequest(N=2e7, Ds=(2e7 * 3000,), base_D=2e7 * 2000, extends=2)
    full = RunRequest(N=2e7, Ds=(2e7 * 3000,))
    a = acquisition(state, [new, ext, full], [], cfg)
    total = np.trace(np.cov(state.forecasts.reshape(len(state.forecasts), -1).T))
    reductions = a * [run_flops(c, f) for c in (new, ext, full)]
    assert np.all(reductions > 0) and np.all(reductions <= total * (1 + 1e-9))
    assert reductions[1] == pytest.approx(reductions[2])  # same observation ...
    assert a[1] > 2 * a[2]                                  # ... for fewer FLOPs
    b = acquisition(state, [new], [(99, new.N, list(new.Ds))], cfg)
    assert b[0] < 0.5 * a[0]  # already on its way: less left to learn there


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


def test_acquisition_ignores_spurious_ensemble_correlations(sim_study):
    cfg = load_study(sim_study())
    state = fit_round(_observations([5e6, 1e7, 2e7], [20, 200, 2000]), [(2.56e19, 2e9)],
                      num_bootstrap=32)
    rng = np.random.default_rng(1)
    # forecasts unrelated to the replicates' predictions: no candidate can teach anything
    state.forecasts = rng.normal(size=state.forecasts.shape)
    cands = [RunRequest(N=N, Ds=(r * N,)) for N in (5e6, 4e7) for r in (10, 300)]
    a = acquisition(state, cands, [], cfg)
    reductions = a * [run_flops(c, cfg.train.decay_frac) for c in cands]
    total = np.trace(np.cov(state.forecasts.reshape(len(state.forecasts), -1).T))
    assert np.all(reductions < 0.02 * total)

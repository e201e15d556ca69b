"""The study loop in simulation: strategies, bounds, budget, stopping, no-op reruns, history."""


import json
import math

import numpy as np
import pytest
from study_files import TRUE_LAW, write_study
from t2.flows import ledger
from t2.flows.config import load_study
from t2.flows.driver import run_study, true_optima
from t2.flows.executors.simulated import SimulatedExecutor
from t2.flows.executors.truth import load_true_law
from t2.flows.plan import size_rungs
from t2.infra.config import ConfigError

pytestmark = pytest.mark.slow  # simulated studies: tens of seconds each


def _simulate(cfg, root, law_file, strategy):
    law = load_true_law(law_file)
    ex = SimulatedExecutor(law, cfg.eval.ks, noise=0.01, seed=cfg.select.seed)
    truth = true_optima(law, [(t.c_train, t.c_inf) for t in cfg.budget.targets])
    return run_study(cfg, root, ex, strategy=strategy, truth=truth, log=lambda *a: None)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished simulated study per strategy, shared by the tests below."""
    base = tmp_path_factory.mktemp("strategies")
    law_path = base / "law.json"
    law_path.write_text(json.dumps(TRUE_LAW))
    cache = {}

    def get(strategy):
        if strategy not in cache:
            cfg = load_study(write_study(base / f"{strategy}.yaml"), ["select.max_rounds=12"])
            cache[strategy] = (cfg, base / strategy,
                               _simulate(cfg, base / strategy, law_path, strategy))
        return cache[strategy]
    return get


@pytest.mark.parametrize("strategy", ["active", "grid", "random"])
def test_simulated_strategies_stay_inside_bounds_and_respect_the_budget(finished, strategy):
    cfg, root, result = finished(strategy)
    study = ledger.open_ledger(cfg, root)
    done = ledger.completed(study)
    assert len(done) >= 5 and result.reason in ("budget", "exhausted", "max_rounds")
    rungs = set(size_rungs(cfg).tolist())
    lo, hi = cfg.design.tokens_per_param
    for t in done:
        assert t.user_attrs["N"] in rungs
        for D in t.user_attrs["Ds"]:
            assert lo * 0.97 <= D / t.user_attrs["N"] <= hi * 1.03
    spent = sum(t.user_attrs["flops"] for t in done)
    assert spent == pytest.approx(result.flops) and spent <= cfg.budget.train_flops
    assert result.state is not None and result.state.forecast.point.shape == (1, 3)


def test_active_study_extends_runs_and_forecasts_near_the_true_optimum(finished, law_file):
    cfg, root, result = finished("active")
    truth = true_optima(load_true_law(law_file), [(2.56e19, 2e9)])
    error = math.exp(result.state.forecast.point[0, 0] - truth[0, 0]) - 1
    assert abs(error) < 0.3
    assert result.rounds[-1].N_error[0] == pytest.approx(error)
    done = ledger.completed(ledger.open_ledger(cfg, root))
    assert {t.user_attrs["role"] for t in done} == {"seed", "active"}
    assert any(t.user_attrs["extends"] is not None for t in done)


def test_rerun_of_a_finished_study_is_a_no_op(sim_study, law_file, tmp_path):
    cfg = load_study(sim_study())
    first = _simulate(cfg, tmp_path / "s", law_file, "active")
    before = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "s").rglob("*")
                    if p.is_file() and p.name != "optuna.journal")
    journal = (tmp_path / "s" / "optuna.journal").read_bytes()
    again = _simulate(cfg, tmp_path / "s", law_file, "active")
    after = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "s").rglob("*")
                   if p.is_file() and p.name != "optuna.journal")
    assert again.skipped and not first.skipped and again.flops == first.flops
    assert before == after and (tmp_path / "s" / "optuna.journal").read_bytes() == journal


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_optuna_history_survives_a_restart_and_the_study_continues(
        sim_study, law_file, tmp_path, storage):
    url = f"select.storage=sqlite:///{tmp_path}/optuna.db" if storage == "sqlite" else \
        "select.storage=null"
    cfg = load_study(sim_study(), ["select.max_rounds=2", url])
    _simulate(cfg, tmp_path / "h", law_file, "active")
    study = ledger.open_ledger(cfg, tmp_path / "h")
    first = [(t.number, t.params, t.value) for t in ledger.completed(study)]
    assert first and (tmp_path / ("optuna.db" if storage == "sqlite" else "h/optuna.journal")
                      ).is_file()
    more = load_study(sim_study(), ["select.max_rounds=5", url])  # a new config continues
    _simulate(more, tmp_path / "h", law_file, "active")
    study = ledger.open_ledger(more, tmp_path / "h")
    now = [(t.number, t.params, t.value) for t in ledger.completed(study)]
    assert now[: len(first)] == first and len(now) > len(first)


def test_simulation_is_deterministic_per_seed(finished, law_file, tmp_path):
    cfg, _, first = finished("random")
    again = _simulate(cfg, tmp_path / "again", law_file, "random")
    np.testing.assert_allclose(again.state.forecast.point, first.state.forecast.point)


def test_bad_true_law_is_a_config_error(tmp_path):
    path = tmp_path / "law.json"
    path.write_text('{"E": 1, "A": 2, "B": 3, "alpha": 0.3}')
    with pytest.raises(ConfigError, match="beta"):
        load_true_law(path)
    path.write_text('{"E": 1, "A": 2, "B": 3, "alpha": 0.3, "beta": 0.3, "G": 1}')
    with pytest.raises(ConfigError, match="gamma"):
        load_true_law(path)


def test_a_misspecified_true_law_is_simulated_and_judged_by_its_own_optimum(
        sim_study, law_file, tmp_path):
    law_path = tmp_path / "bent.json"
    law_path.write_text(json.dumps({**TRUE_LAW, "form": "bend", "r_bend": 100.0, "delta": 0.5}))
    targets = [(2.56e19, 2e9)]
    truth = load_true_law(law_path).optima(targets)
    assert abs(truth[0, 0] - load_true_law(law_file).optima(targets)[0, 0]) > 0.01  # it moved
    cfg = load_study(sim_study(), ["select.max_rounds=2"])
    result = _simulate(cfg, tmp_path / "s", law_path, "active")
    error = math.exp(result.state.forecast.point[0, 0] - truth[0, 0]) - 1
    assert result.rounds[-1].N_error[0] == pytest.approx(error)


def test_a_rerun_with_another_seed_is_its_own_run_with_its_own_noise(sim_study, law_file,
                                                                    tmp_path):
    """design.max_seeds > 1: the selector may rerun a held point with a new seed; that run has
    its own step (``N…-s1-…``) and its own seed noise, is never extended, and the study resumes
    as any other (a rerun of the command is a no-op)."""
    from pathlib import Path

    from t2.infra.storage import read_json

    def eps(trial, D):  # the checkpoint's drawn log-loss noise
        return [j["eps"] for j in map(read_json, Path(trial.user_attrs["step_dir"]).rglob(
            "train.json")) if abs(j["D"] / D - 1) < 0.02]

    cfg = load_study(sim_study(), ["design.max_seeds=4", "select.max_rounds=8"])
    first = _simulate(cfg, tmp_path / "s", law_file, "active")
    done = ledger.completed(ledger.open_ledger(cfg, tmp_path / "s"))
    reruns = [t for t in done if t.user_attrs.get("seed")]
    assert reruns, "no point was rerun with another seed"
    for t in reruns:
        N, (D,), seed = t.user_attrs["N"], t.user_attrs["Ds"], t.user_attrs["seed"]
        assert t.user_attrs["extends"] is None and f"-s{seed}-" in t.user_attrs["step_dir"]
        held = [o for o in done if o.number != t.number and o.user_attrs["N"] == N
                and any(abs(d / D - 1) < 0.02 for d in o.user_attrs["Ds"])]
        assert len(held) >= seed and seed not in {o.user_attrs.get("seed", 0) for o in held}
        mine = eps(t, D)
        assert len(mine) == 1 and all(mine[0] != e for o in held for e in eps(o, D))
        assert not any(o.user_attrs.get("extends") == t.number for o in done)
    again = _simulate(cfg, tmp_path / "s", law_file, "active")
    assert again.skipped and again.flops == first.flops

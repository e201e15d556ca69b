"""Families of simulated studies: settling, ratios, summaries, and ``t2 simulate --laws``."""

import math
from types import SimpleNamespace

import pytest
from t2.flows.cli.main import main
from t2.flows.executors.prior import draw_laws
from t2.flows.family import (
    Task,
    flops_to_settle,
    format_replay,
    ratio,
    run_family,
    simulate,
    summarize,
)


def _rounds(*pairs):
    return [SimpleNamespace(flops=f, N_error=e) for f, e in pairs]


def test_a_study_settles_at_the_first_round_after_which_it_stays_within_tolerance():
    rounds = _rounds((0, None), (1, [0.05]), (2, [0.2]), (3, [0.09, -0.01]), (4, [0.0, 0.02]))
    assert flops_to_settle(rounds, 0.1) == 3
    assert flops_to_settle(rounds[:3], 0.1) == math.inf  # ends outside: never settled
    assert flops_to_settle(rounds, 0.25) == 1


def test_ratios_and_summary_count_ties_and_never_settling_honestly():
    assert ratio(10.0, 2.0) == 5.0 and ratio(math.inf, math.inf) == 1.0
    assert ratio(1.0, math.inf) == 0.0 and ratio(math.inf, 1.0) == math.inf
    results = {(0, "active"): [{"settle": 1.0}, {"settle": 3.0}, {"settle": 2.0}],
               (0, "grid"): [{"settle": 8.0}] * 3,
               (1, "active"): [{"settle": math.inf}] * 3, (1, "grid"): [{"settle": 4.0}] * 3,
               (2, "active"): [{"settle": math.inf}] * 3, (2, "grid"): [{"settle": math.inf}] * 3}
    s = summarize(results, 3)
    assert [r["ratio"] for r in s["rows"]] == [4.0, 0.0, 1.0]
    assert s["median_ratio"] == 1.0 and s["share_no_worse"] == pytest.approx(2 / 3)
    assert s["worst"]["law"] == 1


@pytest.mark.slow
def test_the_fast_grid_settles_exactly_where_the_full_grid_does(sim_study):
    law = draw_laws(1, [(2.56e19, 2e9)], seed=0)[0]
    study = str(sim_study(**{"select.num_bootstrap": 16}))
    full = Task(0, "grid", 0, study, 0.01, "run", 0.1, (), fast_grid=False)
    fast = Task(0, "grid", 0, study, 0.01, "run", 0.1, ())
    a = simulate(full, law, _tmp(study, "full"))
    b = simulate(fast, law, _tmp(study, "fast"))
    assert a["settle"] == b["settle"] and a["final_error"] == b["final_error"]


def _tmp(study, name):
    from pathlib import Path

    return Path(study).parent / name


@pytest.mark.slow
def test_a_family_runs_every_law_seed_and_strategy_in_processes(sim_study):
    laws = draw_laws(2, [(2.56e19, 2e9)], seed=0)
    out = run_family(sim_study(**{"select.max_rounds": 3}), laws, seeds=1, jobs=2,
                     log=lambda *a: None)
    assert sorted(out) == [(0, "active"), (0, "grid"), (1, "active"), (1, "grid")]
    assert all(len(rows) == 1 and rows[0]["flops"] > 0 for rows in out.values())


@pytest.mark.slow
def test_simulate_laws_prints_per_law_rows_and_the_family_summary(sim_study, capsys):
    assert main(["simulate", str(sim_study(**{"select.max_rounds": 3})), "--laws", "2",
                 "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "median per-law grid/active FLOPs ratio" in out and "worst law" in out
    assert "laws on which active needs no more FLOPs than grid" in out


def test_a_family_study_keeps_its_ledger_in_memory(sim_study, tmp_path):
    import optuna
    from t2.flows import ledger
    from t2.flows.config import load_study
    from t2.flows.family import BASE_OVERRIDES

    cfg = load_study(sim_study(), list(BASE_OVERRIDES))
    root = tmp_path / "root"
    assert isinstance(ledger.open_storage(cfg, root), optuna.storages.InMemoryStorage)
    assert not root.exists()  # no journal written


def test_the_replay_summary_gives_each_strategys_median_and_the_ratio():
    results = {(0, "active"): [{"settle": 1e18}, {"settle": 3e18}, {"settle": math.inf}],
               (0, "grid"): [{"settle": 6e18}, {"settle": 6e18}, {"settle": 8e18}]}
    lines = format_replay(results)
    assert lines[0].split()[:3] == ["active:", "median", "3e+18"] and "never" in lines[0]
    assert lines[-1] == "ratio=2.00"


def test_simulate_laws_rejects_a_bad_count_with_one_line(sim_study, capsys):
    assert main(["simulate", str(sim_study()), "--laws", "0"]) == 2
    assert "--laws" in capsys.readouterr().err

"""Families of simulated studies: settling, ratios, summaries, and ``t2 simulate --laws``."""

import math
import re
from types import SimpleNamespace

import pytest
from t2.flows.cli.main import main
from t2.flows.executors.prior import draw_laws
from t2.flows.family import (
    Task,
    flops_to_settle,
    format_family,
    format_replay,
    ratio,
    run_family,
    simulate,
    stops_line,
    summarize,
)


def _rounds(*pairs):
    return [SimpleNamespace(flops=f, N_error=e) for f, e in pairs]


def test_a_study_settles_at_the_first_round_after_which_it_stays_within_tolerance():
    rounds = _rounds((0, None), (1, [0.05]), (2, [0.2]), (3, [0.09, -0.01]), (4, [0.0, 0.02]))
    assert flops_to_settle(rounds, 0.1) == 3
    assert flops_to_settle(rounds[:3], 0.1) == math.inf  # ends outside: never settled
    assert flops_to_settle(rounds, 0.25) == 1


def test_on_the_ladder_only_spends_at_least_doubling_are_looked_at():
    # spends 1, 2, 3, 4, 8: the ladder (thinned from the last down) is 1, 2, 4, 8
    rounds = _rounds((1, [0.05]), (2, [0.02]), (3, [0.3]), (4, [0.01]), (8, [0.03]))
    assert flops_to_settle(rounds, 0.1) == 4            # every round looked at
    assert flops_to_settle(rounds, 0.1, ladder=True) == 1  # the excursion at 3 is off the ladder
    rounds[-1].N_error = [0.2]
    assert flops_to_settle(rounds, 0.1, ladder=True) == math.inf


def test_a_family_in_pieces_summarizes_the_laws_it_ran():
    results = {(10, "active"): [{"settle": 1.0, "flops": 9.0, "reason": "budget",
                                 "final_error": [0.01, -0.03]}],
               (10, "grid"): [{"settle": 4.0, "flops": 8.0, "reason": "exhausted",
                               "final_error": [0.2], "drift_last": True}],
               (11, "active"): [{"settle": 2.0, "flops": 9.0, "reason": "budget",
                                 "final_error": None}],
               (11, "grid"): [{"settle": 2.0, "flops": 8.0, "reason": "exhausted",
                               "final_error": [-0.1]}]}
    s = summarize(results)
    assert [r["law"] for r in s["rows"]] == [10, 11] and s["median_ratio"] == 2.5
    line = stops_line(results, ("active", "grid"))
    assert "active 2 by budget (median spend 9, last N* error none, " in line  # no forecast
    assert "grid 2 by exhausted (median spend 8, last N* error 15.0%, " in line
    assert "last forecast by the drift law in 1 of 2)" in line
    targets = [(2.56e19, 2e9)]
    rows = format_family(results, draw_laws(12, targets), targets)
    assert rows[0].split()[-3:] == ["last", "active", "grid"]
    assert rows[1].split()[0] == "10" and rows[1].split()[-2:] == ["3.0%", "20.0%"]
    assert rows[2].split()[0] == "11" and rows[2].split()[-2:] == ["none", "10.0%"]


def test_ratios_and_summary_count_ties_and_never_settling_honestly():
    assert ratio(10.0, 2.0) == 5.0 and ratio(math.inf, math.inf) == 1.0
    assert ratio(1.0, math.inf) == 0.0 and ratio(math.inf, 1.0) == math.inf
    results = {(0, "active"): [{"settle": 1.0}, {"settle": 3.0}, {"settle": 2.0}],
               (0, "grid"): [{"settle": 8.0}] * 3,
               (1, "active"): [{"settle": math.inf}] * 3, (1, "grid"): [{"settle": 4.0}] * 3,
               (2, "active"): [{"settle": math.inf}] * 3, (2, "grid"): [{"settle": math.inf}] * 3}
    s = summarize(results)
    assert [r["ratio"] for r in s["rows"]] == [4.0, 0.0, 1.0]
    assert s["median_ratio"] == 1.0 and s["share_no_worse"] == pytest.approx(2 / 3)
    assert s["worst"]["law"] == 1


def test_a_grid_that_never_settles_counts_at_its_spend_in_the_lower_bound():
    results = {(0, "active"): [{"settle": 2.0, "flops": 9.0}] * 3,
               (0, "grid"): [{"settle": math.inf, "flops": 8.0}, {"settle": 6.0, "flops": 8.0},
                             {"settle": math.inf, "flops": 8.0}],
               (1, "active"): [{"settle": math.inf, "flops": 9.0}] * 3,
               (1, "grid"): [{"settle": math.inf, "flops": 8.0}] * 3,
               (2, "active"): [{"settle": 1.0, "flops": 9.0}] * 3,
               (2, "grid"): [{"settle": 3.0, "flops": 8.0}] * 3}
    s = summarize(results)
    assert [r["ratio"] for r in s["rows"]] == [math.inf, 1.0, 3.0]
    assert [r["ratio_low"] for r in s["rows"]] == [4.0, 1.0, 3.0]  # never counted at 8
    assert s["median_ratio"] == 3.0 and s["median_ratio_low"] == 3.0


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
    assert all(rows[0]["reason"] in ("budget", "max_rounds", "exhausted")
               for rows in out.values())


@pytest.mark.slow
def test_simulate_laws_prints_per_law_rows_and_the_family_summary(sim_study, capsys):
    assert main(["simulate", str(sim_study(**{"select.max_rounds": 3})), "--laws", "2",
                 "--seeds", "1", "--replicates", "2"]) == 0
    out = capsys.readouterr().out
    assert "median per-law grid/active FLOPs ratio" in out and "worst law" in out
    assert "path (the study's own noise draw):" in out and "design (refitted on fresh" in out
    assert "laws on which active needs no more FLOPs than grid" in out
    stops = re.search(r"studies stopped: active (\d+) by (\w+).*; grid (\d+) by", out)
    assert stops and stops.group(2) in ("budget", "max_rounds", "exhausted"), out


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
    for rows, reliable in ((results[(0, "active")], 2e18), (results[(0, "grid")], 1e19)):
        for r in rows:
            r["reliable"] = reliable
    lines = format_replay(results)
    assert lines[0].startswith("path") and lines[3].startswith("design")
    assert lines[-1] == "ratio=5.00"  # the design figure's


def test_simulate_laws_rejects_a_bad_count_with_one_line(sim_study, capsys):
    assert main(["simulate", str(sim_study()), "--laws", "0"]) == 2
    assert "--laws" in capsys.readouterr().err


def test_the_spend_ladder_keeps_the_last_spend_and_halves_down_from_it():
    from t2.flows.family import spend_ladder

    rounds = _rounds((0, None), (1, [0.0]), (1.5, [0.0]), (2, [0.0]), (3, [0.0]), (4, [0.0]),
                     (8, [0.0]), (8, [0.0]))
    assert spend_ladder(rounds) == [1, 2, 4, 8]
    assert spend_ladder(rounds, step=1.4) == [1, 2, 4, 8]
    assert spend_ladder(rounds, step=1.2) == [1, 1.5, 2, 3, 4, 8]


def _law_and_executor(noise, mode="run"):
    from t2.flows.executors.simulated import SimulatedExecutor

    law = draw_laws(1, [(2.56e19, 2e9)], seed=0)[0]
    return law, SimulatedExecutor(law, [1, 4, 16], noise=noise, noise_mode=mode)


def test_redrawn_checkpoints_of_one_trunk_share_its_seed_draw_as_training_does():
    import numpy as np

    law, ex = _law_and_executor(0.01)
    design = [(0, 0, 1e7, 2e8), (1, 0, 1e7, 4e8), (2, 2, 2e7, 4e8)]  # trial 1 extends trial 0

    def residuals(ex):
        out = []
        for r in range(400):
            obs = ex.redraw(design, np.random.default_rng(r))
            out.append([math.log(o.val_loss / law.loss(o.N, o.D)) for o in obs])
        return np.array(out)

    res = residuals(ex)
    corr = np.corrcoef(res.T)
    assert res.std(axis=0) == pytest.approx([0.01 * math.sqrt(1 + 1 / 16)] * 3, rel=0.15)
    assert corr[0, 1] == pytest.approx(1 / (1 + 1 / 16), abs=0.05)  # one trunk, one seed
    assert abs(corr[0, 2]) < 0.15                                    # another run
    _, per_ckpt = _law_and_executor(0.01, "checkpoint")
    assert abs(np.corrcoef(residuals(per_ckpt).T)[0, 1]) < 0.15
    obs = ex.redraw(design, np.random.default_rng(0))
    assert [o.run for o in obs] == [0, 1, 2] and sorted(obs[0].loss_k) == [1, 4, 16]


@pytest.mark.slow
def test_without_noise_the_design_figure_is_the_path_figure_on_its_ladder(sim_study):
    """Noise-free refits of a design, warm from the study's law, are the study's own fits: the
    design figure then reads the same rounds as the path figure (on the doubling ladder)."""
    from t2.flows.family import spend_ladder

    law = draw_laws(1, [(2.56e19, 2e9)], seed=0)[0]
    study = str(sim_study(**{"select.max_rounds": 6}))
    res = simulate(Task(0, "active", 0, study, 0.0, "run", 0.1, (), replicates=2), law,
                   _tmp(study, "noiseless"))
    assert "reliable" in res and 0 < res["reliable"] < math.inf
    # the same figure from the path's own records, restricted to the ladder
    from t2.flows.config import load_study
    from t2.flows.driver import Driver, true_optima
    from t2.flows.executors.simulated import SimulatedExecutor
    from t2.flows.family import BASE_OVERRIDES

    cfg = load_study(study, [*BASE_OVERRIDES, "select.seed=0", "select.strategy=active"])
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    ex = SimulatedExecutor(law, cfg.eval.ks, noise=0.0, seed=0)
    rounds = Driver(cfg, _tmp(study, "again"), ex, strategy="active",
                    truth=true_optima(law, targets), log=lambda *a: None).run().rounds
    ladder = set(spend_ladder(rounds))
    on_ladder = [r for r in rounds if r.flops in ladder and r.N_error is not None]
    last = {r.flops: r for r in on_ladder}  # a spend's last round, as the design figure reads
    assert res["reliable"] == flops_to_settle(sorted(last.values(), key=lambda r: r.flops),
                                              0.1)

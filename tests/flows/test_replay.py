"""Replaying a real suite: only the table's runs, their measured losses, the table's own truth."""

import math
from pathlib import Path

import numpy as np
import pytest
from t2.flows import ledger
from t2.flows.cli.main import main
from t2.flows.config import load_study
from t2.flows.driver import run_study
from t2.flows.executors.replay import ReplayExecutor, load_table, replay_config, table_truth
from t2.flows.plan import candidates, grid_schedule, seed_design
from t2.infra.config import ConfigError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
    "gadre2024_c4_openlm_runs.csv"
E, A, B, ALPHA, BETA = 1.8, 400.0, 1500.0, 0.34, 0.33


def _write_table(path, *, noise=0.005, sizes=(1e7, 3e7, 1e8, 3e8), ratios=(5, 20, 80, 320)):
    rng = np.random.default_rng(0)
    lines = ["# a made-up suite", "name,N,D,val_loss"]
    for N in sizes:
        for r in ratios:
            D = r * N
            loss = (E + A * N**-ALPHA + B * D**-BETA) * math.exp(noise * rng.standard_normal())
            lines.append(f"run-{N:g}-{r},{N},{D},{loss}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_table_loads_with_its_loss_column_and_costs(tmp_path):
    table = load_table(_write_table(tmp_path / "t.csv"))
    assert table.column == "val_loss" and len(table.N) == 16
    assert table.total_flops == pytest.approx(float(np.sum(6 * table.N * table.D)))
    assert table.lookup(1e7, 5e7) is not None and table.lookup(1e7, 6e7) is None


@pytest.mark.skipif(not SHARED.is_file(), reason="shared open_lm table not present")
def test_the_shared_open_lm_table_loads_with_c4_val():
    table = load_table(SHARED)
    assert table.column == "c4_val" and len(table.N) >= 30


@pytest.mark.parametrize("text, match", [
    ("N,D\n1,2\n", "no loss column"),
    ("N,loss\n1,2\n", "no column 'D'"),
    ("N,D,loss\n1e7,1e8,abc\n", "line 2: loss: expected a number"),
    ("N,D,loss\n1e7,-1e8,3\n", "line 2: D: expected a finite number > 0"),
    ("N,D,loss\n1e7,1e8,3\n1e7,1e8,3.1\n", "same N and D"),
    ("N,D,loss\n1e7,1e8,3\n2e7,1e8,2.9\n", "need at least 7 runs"),
    ("# only a comment\n", "empty table"),
])
def test_a_bad_table_is_one_config_error_naming_the_file(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as err:
        load_table(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_missing_table_or_column_is_one_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such table"):
        load_table(tmp_path / "none.csv")
    with pytest.raises(ConfigError, match="no column 'c4_val'"):
        load_table(_write_table(tmp_path / "t.csv"), "c4_val")


def test_a_pool_restricts_seed_grid_and_candidates_to_the_table(sim_study, tmp_path):
    table = load_table(_write_table(tmp_path / "t.csv"))
    cfg = replay_config(load_study(sim_study()), table)
    pool = set(table.pool)
    seed, grid = seed_design(cfg), grid_schedule(cfg)
    assert seed and all((r.N, D) in pool for r in seed for D in r.Ds)
    assert {(r.N, r.D) for r in grid} == pool and all(len(r.Ds) == 1 for r in grid)
    costs = [r.N * r.D for r in grid]
    assert costs == sorted(costs)  # the suite, cheapest run first
    done = [(i, r.N, r.D) for i, r in enumerate(seed)]
    cands = candidates(cfg, done)
    assert {(c.N, c.D) for c in cands} == pool - {(r.N, r.D) for r in seed}
    assert all(c.extends is None and c.base_D == 0 for c in cands)
    assert cfg.budget.train_flops == pytest.approx(table.total_flops)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["active", "grid"])
def test_a_replayed_study_trains_only_table_runs_and_ends_at_the_tables_forecast(
        sim_study, tmp_path, strategy):
    table = load_table(_write_table(tmp_path / "t.csv"))
    cfg = replay_config(load_study(sim_study(), ["select.max_rounds=40"]), table)
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    truth = table_truth(table, targets)
    result = run_study(cfg, tmp_path / strategy, ReplayExecutor(table), strategy=strategy,
                       truth=truth, log=lambda *a: None)
    done = ledger.completed(ledger.open_ledger(cfg, tmp_path / strategy))
    trained = [(t.user_attrs["N"], D) for t in done for D in t.user_attrs["Ds"]]
    assert set(trained) <= set(table.pool) and len(trained) == len(set(trained))
    spent = sum(6 * N * D for N, D in trained)
    assert result.flops == pytest.approx(spent)
    assert len(trained) == len(table.pool)  # the budget is the whole table
    assert abs(result.rounds[-1].N_error[0]) < 1e-3  # all of it: the table's own forecast


def test_simulate_replay_with_a_bad_table_exits_2_with_one_line(sim_study, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("N,D,loss\n1e7,1e8,x\n")
    assert main(["simulate", str(sim_study()), "--replay", str(bad),
                 "--root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv: line 2: loss" in err


@pytest.mark.slow
def test_simulate_replay_compares_active_and_grid_on_the_table(sim_study, tmp_path, capsys):
    table = _write_table(tmp_path / "t.csv")
    assert main(["simulate", str(sim_study(**{"select.max_rounds": 3})), "--replay", str(table),
                 "--seeds", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "replay of" in out[0] and "16 runs" in out[0]
    assert out[-3].split()[0] == "active:" and out[-2].split()[0] == "grid:"
    assert out[-1].startswith("ratio=")

"""Seed design, grid schedule, candidates and the FLOP accounting of shared and extended runs."""

import math

import numpy as np
import pytest
from t2.flows.config import load_study
from t2.flows.plan import (
    MIN_CHECKPOINTS,
    MIN_SIZES,
    RunRequest,
    candidates,
    grid_opening,
    grid_schedule,
    run_flops,
    run_tokens,
    seed_design,
    size_rungs,
)


def test_the_ratios_seed_spans_budgets_and_ratios_into_the_overtrained_region(sim_study):
    cfg = load_study(sim_study(), ["design.seed=ratios"])
    reqs = seed_design(cfg)
    points = [(r.N, D) for r in reqs for D in r.Ds]
    ratios = sorted(D / N for N, D in points)
    budgets = {round(math.log2(6 * N * D)) for N, D in points}
    assert ratios[0] < 40 and ratios[-1] > 1000  # Chinchilla-like to deep overtraining
    assert len(budgets) >= 3 and len({N for N, _ in points}) >= 3
    rungs = set(size_rungs(cfg).tolist())
    assert all(r.N in rungs for r in reqs)
    assert len({r.N for r in reqs}) == len(reqs)  # one run per N, several D each


@pytest.mark.parametrize("runs_per_round", [1, 2, 4, 5])
def test_the_grid_seed_is_the_grids_opening_rounds_until_a_law_can_be_fitted(
        sim_study, runs_per_round):
    cfg = load_study(sim_study(), [f"select.runs_per_round={runs_per_round}"])
    seed, grid = seed_design(cfg), grid_schedule(cfg)
    assert seed == grid_opening(cfg) == grid[: len(seed)]
    assert len(seed) % runs_per_round == 0  # whole rounds: the grid's forecast at that round
    assert len(seed) >= MIN_CHECKPOINTS and len({r.N for r in seed}) >= MIN_SIZES
    shorter = grid[: len(seed) - runs_per_round]
    assert len(shorter) < MIN_CHECKPOINTS or len({r.N for r in shorter}) < MIN_SIZES


def test_grid_schedule_runs_cheapest_budget_first_one_run_per_point(sim_study):
    cfg = load_study(sim_study())
    reqs = grid_schedule(cfg)
    budgets = [6 * r.N * r.D for r in reqs]
    levels = sorted(cfg.budget.compute)
    assigned = [min(levels, key=lambda c: abs(math.log(c / b))) for b in budgets]
    assert assigned == sorted(assigned)
    assert all(len(r.Ds) == 1 for r in reqs)
    np.testing.assert_allclose(budgets, assigned, rtol=1e-9)


def test_shared_trunk_and_extension_pay_only_for_extra_tokens():
    f = 0.2
    assert run_tokens([1e6, 2e6, 4e6], f) == 4e6 + f * 3e6
    ext = RunRequest(N=1e5, Ds=(8e6,), base_D=4e6, extends=3)
    assert run_flops(ext, f) == 6 * 1e5 * (8e6 - 0.8 * 4e6)
    assert run_flops(ext, f) < run_flops(RunRequest(N=1e5, Ds=(8e6,)), f)


def test_candidates_continue_a_trunk_only_beyond_its_longest_D(sim_study):
    """The trainer keeps only the trunk state before a run's last decay (t2.models.extend):
    beyond it a candidate extends the trunk and pays the new tokens; below it, it is new."""
    cfg = load_study(sim_study())
    N = float(size_rungs(cfg)[2])
    at_N = [c for c in candidates(cfg, [(7, N, 100 * N)]) if c.N == N]
    longer = [c for c in at_N if c.D > 100 * N]
    shorter = [c for c in at_N if c.D < 100 * N]
    assert longer and shorter
    assert not any(abs(c.D / (100 * N) - 1) < 0.01 for c in at_N)
    assert all(c.extends == 7 and c.base_D == 100 * N for c in longer)
    assert all(c.extends is None and c.base_D == 0 for c in shorter)
    f = cfg.train.decay_frac
    for c in longer:
        assert run_flops(c, f) == pytest.approx(6 * N * (c.D - (1 - f) * 100 * N))
    for c in shorter:
        assert run_flops(c, f) == pytest.approx(6 * N * c.D)


def test_the_grid_opening_needs_what_a_round_fit_needs():
    from t2.flows import rounds

    assert MIN_CHECKPOINTS == rounds.MIN_CHECKPOINTS and MIN_SIZES == 3


def test_a_held_point_is_offered_again_with_the_next_seed_up_to_max_seeds(sim_study):
    """design.max_seeds > 1: a held (N, D) is also a candidate as a new run with the next seed
    (never an extension), until it has max_seeds; with the default 1 it never is."""
    from t2.flows.plan import ratio_grid

    cfg = load_study(sim_study(), ["design.max_seeds=3"])
    N = float(size_rungs(cfg)[1])
    D = float(ratio_grid(cfg)[4] * N)
    runs = [(0, N, D)]

    def reruns(held, c=cfg):
        return [r for r in candidates(c, runs, held) if r.seed > 0]

    assert reruns({(N, D): 1}) == [RunRequest(N=N, Ds=(D,), seed=1)]
    assert reruns({(N, D): 2}) == [RunRequest(N=N, Ds=(D,), seed=2)]
    assert reruns({(N, D): 3}) == []
    assert reruns({(N, D): 1}, load_study(sim_study())) == []
    assert all(r.seed == 0 for r in candidates(cfg, runs))  # nothing held, nothing rerun


def test_a_rerun_trains_with_its_own_init_and_batch_order_seed(sim_study):
    from t2.flows.executors.real import run_config

    cfg = load_study(sim_study(), ["train.seed=5"])
    N = float(size_rungs(cfg)[0])
    assert run_config(cfg, RunRequest(N=N, Ds=(20 * N,)), "a").train.seed == 5
    assert run_config(cfg, RunRequest(N=N, Ds=(20 * N,), seed=2), "b").train.seed == 7

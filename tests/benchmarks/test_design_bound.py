"""benchmarks/design_bound.py: the greedy design at the true law, with and without reruns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from bench_scripts import load_script
from t2.flows.config import load_study
from t2.flows.executors.prior import draw_laws

pytestmark = pytest.mark.slow  # a greedy design over a hundred candidates: seconds

STUDY = Path(__file__).resolve().parents[2] / "examples" / "cluster.yaml"


def test_reruns_with_new_seeds_reach_a_forecast_sd_no_later_and_the_grid_no_earlier():
    """Seeds only add candidates, so the greedy design with them gets there no later; both
    oracle designs open as the grid does and then choose, so they beat its schedule here."""
    m = load_script("design_bound")
    base = load_study(STUDY, ["tracking.enabled=false", "design.max_seeds=1"])
    seeds = load_study(STUDY, ["tracking.enabled=false", "design.max_seeds=4"])
    sd = m._Sd(base, 0.01)
    law = draw_laws(1, sd.targets, seed=1)[0]
    theta, threshold = m._theta(law), 0.10 / 1.645
    grid = m.grid_flops(base, theta, sd, threshold)
    once = m.oracle_flops(base, theta, sd, threshold)
    rerun = m.oracle_flops(seeds, theta, sd, threshold)
    assert math.isfinite(rerun) and rerun <= once * 1.05 and once < grid
    assert rerun <= seeds.budget.train_flops

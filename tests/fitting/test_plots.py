"""Every plot writes a PNG and the plotted numbers as JSON."""

import json

import numpy as np
import pytest
from fitting_helpers import design
from t2.fitting import bootstrap_fit, fit_chinchilla
from t2.fitting.plots import (
    plot_isoflop,
    plot_optimal_vs_budget,
    plot_pass_at_k,
    plot_tokens_per_param,
)


def check_written(png):
    assert png.is_file() and png.stat().st_size > 1000
    assert png.read_bytes()[:4] == b"\x89PNG"
    return json.loads(png.with_suffix(".json").read_text())


def test_isoflop_and_pass_at_k_plots_write_png_and_data(tmp_path, chin_law, t2_law):
    N, D, k = design(num_k=5)
    data = check_written(plot_isoflop(chin_law, N, D, chin_law.predict(N, D), tmp_path / "iso"))
    assert len(data["curves"]) >= 5
    sel = N < 2e7
    png = plot_pass_at_k(t2_law, N[sel], D[sel], k[sel],
                         t2_law.pass_at_k(N[sel], D[sel], k[sel]), tmp_path / "pk")
    data = check_written(png)
    np.testing.assert_allclose(data["models"][0]["observed"][0],
                               t2_law.pass_at_k(N[sel][0], D[sel][0], k[sel][0]))


@pytest.mark.slow
def test_budget_plots_draw_t2_and_chinchilla_with_bootstrap_bands(tmp_path, chin_law, t2_law):
    N, D, _ = design()
    L = chin_law.predict(N, D) * np.exp(np.random.default_rng(0).normal(0, 0.01, N.size))
    bs = bootstrap_fit(fit_chinchilla, {"N": N, "D": D, "L": L}, np.arange(N.size) // 2,
                       num_samples=8)
    budgets = np.geomspace(1e19, 1e23, 9)
    data = check_written(plot_optimal_vs_budget(bs.law, budgets, 1e12, tmp_path / "opt",
                                                bootstrap=bs))
    assert all(lo <= hi for lo, hi in zip(*data["N_ci"]))
    data = check_written(plot_optimal_vs_budget(t2_law, budgets, 2e9, tmp_path / "opt_t2"))
    assert data["k_t2"][0] > data["k_chinchilla"][0]
    data = check_written(plot_tokens_per_param(t2_law, 2.56e19, np.geomspace(1e8, 1e11, 7),
                                               tmp_path / "tpp"))
    assert data["t2"][0] > data["chinchilla"][0]

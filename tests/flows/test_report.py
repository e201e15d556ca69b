"""The study report's forecast table flags intervals that exclude the full-data fit."""

from t2.flows.config import load_study
from t2.flows.report import _markdown


def _row(N, lo, hi):
    row = {"c_train": 1e19, "c_inf": 1e9, "pass_at_k": 0.5, "chin_N": 1e8, "chin_k": 5.0,
           "chin_tokens_per_param": 20.0, "chin_pass_at_k": 0.4}
    for name, scale in (("N", 1.0), ("D", 10.0), ("k", 0.1), ("tokens_per_param", 1e-7)):
        row.update({name: N * scale, f"{name}_lo": lo * scale, f"{name}_hi": hi * scale})
    return row


def test_an_interval_that_excludes_the_fit_is_flagged(sim_study):
    cfg = load_study(sim_study())
    state = {"num_runs": 5, "num_checkpoints": 9, "flops": 1e18}
    extra, ratios = [], [{"c_train": 1e19, "c_inf": 1e9, "N": 1e8, "k": 5, "tokens_per_param": 20}]
    inside = _markdown(cfg, state, [_row(1e8, 5e7, 2e8)], extra, ratios, None, 0.8)
    assert "†" not in inside
    outside = _markdown(cfg, state, [_row(1e8, 1.2e8, 2e8)], extra, ratios, None, 0.8)
    assert "1e+08 [1.2e+08, 2e+08]†" in outside and "excludes the full-data fit" in outside

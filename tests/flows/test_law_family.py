"""True laws for simulation: the prior family, misspecified forms and their own optima."""

import json
import math

import numpy as np
import pytest
from t2.flows.executors.misspecified import BentLaw, InteractionLaw, KDriftLaw
from t2.flows.executors.prior import (
    BETA_RANGE,
    G_RANGE,
    describe,
    draw_laws,
    draw_quantities,
    law_from_quantities,
)
from t2.flows.executors.truth import TrueLaw, load_true_law, numeric_optima, parse_true_law
from t2.infra.config import ConfigError

TARGETS = [(2.56e19, 2e9)]
BASE = TrueLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, G=3.0, gamma=0.4)


def _brute_force_log_n(law, c_train, c_inf):
    u = np.linspace(math.log(1e3), math.log(c_inf / 2), 200001)
    N = np.exp(u)
    return u[np.argmin(law.task_loss(N, c_train / (6 * N), c_inf / (2 * N)))]


def test_a_drawn_law_has_the_drawn_optimum_ratio_loss_and_k_shift():
    q = draw_quantities(np.random.default_rng(5))
    law = law_from_quantities(q, *TARGETS[0])
    chin = law.loss_law().chinchilla()
    N = chin.N_opt(TARGETS[0][0])
    D = TARGETS[0][0] / (6 * N)
    assert D / N == pytest.approx(q["r_star"], rel=1e-9)
    assert law.A * N**-law.alpha + law.B * D**-law.beta == pytest.approx(q["dL"], rel=1e-9)
    assert law.beta / (law.alpha + law.beta) == pytest.approx(q["a"], rel=1e-12)
    assert N / math.exp(law.optima(TARGETS)[0, 0]) == pytest.approx(q["shift"], rel=1e-6)


def test_the_family_is_deterministic_prefix_stable_and_inside_the_documented_ranges():
    laws = draw_laws(30, TARGETS, seed=3)
    assert laws[:12] == draw_laws(12, TARGETS, seed=3)
    assert laws != draw_laws(30, TARGETS, seed=4)
    for law in laws:
        assert BETA_RANGE[0] <= law.beta <= BETA_RANGE[1] and G_RANGE[0] <= law.G <= G_RANGE[1]
        assert 1.5 <= law.E <= 2.3 and 0.22 <= law.alpha <= 0.48
    rows = [describe(law, TARGETS) for law in laws]
    ratios = [r["D*/N*"] for r in rows]
    assert min(ratios) < 100 and max(ratios) > 1000  # near-Chinchilla to deep overtraining
    assert all(r["k*"] >= 1 for r in rows)


def test_the_fitted_form_optimum_agrees_with_the_numeric_one():
    for law in [BASE, *draw_laws(4, TARGETS, seed=1)]:
        targets = [*TARGETS, (1e21, 2e10)]
        np.testing.assert_allclose(law.optima(targets), numeric_optima(law, targets),
                                   atol=1e-6)


@pytest.mark.parametrize("law", [BentLaw(BASE, r_bend=100.0, delta=0.5),
                                 InteractionLaw(BASE, p=1.6),
                                 KDriftLaw(BASE, kappa=1.0, L_ref=2.6)],
                         ids=["bend", "interaction", "kdrift"])
def test_a_misspecified_law_is_optimized_on_its_own_function(law):
    ct, ci = TARGETS[0]
    got = law.optima(TARGETS)[0]
    assert got[0] == pytest.approx(_brute_force_log_n(law, ct, ci), abs=1e-3)
    assert got[1] == pytest.approx(math.log(ct / 6) - got[0])
    assert got[2] == pytest.approx(math.log(ci / 2) - got[0])
    assert abs(got[0] - BASE.optima(TARGETS)[0, 0]) > 0.01  # it moved the optimum
    back = parse_true_law(json.loads(json.dumps(law.to_dict())))
    assert back == law


def test_misspecifications_vanish_where_they_should():
    N, D, k = 1e8, 5e8, np.array([1.0, 8.0])  # 5 tokens/param: far below any bend
    assert BentLaw(BASE, r_bend=400.0, delta=0.5).loss(N, D) == pytest.approx(
        BASE.loss(N, D), rel=2e-3)
    assert InteractionLaw(BASE, p=1.0).loss(N, D) == pytest.approx(BASE.loss(N, D), rel=1e-12)
    at_ref = KDriftLaw(BASE, kappa=2.0, L_ref=float(BASE.loss(N, D)))
    np.testing.assert_allclose(at_ref.task_loss(N, D, k), BASE.task_loss(N, D, k), rtol=1e-12)
    bent = BentLaw(BASE, r_bend=100.0, delta=0.5)
    assert bent.loss(N, 2000 * N) > 1.01 * BASE.loss(N, 2000 * N)  # tokens worth less


def test_misspecified_families_cycle_through_the_forms():
    laws = draw_laws(6, TARGETS, seed=0, misspecified=True)
    assert [law.form for law in laws] == ["bend", "interaction", "kdrift"] * 2
    assert [law.base for law in laws] == draw_laws(6, TARGETS, seed=0)


@pytest.mark.parametrize("data, match", [
    ({"form": "wiggle"}, "form: expected one of"),
    ({"form": "bend", "r_bend": 100.0}, "missing delta"),
    ({"form": "interaction", "p": 0.5}, "p: expected >= 1"),
    ({"form": "bend", "r_bend": "x", "delta": 0.2}, "r_bend: expected a finite number"),
])
def test_a_bad_misspecified_law_is_one_config_error(tmp_path, data, match):
    path = tmp_path / "law.json"
    path.write_text(json.dumps({**BASE.to_dict(), **data}))
    with pytest.raises(ConfigError, match=match) as err:
        load_true_law(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)

"""Law JSON round trips at full precision, and reading result tables (CSV and parquet)."""

import json
import warnings

import numpy as np
import pytest
from t2.fitting import ChinchillaLaw, T2BetaLaw, T2LossLaw, load_law, save_law
from t2.fitting.table import read_results


def test_laws_round_trip_through_json_files_without_losing_digits(tmp_path, chin_law, t2_law):
    beta = T2BetaLaw(0.1234567890123456, -1.0, 2.0, 0.3, chin_law)
    for law in (ChinchillaLaw(1.8172180991083964, 477.82586865526, 2143.417362232056,
                              0.3473104989394828, 0.3671724326021726), t2_law, beta):
        path = save_law(law, tmp_path / f"{law.kind}.json", note="x")
        back = load_law(path)
        assert back == law and type(back) is type(law)
        assert type(law).from_json(law.to_json()) == law
    data = json.loads((tmp_path / "t2_loss.json").read_text())
    assert {"E", "A", "B", "alpha", "beta", "G", "gamma"} <= set(data)


def test_a_plain_parameter_json_loads_as_the_right_law(tmp_path):
    path = tmp_path / "true_law.json"
    path.write_text(json.dumps({"E": 1.0, "A": 2.0, "B": 3.0, "alpha": 0.3, "beta": 0.3,
                                "G": 0.5, "gamma": 0.4}))
    assert isinstance(load_law(path), T2LossLaw)
    path.write_text(json.dumps({"E": 1.0, "A": 2.0, "alpha": 0.3}))
    with pytest.raises(ValueError, match="missing B, beta"):
        load_law(path)
    with pytest.raises(ValueError, match="no such law file"):
        load_law(tmp_path / "nope.json")


def test_t2_law_predicts_the_formula_and_reduces_to_chinchilla_at_fixed_k(t2_law):
    N, D, k = 1e8, 2e9, 8.0
    expected = 0.3 + 50.0 / N ** 0.3 + 300.0 / D ** 0.35 + 0.8 / k ** 0.6
    assert t2_law.predict(N, D, k) == pytest.approx(expected, rel=1e-14)
    assert t2_law.chinchilla(k).predict(N, D) == pytest.approx(expected, rel=1e-14)
    assert t2_law.pass_at_k(N, D, k) == pytest.approx(np.exp(-expected))


def test_a_beta_law_on_a_diverged_loss_law_predicts_nothing_without_a_warning():
    """A diverged loss law (A = inf) reaches the Beta law in the report's extrapolation rows:
    its shapes are degenerate, and the user's console gets no RuntimeWarning."""
    diverged = ChinchillaLaw(1.0, float("inf"), 2.0, 0.3, 0.3)
    beta = T2BetaLaw(-1.0, 2.0, 1.0, 0.5, diverged)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = beta.beta_params(1e6, 1e8)
        p = beta.predict(1e6, 1e8, [1.0, 4.0])
    assert not np.isfinite(a * b)
    assert p.shape == (2,)


def test_read_results_maps_columns_from_csv_and_parquet(tmp_path):
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("params,tokens,loss\n1e6,2e7,3.5\n2e6,4e7,3.1\n")
    cols = read_results(csv_path, {"N": "params", "L": "loss"})
    np.testing.assert_array_equal(cols["N"], [1e6, 2e6])
    assert set(cols) == {"N", "L"}
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"params": [1e6, 2e6], "loss": [3.5, 3.1]}), tmp_path / "r.parquet")
    cols = read_results(tmp_path / "r.parquet", ["params", "loss"])
    np.testing.assert_array_equal(cols["loss"], [3.5, 3.1])


def test_read_results_errors_name_the_file_and_column(tmp_path):
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("params,loss\n1e6,abc\n")
    with pytest.raises(ValueError, match=r"r.csv: no column 'tokens'"):
        read_results(csv_path, {"D": "tokens"})
    with pytest.raises(ValueError, match=r"r.csv: column 'loss' has non-numeric"):
        read_results(csv_path, ["loss"])
    txt = tmp_path / "r.txt"
    txt.write_text("x")
    with pytest.raises(ValueError, match="unsupported format"):
        read_results(txt)

"""`t2 fit` and `t2 forecast` end to end on CSV files; bad input is one line and exit code 2."""

import json

import numpy as np
import pytest
from fitting_helpers import EPOCH_CSV, design
from t2.fitting import load_law, optimal_allocation
from t2.flows.cli.main import main
from t2.flows.executors.misspecified import KDriftLaw
from test_k_trend import BASE, _rows


def _write_csv(path, N, D, k, L):
    lines = ["params,tokens,k,neg_log_pass"] + [",".join(repr(float(v)) for v in row)
                                                for row in zip(N, D, k, L)]
    path.write_text("\n".join(lines) + "\n")


def write_t2_csv(path, law):
    N, D, k = design(num_k=5)
    _write_csv(path, N, D, k,
               law.predict(N, D, k) * np.exp(np.random.default_rng(0).normal(0, 0.002, N.size)))


SEPARATE = ("--c-train", "2.56e19", "--c-inf", "2e9")
POOLED = ("--c-total", "1e22", "--tokens-per-sample", "512", "--queries", "1e8")


def _forecast(fit_path, out, budgets) -> dict:
    """`t2 forecast FIT` at ``budgets``; the forecast JSON it wrote."""
    assert main(["forecast", str(fit_path), *budgets, "--out", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_fit_then_forecast_with_bootstrap_intervals(tmp_path, t2_law, capsys):
    csv_path = tmp_path / "results.csv"
    write_t2_csv(csv_path, t2_law)
    fit_path = tmp_path / "fit.json"
    rc = main(["fit", str(csv_path), "--law", "t2", "--n-col", "params", "--d-col", "tokens",
               "--k-col", "k", "--loss-col", "neg_log_pass", "--bootstrap", "10",
               "--out", str(fit_path)])
    assert rc == 0
    law = load_law(fit_path)
    assert law.alpha == pytest.approx(t2_law.alpha, rel=0.05)
    saved = json.loads(fit_path.read_text())
    assert len(saved["bootstrap"]["samples"]) == 10
    assert "gamma" in saved["bootstrap"]["intervals_95"]
    assert "gamma" in capsys.readouterr().out

    out = tmp_path / "forecast.json"
    result = _forecast(fit_path, out, SEPARATE)
    assert result["t2"]["N"] == pytest.approx(optimal_allocation(law, 2.56e19, 2e9).N)
    lo, hi = result["intervals"]["N"]
    assert lo <= hi and result["chinchilla"]["N"] > result["t2"]["N"]
    assert "chinchilla sizing" in capsys.readouterr().out

    assert 0 < _forecast(fit_path, out, POOLED)["t2"]["train_fraction"] < 1


@pytest.mark.slow
def test_fit_reads_flops_column_and_drops_highest_losses(tmp_path):
    out = tmp_path / "epoch.json"
    assert main(["fit", str(EPOCH_CSV), "--n-col", "Model Size", "--flops-col", "Training FLOP",
                 "--loss-col", "loss", "--drop-highest-loss", "5", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["num_points"] == 240 and saved["E"] == pytest.approx(1.8172, rel=0.01)


def _write_rows(path, truth, seed=0):
    _write_csv(path, *_rows(truth, seed=seed, ratios=(10, 40, 160, 640))[:4])


def _fit(csv_path, out, law, *more):
    return main(["fit", str(csv_path), "--law", law, "--n-col", "params", "--d-col", "tokens",
                 "--loss-col", "neg_log_pass", "--out", str(out), *more])


def test_fit_checks_the_k_trend_and_fits_the_drift_law_where_it_flags(tmp_path, capsys):
    """Rows whose k exponent grows as the loss falls: `--law t2` says one γ does not fit and
    points to `--law t2-kdrift`, which finds κ, bootstraps warm, and forecasts with intervals
    (separate and pooled budgets); rows of the fitted form pass the check."""
    csv_path = tmp_path / "drift.csv"
    _write_rows(csv_path, KDriftLaw(base=BASE, kappa=1.2, L_ref=2.6))
    assert _fit(csv_path, tmp_path / "one.json", "t2") == 0
    assert "refit with --law t2-kdrift" in capsys.readouterr().out
    assert json.loads((tmp_path / "one.json").read_text())["k_trend"]["flags"] is True

    fit_path = tmp_path / "drift.json"
    assert _fit(csv_path, fit_path, "t2-kdrift", "--bootstrap", "4", "--workers", "1") == 0
    assert "this law's k exponent follows the loss" in capsys.readouterr().out
    saved = json.loads(fit_path.read_text())
    assert saved["law"] == "t2_kdrift" and saved["kappa"] == pytest.approx(1.2, abs=0.15)
    assert len(saved["bootstrap"]["samples"]) == 4 and "gamma" in saved["one_gamma"]
    law = load_law(fit_path)
    out = tmp_path / "forecast.json"
    result = _forecast(fit_path, out, SEPARATE)
    assert result["t2"]["N"] == pytest.approx(optimal_allocation(law, 2.56e19, 2e9).N)
    lo, hi = result["intervals"]["N"]
    assert lo <= result["t2"]["N"] <= hi
    pooled = _forecast(fit_path, out, POOLED)
    assert 0 < pooled["t2"]["train_fraction"] < 1 and "train_fraction" in pooled["intervals"]

    plain = tmp_path / "plain.csv"
    _write_rows(plain, BASE)
    assert _fit(plain, tmp_path / "plain.json", "t2") == 0
    assert "one γ fits the k curves" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["fit", "missing.csv"], "missing.csv: no such results file"),
    (["fit", "{csv}", "--n-col", "nope"], "no column 'nope'"),
    (["forecast", "{fit}", "--c-train", "1e20"], "--c-train and --c-inf must be given together"),
    (["forecast", "{fit}", "--c-train", "-1", "--c-inf", "1e9"], "c_train: budgets must be"),
    (["forecast", "{fit}"], "give either --c-train"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, chin_law, argv, message):
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("N,D,L\n1e6,2e7,3.5\n")
    fit_path = tmp_path / "fit.json"
    fit_path.write_text(chin_law.to_json())
    argv = [a.format(csv=csv_path, fit=fit_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err

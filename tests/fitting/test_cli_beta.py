"""`t2 fit --law beta` on per-problem tables and `t2 forecast` of its fit; bad input is one line.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/fitting/test_cli_beta.py

Tables are drawn from a known T2BetaLaw over a known loss surface: p_i ~ Beta(a, b) per problem
and checkpoint, c_i ~ Binomial(32, p_i).
"""

import json

import numpy as np
import pytest
from fitting_helpers import problem_rows, write_problem_csv
from t2.fitting import ChinchillaLaw, T2BetaLaw, load_law, optimal_allocation
from t2.fitting.extrapolation import problem_pass_at_k
from t2.flows.cli.main import main

LOSS = ChinchillaLaw(E=1.2, A=400.0, B=2000.0, alpha=0.34, beta=0.36)
TRUTHS = [(2.0, -1.5, 1.0, 0.3), (-1.0, -0.5, 2.0, -0.3)]
PROBLEMS = 200
BUDGET = (2.56e19, 2e9)
PROBES = [(5e6, 1e8), (1e8, 2e9), (9e8, 1.8e11), (2.56e7, 1.7e11)]  # last: beyond the grid


def table(tmp_path, theta, seed, name="problems.csv"):
    rows = problem_rows(T2BetaLaw(*theta, LOSS), seed, num_problems=PROBLEMS)
    path = tmp_path / name
    write_problem_csv(path, rows, PROBLEMS)
    return path, rows


def fit(path, out, *extra):
    return main(["fit", str(path), "--law", "beta", "--out", str(out), *extra])


@pytest.mark.parametrize("likelihood", ["beta-binomial", "beta"])
@pytest.mark.parametrize("theta", TRUTHS)
def test_fit_with_the_true_loss_law_recovers_the_law_and_its_optimum(tmp_path, theta,
                                                                      likelihood):
    truth = T2BetaLaw(*theta, LOSS)
    loss_path = tmp_path / "loss.json"
    loss_path.write_text(LOSS.to_json())
    true_N = optimal_allocation(truth, *BUDGET).N
    for seed in range(3):
        path, _ = table(tmp_path, theta, seed)
        out = tmp_path / f"beta{seed}.json"
        assert fit(path, out, "--likelihood", likelihood, "--loss-law", str(loss_path)) == 0
        law = load_law(out)
        assert law.loss_law == LOSS
        assert abs(law.theta1 - theta[0]) < 0.25 and abs(law.theta2 - theta[1]) < 0.15
        for N, D in PROBES:
            for k in (1, 8, 64):
                assert law.predict(N, D, k) == pytest.approx(truth.predict(N, D, k), abs=0.03)
        assert optimal_allocation(law, *BUDGET).N == pytest.approx(true_N, rel=0.15)
        saved = json.loads(out.read_text())
        assert saved["likelihood"] == likelihood and saved["num_checkpoints"] == 30


@pytest.mark.slow
def test_fit_from_the_table_alone_bootstraps_runs_and_forecasts_with_intervals(tmp_path, capsys):
    truth = T2BetaLaw(*TRUTHS[0], LOSS)
    path, rows = table(tmp_path, TRUTHS[0], seed=0)
    out = tmp_path / "beta.json"
    assert fit(path, out, "--group-col", "run", "--bootstrap", "16", "--seed", "1") == 0
    printed = capsys.readouterr().out
    assert "loss alpha" in printed and "95% CI" in printed
    saved = json.loads(out.read_text())
    assert saved["loss_law_source"].startswith("table")
    assert len(saved["checkpoint_loss"]["L"]) == 30
    samples = saved["bootstrap"]["samples"]
    assert len(samples) + saved["bootstrap"]["num_failed"] == 16
    assert len({s["loss_law"]["alpha"] for s in samples}) > 1  # each resample its own surface
    law = load_law(out)
    # the fitted surface drives the law: each checkpoint's mean pass@k is reproduced
    uniq, ck = np.unique(np.column_stack([rows["N"], rows["D"]]), axis=0, return_inverse=True)
    for k in (1, 8, 32):
        per = problem_pass_at_k(k, n=rows["n"], c=rows["c"])
        obs = np.bincount(ck.ravel(), per) / np.bincount(ck.ravel())
        assert np.mean(np.abs(law.predict(uniq[:, 0], uniq[:, 1], k) - obs)) < 0.06

    fc = tmp_path / "fc.json"
    assert main(["forecast", str(out), "--c-train", "2.56e19", "--c-inf", "2e9",
                 "--out", str(fc)]) == 0
    result = json.loads(fc.read_text())
    lo, hi = result["intervals"]["N"]
    assert lo <= result["t2"]["N"] <= hi and lo < hi
    assert result["intervals"]["pass_at_k"][0] <= result["t2"]["pass_at_k"]
    true_N = optimal_allocation(truth, *BUDGET).N
    assert true_N / 5 < result["t2"]["N"] < 5 * true_N  # measured within 1.5x (surface from data)
    assert result["chinchilla"]["N"] > result["t2"]["N"]
    assert "pass_at_k" in capsys.readouterr().out


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


TWO_CKPTS = "N,D,problem,n,c,p\n" + "".join(
    f"{N},{D},q{i},4,{i % 5},0.{i + 1}\n" for N, D in [("1e7", "2e8"), ("1e8", "2e9")]
    for i in range(5))


@pytest.mark.parametrize("text, argv, message", [
    ("N,D,problem,score\n1e7,2e8,q1,0.5\n", [], "no columns 'n' and 'c' (sampled counts) or 'p'"),
    (TWO_CKPTS, ["--samples-col", "num"], "no column 'num'"),
    (TWO_CKPTS, ["--samples-col", "n", "--p-col", "p"], "count columns (--samples-col/--correct"),
    (TWO_CKPTS.replace("1e8,2e9,q3,4,3", "1e8,2e9,q3,4,7"), [], "column 'c' exceeds column 'n'"),
    (TWO_CKPTS.replace("0.3\n", "1.3\n"), ["--p-col", "p"], "column 'p' must lie in [0, 1]"),
    (TWO_CKPTS.replace("1e8,2e9", "1e7,2e8").replace("q", "x", 5),
     ["--likelihood", "beta"], "1 checkpoint(s) (distinct N, D): fitting the loss surface"),
    (TWO_CKPTS.replace("1e8,2e9,q2,4,2", "1e8,2e9,q2,4,two"), [], "column 'c' has non-numeric"),
    (TWO_CKPTS.replace("1e8,2e9,q2", "1e8,2e9,q1"), [], "problem 'q1' appears 2 times"),
    (TWO_CKPTS, ["--drop-highest-loss", "2"], "--drop-highest-loss applies to loss tables"),
    (TWO_CKPTS, ["--loss-law", "{beta_json}"], "--loss-law needs a Chinchilla or T² loss law"),
    (TWO_CKPTS, ["--loss-law", "nope.json"], "nope.json: no such law file"),
])
def test_bad_per_problem_input_is_one_line_and_exit_code_2(tmp_path, capsys, text, argv,
                                                           message):
    path = write(tmp_path, text)
    beta_json = tmp_path / "beta_law.json"
    beta_json.write_text(T2BetaLaw(*TRUTHS[0], LOSS).to_json())
    argv = [a.format(beta_json=beta_json) for a in argv]
    assert fit(path, tmp_path / "out.json", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert str(path.name) in err or "--" in message or "nope" in message


def test_a_beta_fit_with_a_given_loss_law_holds_it_fixed_in_the_bootstrap(tmp_path, capsys):
    path, _ = table(tmp_path, TRUTHS[1], seed=5)
    loss_path = tmp_path / "loss.json"
    loss_path.write_text(LOSS.to_json())
    out = tmp_path / "beta.json"
    assert fit(path, out, "--loss-law", str(loss_path), "--bootstrap", "8",
               "--group-col", "run") == 0
    saved = json.loads(out.read_text())
    assert "loss_law_intervals_95" not in saved["bootstrap"]
    assert all(s["loss_law"]["alpha"] == LOSS.alpha for s in saved["bootstrap"]["samples"])
    assert "held fixed" in capsys.readouterr().out

"""One forecast: a round, `t2 status`, the report and `t2 fit` + `t2 forecast` on the same data
give the same point and the same interval (t2.fitting.forecast is the only implementation)."""

import csv
import json

import numpy as np
import pytest
from t2.flows import ledger
from t2.flows.cli.main import main
from t2.flows.config import load_study
from t2.flows.driver import run_study
from t2.flows.executors.simulated import SimulatedExecutor
from t2.flows.executors.truth import load_true_law
from t2.flows.records import RoundRecord
from t2.flows.report import write_report
from t2.flows.rounds import fit_arrays, fit_round
from t2.flows.status import study_status
from t2.flows.steps import StudyPaths
from t2.infra.storage import read_json

pytestmark = pytest.mark.slow  # simulated studies: tens of seconds each


@pytest.fixture(scope="module")
def study(tmp_path_factory, request):
    from study_files import TRUE_LAW, write_study

    base = tmp_path_factory.mktemp("one")
    (base / "law.json").write_text(json.dumps(TRUE_LAW))
    cfg = load_study(write_study(base / "study.yaml"), ["select.max_rounds=2"])
    ex = SimulatedExecutor(load_true_law(base / "law.json"), cfg.eval.ks, seed=cfg.select.seed)
    result = run_study(cfg, base / "root", ex, log=lambda *a: None)
    return cfg, base, result


def test_round_status_selector_and_report_show_the_same_forecast(study):
    cfg, base, result = study
    paths = StudyPaths(base / "root")
    last = RoundRecord.from_dict(read_json(max(paths.rounds.glob("round-*.json"))))
    q = cfg.select.interval
    fc = result.state.forecast  # what the selector scored candidates with
    np.testing.assert_array_equal(np.exp(fc.point), last.forecast)
    np.testing.assert_array_equal(np.exp(fc.interval(q)), last.interval)
    assert study_status(paths.root).forecast == last
    write_report(cfg, paths.root)
    rows = read_json(paths.report / "report.json")["forecast"]
    for t, row in enumerate(rows):
        for j, name in enumerate(("N", "D", "k")):
            assert row[name] == pytest.approx(last.forecast[t][j], rel=1e-12)
            assert [row[f"{name}_lo"], row[f"{name}_hi"]] == pytest.approx(
                last.interval[t][j], rel=1e-12)


def test_the_cli_fits_and_forecasts_a_results_table_exactly_as_a_round_does(study, tmp_path):
    cfg, base, _ = study
    obs = ledger.observations(ledger.open_ledger(cfg, base / "root"))
    target, q, num, seed = cfg.budget.targets[0], cfg.select.interval, 12, 5
    fit = fit_round(obs, [(target.c_train, target.c_inf)], num_bootstrap=num, seed=seed)
    arrays, runs = fit_arrays(obs, "t2")
    table = tmp_path / "results.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["N", "D", "k", "L", "run"])
        for row in zip(arrays["N"], arrays["D"], arrays["k"], arrays["L"], runs):
            w.writerow([repr(float(v)) for v in row])
    fit_json, out = tmp_path / "fit.json", tmp_path / "forecast.json"
    assert main(["fit", str(table), "--law", "t2", "--group-col", "run", "--bootstrap",
                 str(num), "--seed", str(seed), "--out", str(fit_json)]) == 0
    assert main(["forecast", str(fit_json), "--c-train", repr(target.c_train), "--c-inf",
                 repr(target.c_inf), "--ci", repr(q), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    iv = np.exp(fit.forecast.interval(q))[0]
    for j, name in enumerate(("N", "D", "k")):
        assert got["t2"][name] == pytest.approx(np.exp(fit.forecast.point[0, j]), rel=1e-9)
        assert got["intervals"][name] == pytest.approx(iv[j], rel=1e-9)

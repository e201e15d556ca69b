"""``t2 plan | simulate | status`` end to end through the CLI entry point."""

import json
import math

import pytest
from t2.flows.cli.main import main


def test_plan_prints_the_seed_design_and_its_flops(sim_study, capsys):
    assert main(["plan", str(sim_study())]) == 0
    out = capsys.readouterr().out
    assert "runs," in out and "checkpoints" in out and "of the study budget" in out


def test_plan_with_a_bad_field_exits_2_with_one_line(sim_study, capsys):
    assert main(["plan", str(sim_study()), "--set", "select.stratgy=grid"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "select.stratgy: unknown field" in err


def test_simulate_with_a_missing_law_file_exits_2(sim_study, tmp_path, capsys):
    code = main(["simulate", str(sim_study()), "--true-law", str(tmp_path / "no.json"),
                 "--root", str(tmp_path / "r")])
    assert code == 2 and "no such law file" in capsys.readouterr().err


@pytest.mark.slow
def test_simulate_writes_the_report_and_status_shows_the_forecast(
        sim_study, law_file, tmp_path, capsys):
    root = tmp_path / "r"
    assert main(["simulate", str(sim_study()), "--true-law", str(law_file), "--root", str(root),
                 "--set", "select.max_rounds=4"]) == 0
    out = capsys.readouterr().out
    assert "## Forecast" in out and "Extrapolation check" in out
    report = json.loads((root / "report" / "report.json").read_text())
    row = report["forecast"][0]
    assert row["N_lo"] <= row["N"] <= row["N_hi"] and row["tokens_per_param"] > 100
    assert row["chin_tokens_per_param"] < row["tokens_per_param"]  # T² overtrains
    # the simulated law is of the fitted form: the k exponent check runs and does not flag
    assert report["k_trend"]["flags"] is False and "k exponent check" in out
    assert report["k_drift"] is None and report["forecast_law"] == "t2_loss"
    for name in ("forecast.png", "fit.png", "ratio_vs_cinf.png", "pass_at_k.png", "_SUCCESS"):
        assert (root / "report" / name).is_file()
    ratios = [r["tokens_per_param"] for r in report["ratio_vs_c_inf"]]
    assert ratios == sorted(ratios, reverse=True)  # more inference, smaller and longer-trained
    assert main(["status", str(root)]) == 0
    out = capsys.readouterr().out
    assert "forecast after" in out and "training FLOPs" in out and "finished" in out
    assert "drifts" not in out
    # a round whose k-exponent check flagged: status warns
    newest = max((root / "rounds").glob("round-*.json"))
    rec = json.loads(newest.read_text())
    rec["k_trend"] = {**rec["k_trend"], "t": -17.5, "rel": 1.6, "flags": True}
    newest.write_text(json.dumps(rec))
    assert main(["status", str(root)]) == 0
    assert "the k exponent drifts with the loss (t = -17.5" in capsys.readouterr().out


@pytest.mark.slow
def test_a_drifting_k_exponent_gets_the_drift_law_s_forecast_in_rounds_report_and_status(
        sim_study, tmp_path, capsys):
    """A simulated law whose k exponent follows the loss (the study's losses sit around L_ref):
    the check flags, every round from the first fit forecasts with the drift law, the report
    gives it as the study's forecast beside the one-γ law's, and it is nearer the truth."""
    from study_files import TRUE_LAW
    from t2.flows.executors.misspecified import KDriftLaw
    from t2.flows.executors.truth import TrueLaw

    law = tmp_path / "kdrift.json"
    law.write_text(json.dumps({**TRUE_LAW, "form": "kdrift", "kappa": 1.0, "L_ref": 4.5}))
    root = tmp_path / "r"
    deployment = "budget.deployment={c_total: 1.0e+22, tokens_per_sample: 512, queries: 1.0e+9}"
    assert main(["simulate", str(sim_study()), "--true-law", str(law), "--root", str(root),
                 "--set", "select.max_rounds=4", "--set", "tracking.enabled=true",
                 "--set", deployment]) == 0
    out = capsys.readouterr().out
    assert "A law whose k exponent follows the loss" in out
    rounds = [json.loads(p.read_text()) for p in sorted((root / "rounds").glob("round-*.json"))]
    fitted = [r for r in rounds if "forecast" in r]
    assert fitted and all(r["k_trend"]["flags"] and r["drift"]["law"]["law"] == "t2_kdrift"
                          for r in fitted)
    report = json.loads((root / "report" / "report.json").read_text())
    truth = KDriftLaw(TrueLaw(**TRUE_LAW), kappa=1.0, L_ref=4.5).optima([(2.56e19, 2e9)])[0, 0]
    drift_n, one_n = report["forecast"][0]["N"], report["k_drift"]["one_gamma_N"][0]
    assert report["forecast_law"] == "t2_kdrift" and report["k_drift"]["law"]["law"] == "t2_kdrift"
    assert drift_n == pytest.approx(fitted[-1]["forecast"][0][0], rel=1e-9)
    assert abs(math.log(drift_n) - truth) < abs(math.log(one_n) - truth)
    # the deployment answer comes from the same law (searched: no closed form for a drift)
    from t2.fitting.laws import law_from_dict
    from t2.fitting.optimal import optimal_pooled

    pooled = optimal_pooled(law_from_dict(report["k_drift"]["law"]), 1e22, 512, 1e9)
    assert report["deployment"]["N"] == pytest.approx(pooled.N, rel=1e-9)
    assert main(["status", str(root)]) == 0
    assert "the forecast is the law whose k exponent follows the loss" in " ".join(
        capsys.readouterr().out.split())

    # MLflow: the parent run's κ per fitted round, beside the forecast it belongs to
    from mlflow.tracking import MlflowClient
    from t2.flows.steps import StudyPaths

    client = MlflowClient(StudyPaths(root).mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("t2").experiment_id],
                              max_results=1000)
    parent = [r for r in runs if "k_drift.kappa" in r.data.metrics]
    assert len(parent) == 1
    kappas = [m.value for m in client.get_metric_history(parent[0].info.run_id, "k_drift.kappa")]
    assert len(kappas) == len(fitted)
    assert kappas[-1] == pytest.approx(fitted[-1]["drift"]["law"]["kappa"], rel=1e-6)

"""evaluate_checkpoint and ``t2 evaluate``: per-problem table, pass@k summary, MLflow, reruns.

    .venv/bin/python -m pytest tests/evaluation/test_evaluate.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
from t2.evaluation.evaluate import (
    SUMMARY_FILE,
    evaluate_checkpoint,
    format_passk_table,
    powers_of_two_ks,
    summarize,
)
from t2.evaluation.passk import pass_at_k


def test_powers_of_two_ks_end_at_n():
    assert powers_of_two_ks(1) == [1]
    assert powers_of_two_ks(8) == [1, 2, 4, 8]
    assert powers_of_two_ks(12) == [1, 2, 4, 8, 12]


def test_summary_pass_at_k_is_the_mean_of_per_problem_estimates():
    import pandas as pd

    table = pd.DataFrame({"task": ["t"] * 3, "problem_id": ["a", "b", "c"], "n": [4, 4, 4],
                          "c": [0, 1, 4], "nll": [2.0, 1.0, 0.1], "p": np.exp([-2.0, -1.0, -0.1]),
                          "flops_per_sample": [1.0] * 3, "mean_new_tokens": [2.0] * 3,
                          "prompt_tokens": [5] * 3})
    s = summarize(table, 4, num_bootstrap=200)["t"]
    for k in (1, 2, 4):
        want = np.mean([pass_at_k(4, c, k) for c in (0, 1, 4)])
        assert s["pass_at_k"][str(k)] == pytest.approx(want)
        lo, hi = s["pass_at_k_ci"][str(k)]
        assert lo <= want <= hi
    assert s["mean_nll"] == pytest.approx(1.0333333)
    assert s["likelihood_pass_at_k"]["1"] == pytest.approx(np.mean(np.exp([-2.0, -1.0, -0.1])))


@pytest.mark.slow
def test_evaluate_writes_table_summary_and_mlflow_run_and_a_rerun_is_a_no_op(
        tiny_checkpoint, tmp_path):
    import mlflow

    out = tmp_path / "eval"
    result = evaluate_checkpoint(tiny_checkpoint, ["arithmetic"], out, n=4, temperature=1.0,
                                 num_problems=6, seed=0, problems_per_shard=4)
    table = result.table()
    assert len(table) == 6 and set(table["task"]) == {"arithmetic"}
    assert {"n", "c", "nll", "p", "flops_per_sample", "prompt_tokens"} <= set(table.columns)
    curve = [result.summary["arithmetic"]["pass_at_k"][str(k)] for k in (1, 2, 4)]
    assert curve == sorted(curve)
    client = mlflow.MlflowClient(f"sqlite:///{out.resolve()}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("t2-evaluate").experiment_id])
    history = client.get_metric_history(runs[0].info.run_id, "arithmetic/pass_at_k")
    assert [m.step for m in history] == [1, 2, 4]
    assert [m.value for m in history] == pytest.approx(curve)
    mtime = (out / SUMMARY_FILE).stat().st_mtime_ns
    again = evaluate_checkpoint(tiny_checkpoint, ["arithmetic"], out, n=4, temperature=1.0,
                                num_problems=6, seed=0, problems_per_shard=4)
    assert again.summary == result.summary and (out / SUMMARY_FILE).stat().st_mtime_ns == mtime
    assert "pass@4" in format_passk_table(result.summary)


@pytest.mark.slow
def test_t2_evaluate_prints_a_pass_at_k_table(tiny_checkpoint, tmp_path, capsys):
    from t2.flows.cli.main import main

    code = main(["evaluate", str(tiny_checkpoint), "--tasks", "arithmetic", "--n", "2",
                 "--num-problems", "3", "--out", str(tmp_path / "e"), "--no-tracking"])
    out = capsys.readouterr().out
    assert code == 0
    assert "pass@1" in out and "pass@2" in out and "arithmetic" in out
    assert (tmp_path / "e" / "per_problem.parquet").is_file()


@pytest.mark.parametrize("argv, match", [
    (["--tasks", "nope"], "unknown task"), (["--tasks", "arithmetic", "--n", "0"], "--n"),
    (["--tasks", "arithmetic", "--top-p", "2"], "--top-p"),
])
def test_t2_evaluate_rejects_bad_input_with_one_line_and_exit_2(tiny_checkpoint, capsys,
                                                                 argv, match):
    from t2.flows.cli.main import main

    assert main(["evaluate", str(tiny_checkpoint), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_t2_evaluate_rejects_a_directory_without_a_checkpoint(tmp_path, capsys):
    from t2.flows.cli.main import main

    assert main(["evaluate", str(tmp_path), "--tasks", "arithmetic"]) == 2
    assert "config.json" in capsys.readouterr().err

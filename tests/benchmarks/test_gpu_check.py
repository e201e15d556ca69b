"""benchmarks/gpu_check.py on CPU: every section records a result or its reason to be skipped.

    .venv/bin/python -m pytest tests/benchmarks/test_gpu_check.py -q     # ~1 min (slow)

The CPU-safe path runs once per module (tiny sizes, sections in one process); the child-process
runner that gives each section a hard time limit on the device is checked on the fast fit
section, once finishing and once killed past its budget.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
from bench_scripts import BENCHMARKS, load_script

pytestmark = pytest.mark.slow
SCRIPT = BENCHMARKS / "gpu_check.py"



@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    done = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--inline", "--steps", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert '"goals"' in done.stdout  # the summary is printed last
    return json.loads((out / "gpu_check.json").read_text())


def test_every_section_has_a_status_and_the_cuda_ones_say_why_they_were_skipped(report):
    sections = report["sections"]
    assert list(sections) == ["env", "train_125M", "train_350M", "train_smoke", "sampling", "fit"]
    assert {n: r["status"] for n, r in sections.items() if r["status"] != "skipped"} == {
        "env": "ok", "train_smoke": "ok", "sampling": "ok", "fit": "ok"}
    for name in ("train_125M", "train_350M"):
        assert "needs CUDA" in sections[name]["reason"]
    env = sections["env"]
    assert env["cuda"] is False and env["torch"] and env["transformers"] and env["deepspeed"]
    assert env["imports"]["ok"] > 50 and not env["imports"]["failed"]


def test_both_training_loops_learn_and_a_checkpoint_round_trip_repeats_the_loss(report):
    r = report["sections"]["train_smoke"]
    assert r["zero_stage"] == 1 and r["hparams"]["grad_accum"] > 1  # the study's ZeRO stage
    for side in ("t2", "plain"):
        losses = r[side]["losses"]
        assert len(losses) >= 3 and all(map(math.isfinite, losses)) and losses[-1] < losses[0]
        assert r[side]["tokens_per_s"] > 0 and r[side]["mfu"] is None  # no GPU peak on CPU
    assert r["t2"]["losses"][0] == pytest.approx(r["plain"]["losses"][0], rel=1e-4)  # same model
    assert 0.2 < r["ratio"] < 5
    assert r["checkpoint"]["same"] is True
    assert report["summary"]["train_smoke"]["losses_ok"] is True


def test_sampling_measures_both_engines_and_greedy_matches_generate(report):
    r = report["sections"]["sampling"]
    assert r["k"] == 8 and r["problems"] == 2 and min(r["prompt_tokens"]) > 200  # SciQ 5-shot
    for engine in ("t2", "hf"):
        assert r[engine]["tokens"] > 0 and r[engine]["tokens_per_s"] > 0
    assert math.isfinite(r["ratio"]) and r["ratio"] > 0
    assert r["greedy"]["identical"] is True
    assert report["summary"]["sampling"]["ratio"] is None  # CPU figures are not the goal's


def test_the_fit_recovers_the_true_law_and_forecasts_with_the_measured_rate(report):
    r = report["sections"]["fit"]
    assert r["t2_law"]["alpha"] == pytest.approx(r["truth"]["alpha"], abs=0.05)
    assert r["t2_law"]["beta"] == pytest.approx(r["truth"]["beta"], abs=0.05)
    assert all(v > 0 and math.isfinite(v) for v in r["forecast"].values())
    assert len(r["bootstrap_N"]) >= 2
    assert r["forecast_training"]["from"] == "train_smoke"
    assert r["forecast_training"]["hours_6ND"] > 0
    assert set(report["summary"]["goals"].values()) == {None}  # nothing measured on a GPU


def child_args(tmp_path):
    args = SimpleNamespace(out=tmp_path, work=tmp_path / "work", steps=1, cpu_smoke=True)
    (tmp_path / "gpu_check.json").write_text(json.dumps({"sections": {}}))
    return args


def test_a_section_in_its_own_process_returns_its_record(tmp_path):
    record = load_script("gpu_check").run_child("fit", child_args(tmp_path), 120, False)
    assert record["status"] == "ok", record
    assert record["forecast_training"] == "no measured FLOP rate" and record["wall_seconds"] > 0


def test_a_section_past_its_budget_is_killed_and_recorded_as_a_timeout(tmp_path):
    gpu_check = load_script("gpu_check")
    gpu_check.GRACE = 0
    record = gpu_check.run_child("fit", child_args(tmp_path), 0.3, False)
    assert record["status"] == "timeout" and "killed" in record["error"]

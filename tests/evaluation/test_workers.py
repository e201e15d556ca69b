"""Sampling workers: shard rows, resume after a crash, and the Ray actor pool.

    .venv/bin/python -m pytest tests/evaluation/test_workers.py -q        # Ray test included
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from t2.evaluation.shards import plan_shards, read_shard, shard_dir, shard_is_done
from t2.evaluation.workers import EXIT_HOOK, SamplingJob, run_shards, task_problems
from t2.infra.storage import SUCCESS

TASK = "arithmetic"


def _job(ckpt, out, **kw):
    return SamplingJob(hf_dir=str(ckpt), out_dir=str(out), n=4, temperature=1.0,
                       num_problems=6, seed=0, **kw)


def _shards(job, per=2):
    ids = {TASK: [p.id for p in task_problems(TASK, job)[1]]}
    return plan_shards(ids, problems_per_shard=per, settings="test")


def _rows(dirs):
    return [row for d in dirs for row in read_shard(d)]


def test_local_run_writes_one_graded_row_per_problem_with_nll_and_flops(tiny_checkpoint,
                                                                        tmp_path):
    from t2.models.sizing import inference_flops
    from transformers import AutoConfig

    job = _job(tiny_checkpoint, tmp_path)
    shards = _shards(job)
    rows = _rows(run_shards(job, shards))
    assert sorted(r["problem_id"] for r in rows) == sorted(i for s in shards
                                                           for i in s.problem_ids)
    config = AutoConfig.from_pretrained(tiny_checkpoint)
    for r in rows:
        assert r["task"] == TASK and r["n"] == 4 and len(r["completions"]) == 4
        assert r["c"] == sum(r["correct"]) and r["nll"] > 0
        assert all(1 <= t <= 6 for t in r["new_tokens"])  # arithmetic: at most 6 new tokens
        t, p = r["new_tokens"][0], r["prompt_tokens"]
        alone = inference_flops(config, p, t, 1)
        assert r["flops_prefill"] == inference_flops(config, p, 0, 1)
        assert r["flops_total_shared"] == pytest.approx(
            r["flops_prefill"] + sum(inference_flops(config, p, x, 1) - r["flops_prefill"]
                                     for x in r["new_tokens"]))
        assert r["flops_per_sample"] >= r["flops_prefill"] and alone > r["flops_prefill"]


def _run_in_subprocess(ckpt, out, env_extra):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_workers import _job, _shards
        from t2.evaluation.workers import run_shards
        job = _job({str(ckpt)!r}, {str(out)!r})
        run_shards(job, _shards(job))
    """)
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env_extra},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_rerun_after_a_crash_redoes_only_unfinished_shards_with_the_same_samples(
        tiny_checkpoint, tmp_path):
    job = _job(tiny_checkpoint, tmp_path)
    shards = _shards(job)
    crashed = _run_in_subprocess(tiny_checkpoint, tmp_path, {EXIT_HOOK: "1"})
    assert crashed.returncode == 3, crashed.stderr[-2000:]
    done = [shard_is_done(shard_dir(tmp_path, s), s.key) for s in shards]
    assert done == [True, False, False]
    # the second shard was half-written when the process died: a partial file, no marker
    half = shard_dir(tmp_path, shards[1])
    half.mkdir(parents=True)
    (half / "samples.jsonl").write_text('{"task": "arith')
    first = shard_dir(tmp_path, shards[0]) / SUCCESS
    first_mtime = first.stat().st_mtime_ns
    rows = _rows(run_shards(job, shards))
    assert first.stat().st_mtime_ns == first_mtime, "a finished shard was recomputed"
    assert all(shard_is_done(shard_dir(tmp_path, s), s.key) for s in shards)
    fresh = _rows(run_shards(_job(tiny_checkpoint, tmp_path / "fresh"), shards))
    assert rows == fresh, "resumed samples differ from an uninterrupted run"


@pytest.mark.ray
@pytest.mark.slow
def test_ray_actor_pool_writes_the_same_rows_as_the_local_run(tiny_checkpoint, tmp_path):
    job = _job(tiny_checkpoint, tmp_path / "local")
    shards = _shards(job)
    local = _rows(run_shards(job, shards))
    remote_job = _job(tiny_checkpoint, tmp_path / "ray")
    remote = _rows(run_shards(remote_job, shards, use_ray=True, num_workers=2))
    assert remote == local

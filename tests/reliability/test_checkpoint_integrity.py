"""A truncated or corrupted newest checkpoint or sample shard is detected by the checksums in
its done-marker and never read as valid: training resumes from the previous checkpoint (with the
same losses as an uninterrupted run) and a damaged shard is sampled again.
python -m pytest tests/reliability/test_checkpoint_integrity.py -q
"""

import logging
import os
from pathlib import Path

import pytest
from reliability_helpers import clean_env, flip_bytes, run_train_process, truncate
from study_files import tiny_run
from t2.infra.checkpoint import complete_checkpoints, latest_checkpoint
from t2.infra.storage import is_done, mark_done, read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.run_log import EXIT_HOOK
from t2.models.train import train

# 1024-token batches, 16 steps; decay branch for D=8e3 leaves the trunk at step 6.
RUN = tiny_run("integrity", tokens=1.6e4, decay_at=[8e3])


def fake_checkpoints(root: Path, steps=(3, 6, 9)) -> None:
    for s in steps:
        d = root / f"step-{s}"
        d.mkdir(parents=True)
        (d / "mp_rank_00_model_states.pt").write_bytes(bytes(range(256)) * 8 * s)
        mark_done(d, {"progress": s})


@pytest.mark.parametrize("damage", [truncate, flip_bytes, lambda p: p.unlink()],
                         ids=["truncated", "flipped", "deleted"])
def test_a_damaged_newest_checkpoint_is_skipped_for_the_previous_one(tmp_path, caplog, damage):
    fake_checkpoints(tmp_path)
    damage(tmp_path / "step-9" / "mp_rank_00_model_states.pt")
    with caplog.at_level(logging.WARNING, logger="t2.infra.checkpoint"):
        path, manifest = latest_checkpoint(tmp_path)
    assert (path.name, manifest["progress"]) == ("step-6", 6)
    assert "step-9 fails its checksums" in caplog.text
    assert [p.name for p, _ in complete_checkpoints(tmp_path, verify=True)] == ["step-3", "step-6"]
    # both damaged: back to the oldest; all damaged: no checkpoint (train from step 0)
    flip_bytes(tmp_path / "step-6" / "mp_rank_00_model_states.pt")
    assert latest_checkpoint(tmp_path)[0].name == "step-3"
    truncate(tmp_path / "step-3" / "mp_rank_00_model_states.pt")
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "step-3" / "_SUCCESS").write_text("{not json")  # a torn marker is no checkpoint
    assert complete_checkpoints(tmp_path) == [(tmp_path / "step-6", {"progress": 6}),
                                              (tmp_path / "step-9", {"progress": 9})]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus_cache):
    out = tmp_path_factory.mktemp("ref") / "run"
    return out, train(RunConfig.model_validate(RUN), out, cache_dir=corpus_cache)


def losses(out: Path) -> dict[int, float]:
    return {r["progress"]: r["loss"] for r in read_jsonl(out / "metrics.jsonl")}


@pytest.mark.slow
def test_resume_after_a_corrupted_newest_checkpoint_uses_the_previous_one_bit_for_bit(
        reference, corpus_cache, tmp_path):
    out = tmp_path / "run"
    cfg_json = RunConfig.model_validate(RUN).model_dump_json()
    # a real process dies (os._exit, no cleanup) after 11 optimizer steps
    code = run_train_process(cfg_json, out, corpus_cache, clean_env(**{EXIT_HOOK: "11"}))
    assert code == 17 and not is_done(out)
    kept = complete_checkpoints(out / "ckpt")
    assert len(kept) >= 2, kept  # training keeps a previous checkpoint to fall back to
    (newest, _), (previous, before) = kept[-1], kept[-2]
    flip_bytes(max(newest.glob("*model_states.pt"), key=lambda p: p.stat().st_size))
    dirs = train(RunConfig.model_validate(RUN), out, cache_dir=corpus_cache)
    resumes = read_jsonl(out / "resumes.jsonl")
    assert [(r["checkpoint"], r["progress"]) for r in resumes] == [
        (previous.name, before["progress"])]
    assert 0 < before["progress"] < 11
    assert losses(out) == losses(reference[0])  # replayed from there, bit for bit
    for mine, ref in zip(dirs, reference[1]):
        a, b = read_json(mine / "train.json"), read_json(ref / "train.json")
        assert (a["val_loss"], a["final_train_loss"]) == (b["val_loss"], b["final_train_loss"])
        assert (mine / "hf" / "model.safetensors").read_bytes() == (
            ref / "hf" / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_a_truncated_or_corrupted_finished_shard_is_redone_and_the_intact_one_kept(
        reference, tmp_path):
    from t2.evaluation.shards import plan_shards, read_shard, shard_worker
    from t2.evaluation.workers import SamplingJob, pending, run_shards, task_problems

    hf = reference[1][0] / "hf"
    job = SamplingJob(hf_dir=str(hf), out_dir=str(tmp_path / "samples"), n=2, num_problems=6,
                      max_new_tokens=8)
    ids = {"arithmetic": [p.id for p in task_problems("arithmetic", job)[1]]}
    shards = plan_shards(ids, problems_per_shard=2, settings="s")
    dirs = run_shards(job, shards)
    original = [read_shard(d) for d in dirs]
    mtime_intact = (dirs[1] / "samples.jsonl").stat().st_mtime_ns
    truncate(dirs[0] / "samples.jsonl")
    flip_bytes(dirs[2] / "samples.jsonl", num=2)
    for d in (dirs[0], dirs[2]):
        with pytest.raises(ValueError, match="not finished"):
            read_shard(d)  # the marker is there, the checksum says no
    assert pending(job, shards) == [shards[0], shards[2]]
    run_shards(job, shards)
    assert pending(job, shards) == []
    assert (dirs[1] / "samples.jsonl").stat().st_mtime_ns == mtime_intact
    assert [read_shard(d) for d in dirs] == original  # seeded sampling: redone shards match
    assert shard_worker(dirs[0])["pid"] == os.getpid()  # the marker says who sampled it

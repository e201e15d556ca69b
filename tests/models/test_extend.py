"""Continuing a finished run's kept trunk (``train.init_from``) on CPU, bit for bit:
python -m pytest tests/models/test_extend.py -q

A (decay points 6e3, 1.2e4) continued to 2.4e4 must equal the single run with decay points
(6e3, 1.2e4, 2.4e4) on every new step and in the final weights; a killed continuation resumes to
the same bytes; a source that does not fit is one ConfigError line naming the field.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from study_files import tiny_run
from t2.infra.config import ConfigError
from t2.infra.storage import is_done, mark_done, read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.run_log import EXIT_HOOK
from t2.models.train import train

pytestmark = pytest.mark.slow

# 1024-token batches. A: decay points at steps 6, 12 (branches leave at 5, 10): it keeps the
# trunk at step 10, reached after 11 executed steps (the 1-step branch of D=6e3 included).
# B = A continued to 2.4e4: decays at step 23 from 18, so it trains steps 11..23 only.
BASE = tiny_run("x", tokens=1.2e4, decay_at=[6e3])
D2 = 2.4e4
TRUNK_STEP = 10


def config(**sections) -> RunConfig:
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for section, fields in sections.items():
        data[section] = {**data.get(section, {}), **fields}
    return RunConfig.model_validate(data)


def continued(source: Path, **sections) -> RunConfig:
    train_fields = {"tokens": D2, "decay_at": [], "init_from": str(source)}
    return config(**{**sections, "train": train_fields | sections.get("train", {})})


def snapshot(directory: Path) -> dict:
    """Every file's bytes hash, mtime and mode: the source must stay exactly as it was."""
    return {p.relative_to(directory): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def rows(out: Path) -> dict:
    return {(r["step"], r["D"]): r["loss"] for r in read_jsonl(out / "metrics.jsonl")}


def weights(out: Path, D: float) -> bytes:
    return (out / "results" / f"D-{D:.4g}" / "hf" / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache):
    """Source A, its continuation B, and the uninterrupted reference with all three D."""
    root = tmp_path_factory.mktemp("runs")
    train(config(), root / "a", cache_dir=cache)
    before = snapshot(root / "a")
    train(continued(root / "a"), root / "b", cache_dir=cache)
    after = snapshot(root / "a")
    train(config(train={"tokens": D2, "decay_at": [6e3, 1.2e4]}), root / "ref", cache_dir=cache)
    return {"root": root, "a_before": before, "a_after": after}


def test_a_continued_run_equals_the_uninterrupted_run_bit_for_bit(runs, cache):
    root = runs["root"]
    b, ref = rows(root / "b"), rows(root / "ref")
    # B trains only the new steps: the trunk from the kept step on, then its decay branch
    assert sorted(b, key=lambda k: k[0]) == ([(s, None) for s in range(TRUNK_STEP + 1, 19)]
                                             + [(s, D2) for s in range(19, 24)])
    assert b == {k: ref[k] for k in b}  # identical losses, every new step
    assert weights(root / "b", D2) == weights(root / "ref", D2)  # identical final weights
    mine, theirs = (read_json(root / d / "results" / f"D-{D2:.4g}" / "train.json")
                    for d in ("b", "ref"))
    for key in ("val_loss", "final_train_loss", "D", "steps", "N"):
        assert mine[key] == theirs[key], key
    for key in ("batch_tokens", "micro_batch", "lr", "warmup_steps"):
        assert mine["hparams"][key] == theirs["hparams"][key], key
    assert mine["init_from"] == {"source": str((root / "a").resolve()),
                                 "trunk_step": TRUNK_STEP}
    info = read_json(root / "b" / "init.json")
    assert (info["trunk_step"], info["source_progress"], info["hardlinked"]) == (10, 11, True)
    assert [r["continues"] for r in read_jsonl(root / "b" / "resumes.jsonl")] == [
        info["checkpoint"]]
    # B keeps its own trunk (before its last decay) for a later continuation; A keeps its own
    assert [p.name for p in (root / "b" / "ckpt").iterdir()] == ["step-18"]
    assert [p.name for p in (root / "a" / "ckpt").iterdir()] == ["step-11"]
    assert is_done(root / "b", verify=True)
    # the source was only read: same bytes, mtimes and modes
    assert runs["a_after"] == runs["a_before"]
    # a finished continuation reruns as a no-op, the source not even read again
    marks = {p: p.stat().st_mtime_ns for p in (root / "b").rglob("*") if p.is_file()}
    train(continued(root / "a"), root / "b", cache_dir=cache)
    assert {p: p.stat().st_mtime_ns for p in (root / "b").rglob("*") if p.is_file()} == marks


def test_a_continuation_may_branch_right_where_the_kept_trunk_stops(runs, cache, tmp_path):
    # D=13 batches decays from step round(13 * 0.8) = 10, the kept trunk step itself: the linked
    # checkpoint is that branch point, and the trunk returns to it for D2.
    out = tmp_path / "b2"
    train(continued(runs["root"] / "a", train={"decay_at": [13 * 1024]}), out, cache_dir=cache)
    b2, b = rows(out), rows(runs["root"] / "b")
    assert [s for s, D in b2 if D == 13 * 1024] == [11, 12, 13]
    assert {k: v for k, v in b2.items() if k[1] != 13 * 1024} == b
    assert weights(out, D2) == weights(runs["root"] / "b", D2)
    assert [p.name for p in (out / "ckpt").iterdir()] == ["step-21"]  # D2's branch point


def _killed(cfg_file: Path, out: Path, cache: Path, exit_after: int) -> None:
    """A real `t2 train` process that dies (os._exit, no cleanup) after `exit_after` steps."""
    dist_vars = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    env = {k: v for k, v in os.environ.items() if k not in dist_vars} | {EXIT_HOOK: str(exit_after)}
    proc = subprocess.run([sys.executable, "-m", "t2.flows.cli", "train", str(cfg_file), "--out",
                           str(out), "--cache-dir", str(cache)],
                          check=False, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 17, proc.stderr[-3000:]
    assert not is_done(out)


def test_a_killed_continuation_resumes_to_the_same_bytes(runs, cache, tmp_path):
    root, out = runs["root"], tmp_path / "b"
    cfg = continued(root / "a")
    cfg_file = tmp_path / "b.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    _killed(cfg_file, out, cache, 11)  # one step past the linked trunk, no checkpoint of its own
    _killed(cfg_file, out, cache, 16)  # own checkpoint at 15
    train(cfg, out, cache_dir=cache)
    assert rows(out) == rows(root / "b")
    assert weights(out, D2) == weights(root / "b", D2)
    resumes = read_jsonl(out / "resumes.jsonl")
    assert [r["progress"] for r in resumes] == [10, 10, 15]
    assert ["continues" in r for r in resumes] == [True, True, False]
    assert snapshot(root / "a") == runs["a_before"]


@pytest.mark.parametrize("sections, field", [
    ({"model": {"seq_len": 32}}, "model.seq_len"),
    ({"model": {"depth": 2}}, "model.depth"),
    ({"data": {"tokenizer": "bpe"}}, "data.tokenizer"),
    ({"data": {"seed": 4}}, "data.seed"),
    ({"dist": {"num_workers": 2}}, "dist.num_workers"),
    ({"dist": {"zero_stage": 1}}, "dist.zero_stage"),
    ({"train": {"lr": 1e-3}}, "train.lr"),
    ({"train": {"batch_tokens": 2048}}, "train.batch_tokens"),
    # D=6e3 would decay from step 5, before the kept trunk (step 10): nobody kept that state
    ({"train": {"decay_at": [6e3]}}, "train.decay_at"),
    ({"train": {"init_from": "/nonexistent/run"}}, "train.init_from"),
])
def test_a_source_that_does_not_fit_is_one_line_naming_the_field(runs, cache, tmp_path,
                                                                   sections, field):
    with pytest.raises(ConfigError) as err:
        train(continued(runs["root"] / "a", **sections), tmp_path / "b", cache_dir=cache)
    assert str(err.value).startswith(f"{field}: ") and "\n" not in str(err.value)
    assert not (tmp_path / "b" / "ckpt").exists()  # nothing linked, nothing trained


def _copy_of_source(runs, tmp_path) -> tuple[Path, Path]:
    import shutil

    src = tmp_path / "a"
    shutil.copytree(runs["root"] / "a", src)
    return src, src / "ckpt" / "step-11"


def test_a_damaged_source_checkpoint_is_refused(runs, cache, tmp_path):
    src, ckpt = _copy_of_source(runs, tmp_path)
    state = ckpt / "mp_rank_00_model_states.pt"
    state.write_bytes(state.read_bytes()[:-100])  # truncated
    with pytest.raises(ConfigError, match=r"^train.init_from: .*fails its checksums"):
        train(continued(src), tmp_path / "b", cache_dir=cache)


def test_a_source_checkpoint_holding_pickled_code_is_refused_before_loading(runs, cache,
                                                                             tmp_path):
    src, ckpt = _copy_of_source(runs, tmp_path)
    # A file that would call a function when unpickled, with checksums that match it.
    torch.save({"module": print}, ckpt / "mp_rank_00_model_states.pt")
    mark_done(ckpt, read_json(ckpt / "_SUCCESS")["manifest"])
    with pytest.raises(ConfigError, match=r"^train.init_from: checkpoint file .*refused"):
        train(continued(src), tmp_path / "b", cache_dir=cache)
    assert not (tmp_path / "b" / "ckpt").exists()

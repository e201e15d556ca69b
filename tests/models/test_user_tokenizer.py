"""A user's own tokenizer: a local tokenizer.json (bare, or a transformers directory) tokenizes
the corpus, sets the vocabulary of the size ladder, and travels with the corpus; hub names
stay off unless asked for.

Run: .venv/bin/python -m pytest tests/models/test_user_tokenizer.py -q
"""

import json

import numpy as np
import pytest
from corpus_helpers import documents, write
from t2.infra.config import ConfigError, parse_config
from t2.models.config import DataSpec, RunConfig
from t2.models.corpus_build import read_split
from t2.models.data import prepare_corpus
from t2.models.ladder import params_for_depth
from t2.models.tokenizer import vocab_size

DOCS = documents(200, seed=4)


def wordpiece(path, eos="</s>"):
    """A WordPiece tokenizer (unlike t2's byte-level BPEs) saved as tokenizer.json."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[UNK]", "[PAD]", eos])
    tok.train_from_iterator(DOCS, trainer=trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return tok


@pytest.fixture
def files(tmp_path):
    return {"src": [str(write(tmp_path / "in", "jsonl", DOCS))]}


def test_a_local_tokenizer_json_tokenizes_the_corpus_and_sets_the_vocabulary(tmp_path, files,
                                                                          cache_dir):
    tok = wordpiece(tmp_path / "wp" / "tokenizer.json")
    spec = DataSpec(tokenizer=str(tmp_path / "wp" / "tokenizer.json"), files=files,
                    val_fraction=0.1)
    corpus = prepare_corpus(spec, cache_dir, use_ray=False)
    eos = tok.token_to_id("</s>")
    assert corpus.vocab_size == vocab_size(spec) == tok.get_vocab_size() > 259
    ids = read_split(corpus.path, "train")
    assert ids.dtype == np.uint16 and int(ids.max()) < corpus.vocab_size
    first = ids[: int(np.flatnonzero(ids == eos)[0])].tolist()
    assert any(first == tok.encode(d, add_special_tokens=False).ids for d in DOCS)
    # the corpus carries a transformers tokenizer with eos (and pad) set: what checkpoints export
    hf = corpus.tokenizer
    assert hf.eos_token == "</s>" and hf.eos_token_id == eos and hf.pad_token is not None
    assert hf.decode(first) == tok.decode(first)
    # the vocabulary flows into the ladder: N of a rung counts this tokenizer's embeddings
    assert params_for_depth(2, vocab_size(spec)) != params_for_depth(2, 259)


def test_a_tokenizer_directory_keeps_its_configured_eos(tmp_path, files, cache_dir):
    tok = wordpiece(tmp_path / "neox" / "tokenizer.json", eos="<|endoftext|>")
    (tmp_path / "neox" / "tokenizer_config.json").write_text(json.dumps(
        {"eos_token": "<|endoftext|>", "model_max_length": 2048}))
    spec = DataSpec(tokenizer=str(tmp_path / "neox"), files=files)
    corpus = prepare_corpus(spec, cache_dir, use_ray=False)
    assert corpus.meta["eos_id"] == tok.token_to_id("<|endoftext|>")
    assert corpus.tokenizer.eos_token == "<|endoftext|>"
    assert corpus.tokenizer.model_max_length == 2048


def test_a_tokenizer_without_an_end_of_document_token_asks_for_one(tmp_path, files, cache_dir):
    wordpiece(tmp_path / "wp" / "tokenizer.json", eos="[SEP]")
    path = str(tmp_path / "wp" / "tokenizer.json")
    with pytest.raises(ConfigError, match="no end-of-document token found .* set data.eos_token"):
        prepare_corpus(DataSpec(tokenizer=path, files=files), cache_dir, use_ray=False)
    corpus = prepare_corpus(DataSpec(tokenizer=path, files=files, eos_token="[SEP]"), cache_dir,
                            use_ray=False)
    assert corpus.tokenizer.eos_token == "[SEP]"
    with pytest.raises(ConfigError, match="data.eos_token: '<eot>' is not in the vocabulary"):
        prepare_corpus(DataSpec(tokenizer=path, files=files, eos_token="<eot>"), cache_dir)


def test_hub_names_are_refused_unless_allowed_and_then_fail_offline_in_one_line(files,
                                                                              cache_dir):
    base = {"name": "r", "model": {"depth": 1}, "train": {"tokens": 1e4}}
    with pytest.raises(ConfigError, match="data.tokenizer: 'hf:EleutherAI/gpt-neox-20b' is a "
                                          "hub name: set data.allow_hub: true"):
        parse_config({**base, "data": {"tokenizer": "hf:EleutherAI/gpt-neox-20b"}}, RunConfig)
    with pytest.raises(ConfigError, match="data.hf_dataset: 'hf:HuggingFaceFW/fineweb' is a"):
        parse_config({**base, "data": {"hf_dataset": {"web": "hf:HuggingFaceFW/fineweb"}}},
                     RunConfig)
    # allowed, but this test process is offline (HF_HUB_OFFLINE=1): one line, no traceback
    spec = DataSpec(tokenizer="hf:EleutherAI/gpt-neox-20b", allow_hub=True, files=files)
    with pytest.raises(ConfigError) as err:
        vocab_size(spec, cache_dir)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("data.tokenizer: hf:EleutherAI/gpt-neox-20b: cannot fetch")

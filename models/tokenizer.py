"""Tokenizers as plain ``tokenizer.json`` directories: byte-level, a byte-level BPE trained here,
or the user's own (a local ``tokenizer.json`` or its directory; opt-in: a hub repo).

    from t2.models.tokenizer import get_tokenizer, vocab_size
    tok = get_tokenizer("byte")                                   # 3 specials + 256 bytes = 259
    tok = get_tokenizer("bpe", texts=docs, vocab_size=4096)      # trained once, cached by content
    AutoTokenizer.from_pretrained(tokenizer_dir(tok))             # what the evaluation side does
    vocab_size(data_spec)                     # any data.tokenizer, for the size ladder

The user's own tokenizers are loaded and normalised by t2.models.user_tokenizer.

Both kinds are a ``tokenizers`` BPE over the GPT-2 byte alphabet with a ByteLevel pre-tokenizer
and decoder; the byte tokenizer simply has no merges. Ids 0, 1, 2 are the specials
``<|bos|>``, ``<|eos|>``, ``<|pad|>``; in the byte tokenizer byte b has id 3 + b. No special token
is added automatically on encode (pretraining joins documents with EOS itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from t2.models._cache import build_once, default_cache_dir

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
SPECIALS = [BOS, EOS, PAD]
FORMAT_VERSION = 1
BYTE_VOCAB_SIZE = len(SPECIALS) + 256


def byte_alphabet() -> list[str]:
    """The printable stand-in character of each byte 0..255 (the GPT-2 ByteLevel mapping)."""
    direct = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in direct:
            chars[b] = chr(b)
        else:  # unprintable bytes are shifted past 255 so every byte has a visible character
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _byte_level(tok):
    from tokenizers import decoders, pre_tokenizers

    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def _byte_tokenizer():
    from tokenizers import Tokenizer, models

    vocab = {s: i for i, s in enumerate(SPECIALS)}
    vocab.update({c: len(SPECIALS) + b for b, c in enumerate(byte_alphabet())})
    tok = _byte_level(Tokenizer(models.BPE(vocab=vocab, merges=[])))
    tok.add_special_tokens(SPECIALS)
    return tok


def _trained_bpe(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = _byte_level(Tokenizer(models.BPE()))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def _save(tok, out: Path) -> dict:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD)
    fast.save_pretrained(str(out))
    return {"vocab_size": len(fast)}


def texts_digest(texts: Iterable[str]) -> str:
    """SHA-256 over the documents, length-prefixed so document boundaries count."""
    h = hashlib.sha256()
    for t in texts:
        raw = t.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


def tokenizer_path(kind: str, *, texts: list[str] | None = None, vocab_size: int = 4096,
                   cache_dir: str | Path | None = None) -> Path:
    """The cached ``tokenizer.json`` directory of ``kind``, built on first use."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if kind == "byte":
        return build_once(cache / f"tokenizer-byte-v{FORMAT_VERSION}",
                          lambda out: _save(_byte_tokenizer(), out))
    if kind != "bpe":
        raise ValueError(f"data.tokenizer: expected 'byte' or 'bpe', got {kind!r}")
    if vocab_size < BYTE_VOCAB_SIZE:
        raise ValueError(f"data.bpe_vocab_size: must be >= {BYTE_VOCAB_SIZE}, got {vocab_size}")
    if not texts:
        raise ValueError("a BPE tokenizer needs texts to train on")
    texts = list(texts)
    key = hashlib.sha256(f"{texts_digest(texts)}:{vocab_size}:{FORMAT_VERSION}".encode())
    return build_once(cache / f"tokenizer-bpe{vocab_size}-{key.hexdigest()[:8]}",
                      lambda out: _save(_trained_bpe(texts, vocab_size), out))


def load_tokenizer(path: str | Path):
    """A saved tokenizer directory -> ``PreTrainedTokenizerFast`` (offline)."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
    tok.t2_path = str(path)  # where it came from, so callers can copy/save it
    return tok


def get_tokenizer(kind: str, *, texts: list[str] | None = None, vocab_size: int = 4096,
                  cache_dir: str | Path | None = None):
    """``"byte"`` or ``"bpe"`` -> ``transformers.PreTrainedTokenizerFast`` with bos/eos/pad set."""
    return load_tokenizer(tokenizer_path(kind, texts=texts, vocab_size=vocab_size,
                                         cache_dir=cache_dir))


def tokenizer_dir(tok) -> Path:
    """The cache directory a tokenizer from ``get_tokenizer`` was loaded from."""
    return Path(tok.t2_path)


def vocab_size(spec, cache_dir: str | Path | None = None) -> int:
    """The vocabulary a ``DataSpec`` trains with, for the size ladder and parameter counts.

    byte: 259; bpe: ``data.bpe_vocab_size`` (the trained one can come out smaller on little
    text); a user tokenizer: one past its largest id, added tokens included (loads the local
    file, or the hub copy: ConfigError when it cannot)."""
    if spec.tokenizer == "byte":
        return BYTE_VOCAB_SIZE
    if spec.tokenizer == "bpe":
        return spec.bpe_vocab_size
    from t2.models.user_tokenizer import user_tokenizer

    return user_tokenizer(spec, cache_dir).vocab_size


def planning_vocab_size(spec, cache_dir: str | Path | None = None) -> int:
    """``vocab_size``, or ``data.vocab_size`` for a user tokenizer whose file is not reachable
    here (a cluster study planned or simulated on a laptop); ConfigError when neither is known
    or the two disagree."""
    from t2.infra.config import ConfigError

    if spec.tokenizer in ("byte", "bpe"):
        return vocab_size(spec, cache_dir)
    try:
        found = vocab_size(spec, cache_dir)
    except ConfigError as err:
        if spec.vocab_size is None:
            raise ConfigError(f"{err}; or set data.vocab_size to plan without it") from None
        return spec.vocab_size
    if spec.vocab_size is not None and spec.vocab_size != found:
        raise ConfigError(f"data.vocab_size: {spec.vocab_size}, but {spec.tokenizer} has "
                          f"{found} tokens")
    return found

"""Pretraining data: a weighted mix of text sources, tokenized once into memory-mapped arrays.

    from t2.models.data import prepare_corpus
    corpus = prepare_corpus(cfg.data, cache_dir)        # built once, then read from cache
    x = corpus.batch(seed, step, rank, world_size, micro_batch, seq_len,
                     micro_step=m, grad_accum=a)        # LongTensor [micro_batch, seq_len + 1]
    inputs, labels = x[:, :-1], x[:, 1:]

Sources are ``fn(seed, num_chars) -> Iterator[str]`` (documents), found by name in the entry
point group ``t2.text_sources`` (third-party packages can add theirs) or registered in-process
with ``register_text_source``. A source is only imported when a mix uses it.

Build (``prepare_corpus``): the sources are interleaved lazily so that every prefix of the
stream holds each source's weight share of characters (see ``document_stream``); documents are
encoded in chunks (each followed by EOS) and appended to disk until ``corpus_tokens`` training
tokens plus a held-out validation tail are written, so memory stays bounded at any corpus size.
The validation tail is the next documents of the same stream (sources that repeat for lack of
text, i.e. the natural ones past ~5 MB each, can recur in it). A BPE is trained first on the
stream's first 5 MB (or 8 chars per corpus token if fewer).
Files: ``train.bin`` / ``val.bin`` (uint16 when the vocabulary fits, else uint32), ``meta.json``,
``tokenizer/``, then ``_SUCCESS``; cached as ``<cache>/corpus-<hash8 of the DataSpec>``. Two
processes building the same corpus at once take a file lock: one builds, the other waits.

That original single-stream format (FORMAT_VERSION 2) is kept, with the same hash over the
same five fields (``LEGACY_FIELDS``), for a mix of built-in sources only, a byte or BPE
tokenizer and the newer content fields (``eos_token``, ``val_fraction``) at their defaults.
Every other spec (user files, a ``datasets`` dataset, a user tokenizer, ...) is built into
the sharded format of t2.models.corpus_build (FORMAT_VERSION 3, tokenized on Ray Data at
scale); ``t2.models.corpus.Corpus`` reads both. ``max_epochs`` and ``allow_hub`` never change
what is built and are in neither hash.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
from t2.infra.config import ConfigError
from t2.infra.storage import hash8, write_json
from t2.models._cache import build_once, default_cache_dir
from t2.models.corpus import Corpus
from t2.models.tokenizer import BYTE_VOCAB_SIZE, SPECIALS, load_tokenizer, tokenizer_path

FORMAT_VERSION = 2
LEGACY_FIELDS = ("tokenizer", "bpe_vocab_size", "mix", "corpus_tokens", "seed")
# BPE is trained on a draw of this many chars (~1.5 s), or of 8 chars per corpus token if fewer
BPE_TRAIN_CHARS = 5_000_000
CHUNK_CHARS = 8_000_000  # text encoded per chunk: bounds memory for corpora of any size
MAX_CHARS_PER_TOKEN = 16  # bound on text drawn per token; BPE on English averages ~3-4

TextSource = Callable[[int, int], Iterator[str]]
_REGISTERED: dict[str, TextSource] = {}


def register_text_source(name: str, fn: TextSource) -> None:
    """Make ``fn(seed, num_chars) -> Iterator[str]`` available as mix entry ``name``."""
    _REGISTERED[name] = fn


def _lazy(ep) -> TextSource:
    def load_and_call(seed: int, num_chars: int) -> Iterator[str]:
        try:
            fn = ep.load()
        except (ImportError, AttributeError) as err:
            raise ValueError(f"data.mix: text source {ep.name!r} ({ep.value}) cannot be "
                             f"loaded: {err}") from None
        return fn(seed, num_chars)

    load_and_call.__name__ = f"text_source_{ep.name}"
    return load_and_call


def text_sources() -> dict[str, TextSource]:
    """Every known source by name: entry points first, in-process registrations override."""
    found = {ep.name: _lazy(ep) for ep in entry_points(group="t2.text_sources")}
    return {**found, **_REGISTERED}


def unique_documents(name: str) -> tuple[str, ...] | None:
    """The finite texts a built-in source repeats (``fn.unique_documents()``), if it says so."""
    fn = _REGISTERED.get(name)
    if fn is None:
        found = [ep for ep in entry_points(group="t2.text_sources") if ep.name == name]
        fn = found[0].load() if found else None
    texts = getattr(fn, "unique_documents", None)
    return tuple(texts()) if texts is not None else None


def val_tokens_for(corpus_tokens: int) -> int:
    """Held-out tokens: 1% of the corpus, at least 4096 and at most 2^20."""
    return int(min(max(4096, 0.01 * corpus_tokens), 2 ** 20))


def check_mix(mix: dict[str, float]) -> dict[str, TextSource]:
    """The built-in sources of ``mix``; ConfigError naming data.mix for an unknown name."""
    sources = text_sources()
    unknown = sorted(set(mix) - set(sources))
    if unknown:
        raise ConfigError(f"data.mix: unknown text source {unknown[0]!r} (known: "
                          f"{', '.join(sorted(sources))}, or a data.files / data.hf_dataset "
                          f"name)")
    return {name: sources[name] for name in mix}


def document_stream(mix: dict[str, float], seed: int, num_chars: int) -> Iterator[str]:
    """Documents of the mix, up to ~``num_chars`` in all, each source its weight's share.

    Lazy: the next document always comes from the source furthest behind its share (chars
    produced / weight, ties by name), so every prefix of the stream has the mix's proportions
    and a corpus of any size is built in bounded memory. Within a source, order is the source's
    own seeded shuffle (seed = hash of (data.seed, name)).
    """
    sources = check_mix(mix)
    total = sum(mix.values())
    names = sorted(mix)
    streams = {n: iter(sources[n](int(hash8(seed, n), 16), math.ceil(num_chars * mix[n] / total)))
               for n in names}
    produced = dict.fromkeys(names, 0)
    while streams:
        name = min(streams, key=lambda n: (produced[n] / mix[n], n))
        doc = next(streams[name], None)
        if doc is None:  # this source has given its share
            del streams[name]
            continue
        produced[name] += max(len(doc), 1)
        if doc:
            yield doc


def draw_documents(mix: dict[str, float], seed: int, num_chars: int) -> list[str]:
    """The first ~``num_chars`` characters of ``document_stream``, as a list."""
    return list(document_stream(mix, seed, num_chars))


class _Encoder:
    """Documents -> token ids with EOS after each; repeated documents are encoded once."""

    CACHE_CHARS = 50_000_000  # natural sources repeat per epoch; synthetic text rarely does

    def __init__(self, backend, eos_id: int):
        self.backend, self.eos_id = backend, eos_id
        self.cache: dict[str, np.ndarray] = {}
        self.cached_chars = 0

    def __call__(self, docs: list[str]) -> np.ndarray:
        if self.backend is None:
            # The byte tokenizer maps byte b to id 3 + b; 0xFF never occurs in UTF-8, so it
            # stands for the EOS between documents and a whole chunk is converted at once.
            raw = b"\xff".join(d.encode("utf-8") for d in docs) + b"\xff"
            ids = np.frombuffer(raw, np.uint8).astype(np.int64) + 3
            ids[ids == 0xFF + 3] = self.eos_id
            return ids
        new = [d for d in dict.fromkeys(docs) if d not in self.cache]
        fresh = {d: np.array([*e.ids, self.eos_id], np.int64)
                 for d, e in zip(new, self.backend.encode_batch_fast(new,
                                                                     add_special_tokens=False))}
        for d, ids in fresh.items():
            if self.cached_chars < self.CACHE_CHARS:
                self.cache[d] = ids
                self.cached_chars += len(d)
        return np.concatenate([fresh[d] if d in fresh else self.cache[d] for d in docs])


def _encode(docs: list[str], backend, eos_id: int) -> np.ndarray:
    """Token ids of the documents, each followed by EOS (one int64 array)."""
    return _Encoder(backend, eos_id)(docs)


def _chunks(docs: Iterator[str], chunk_chars: int) -> Iterator[list[str]]:
    chunk, n = [], 0
    for d in docs:
        chunk.append(d)
        n += len(d)
        if n >= chunk_chars:
            yield chunk
            chunk, n = [], 0
    if chunk:
        yield chunk


def _write_stream(spec, backend, eos_id: int, need: int, out: Path, dtype) -> dict:
    """Encode the mix chunk by chunk into train.bin/val.bin until ``need`` tokens are written."""
    encode = _Encoder(backend, eos_id)
    # An upper bound on the text needed (a token is at least one char, except byte-level
    # tokens of multi-byte chars, where `need` chars give even more tokens).
    stream = document_stream(spec.mix, spec.seed, MAX_CHARS_PER_TOKEN * need)
    num_train, written, num_docs, num_chars = int(spec.corpus_tokens), 0, 0, 0
    with open(out / "train.bin", "wb") as train, open(out / "val.bin", "wb") as val:
        # ~4 chars per token covers English BPE in one chunk without encoding much extra text
        for chunk in _chunks(stream, min(CHUNK_CHARS, 4 * need)):
            ids = encode(chunk)[: need - written].astype(dtype)
            cut = max(0, min(len(ids), num_train - written))
            train.write(ids[:cut].tobytes())
            val.write(ids[cut:].tobytes())
            written += len(ids)
            num_docs += int((ids == eos_id).sum())
            num_chars += sum(map(len, chunk))
            if written >= need:
                break
    if written < need:
        raise ValueError(f"data.mix: the sources ran dry after {written} of {need} tokens")
    # num_documents: complete documents in the corpus; num_chars_drawn: text encoded to get them
    return {"num_documents": num_docs, "num_chars_drawn": num_chars}


def bpe_tokenizer(spec, cache: Path) -> Path:
    """Train (or reuse) the corpus BPE on the first characters of the document stream."""
    need = int(spec.corpus_tokens) + val_tokens_for(int(spec.corpus_tokens))
    docs = draw_documents(spec.mix, spec.seed, min(BPE_TRAIN_CHARS, 8 * need))
    return tokenizer_path("bpe", texts=docs, vocab_size=spec.bpe_vocab_size, cache_dir=cache)


def legacy_dump(spec) -> dict:
    """The fields the original corpus format is hashed over (its ``model_dump`` back then)."""
    return spec.model_dump(include=set(LEGACY_FIELDS))


def is_legacy(spec) -> bool:
    """Whether ``spec`` is built in the original single-stream format (see module doc)."""
    defaults = type(spec).model_fields
    return (spec.tokenizer in ("byte", "bpe") and not spec.files and not spec.hf_dataset
            and all(getattr(spec, f) == defaults[f].default for f in ("eos_token",
                                                                       "val_fraction")))


def _build(spec, cache: Path, out: Path) -> dict:
    num_train = int(spec.corpus_tokens)
    need = num_train + val_tokens_for(num_train)
    if spec.tokenizer == "byte":
        tok_dir, backend = tokenizer_path("byte", cache_dir=cache), None
        vocab_size = BYTE_VOCAB_SIZE
    else:
        tok_dir = bpe_tokenizer(spec, cache)
        backend = load_tokenizer(tok_dir).backend_tokenizer
        vocab_size = backend.get_vocab_size()
    dtype = np.uint16 if vocab_size <= 2 ** 16 else np.uint32
    counts = _write_stream(spec, backend, SPECIALS.index("<|eos|>"), need, out, dtype)
    shutil.copytree(tok_dir, out / "tokenizer", ignore=shutil.ignore_patterns("_SUCCESS", ".*"))
    meta = {"num_tokens": num_train, "num_val_tokens": need - num_train, "vocab_size": vocab_size,
            "dtype": np.dtype(dtype).name, **counts, "spec": legacy_dump(spec),
            "format": FORMAT_VERSION}
    write_json(out / "meta.json", meta)
    return {"spec": legacy_dump(spec)}


def cache_path(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def corpus_dir(spec, cache_dir: str | Path | None = None) -> Path:
    """Where the corpus of ``spec`` is cached (a sharded spec's files must be readable)."""
    cache = cache_path(cache_dir)
    if is_legacy(spec):
        return cache / f"corpus-{hash8('corpus', FORMAT_VERSION, legacy_dump(spec))}"
    from t2.models.corpus_build import sharded_dir

    return sharded_dir(spec, cache)


def check_data(spec, cache_dir: str | Path | None = None) -> None:
    """Cheap checks before any compute (for ``t2 validate`` / ``plan`` / ``run``): every mix
    name is a source, every glob matches files of a known type, every saved dataset is
    readable as such, a user tokenizer loads. ConfigError (one line naming the field or file)
    otherwise. File contents are only read when the corpus is built."""
    cache = cache_path(cache_dir)
    if is_legacy(spec):
        check_mix(spec.mix)
        return
    from t2.models.corpus_build import source_inputs
    from t2.models.tokenizer import vocab_size

    inputs = source_inputs(spec, cache)
    check_mix({n: w for n, w in spec.mix.items() if inputs[n] is None})
    vocab_size(spec, cache)


def prepare_corpus(spec, cache_dir: str | Path | None = None, *, use_ray: bool | None = None,
                   ray_address: str | None = None) -> Corpus:
    """Build (once, under a lock) or open the corpus of a ``DataSpec``.

    A sharded corpus is tokenized on Ray Data when Ray is running, ``ray_address`` is given
    or the input is large, else in this process (``use_ray`` forces either); ConfigError
    (one line naming the file, line or field) on bad input, with nothing published."""
    if is_legacy(spec):
        final = corpus_dir(spec, cache_dir)
        check_mix(spec.mix)
        build_once(final, lambda out: _build(spec, final.parent, out))
        return Corpus(final)
    from t2.models.corpus_build import build_sharded

    final = corpus_dir(spec, cache_dir)
    return Corpus(build_sharded(spec, final.parent, final, use_ray=use_ray,
                                ray_address=ray_address))


def main(argv: list[str]) -> int:
    """``python -m t2.models.data [TOKENS] [byte|bpe] [CACHE_DIR]``: build a default-mix corpus."""
    import time

    from t2.models.config import DataSpec

    tokens = float(argv[0]) if argv else 2e7
    kind = argv[1] if len(argv) > 1 else "byte"
    start = time.perf_counter()
    corpus = prepare_corpus(DataSpec(tokenizer=kind, corpus_tokens=tokens),
                            argv[2] if len(argv) > 2 else None)
    print(f"{corpus}: ready in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

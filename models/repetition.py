"""Repetition accounting: unique tokens per source, epochs per run, the ``data.max_epochs`` check.

    from t2.models.repetition import check_epochs, epochs_for, repetition, token_limit
    rep = repetition(spec, cache_dir)             # exact once the corpus is built, else estimated
    rep.summary(2e9)                              # {"epochs": 1.3, "epochs_by_source": ..., ...}
    check_epochs(spec, [("run-a", 2e9)], cache_dir)   # ConfigError naming a run over the limit
    token_limit(spec, cache_dir)                  # the largest D that stays within max_epochs

A run of D training tokens draws a share w_s (its mix weight) from source s, whose train split
holds U_s unique tokens, so it sees that source D * w_s / U_s times: its epochs on s. A run's
``epochs`` is the largest over its sources. Repeating data up to about 4 epochs costs little,
beyond that the value of repeated tokens decays quickly (Muennighoff et al. 2023, "Scaling
Data-Constrained Language Models", arXiv 2305.16264): ``data.max_epochs`` (default 4) refuses
runs beyond it, since the losses the laws are fitted to would be those of repeated data.

Unique tokens: a sharded corpus records them per source (distinct documents for built-in
sources, all train tokens for files); an original-format corpus counts its distinct documents
once (one source, "corpus"). Before a corpus is built they are estimated: text bytes of the
files (sizes, parquet/arrow column sizes, a sample's text share and compression ratio) times
the tokens per byte the tokenizer gives a sample of each source; a built-in source holds its
weight's share of ``data.corpus_tokens``, capped by the texts it repeats if it says which
(``fn.unique_documents()``: Shakespeare, the KJV).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from t2.infra.config import ConfigError
from t2.infra.storage import is_done

SAMPLE_BYTES = 256 << 10  # text sampled per source to measure tokens per byte
CITATION = "Muennighoff et al. 2023, arXiv 2305.16264"


@dataclass(frozen=True)
class Repetition:
    """Unique train tokens and training-token share of each source of one corpus."""

    unique: dict[str, float]
    weights: dict[str, float]
    exact: bool

    def epochs_by_source(self, tokens: float) -> dict[str, float]:
        return {s: tokens * self.weights[s] / max(self.unique[s], 1) for s in self.unique}

    def epochs(self, tokens: float) -> float:
        """Epochs of the most repeated source for a run of ``tokens`` training tokens."""
        return max(self.epochs_by_source(tokens).values())

    def limit(self, max_epochs: float) -> float:
        """The most training tokens that repeat no source more than ``max_epochs`` times."""
        return min(max_epochs * self.unique[s] / self.weights[s] for s in self.unique)

    def summary(self, tokens: float) -> dict:
        """What train.json, MLflow and the report record for a run of ``tokens`` tokens."""
        by_source = self.epochs_by_source(tokens)
        worst = max(by_source, key=by_source.get)
        return {"unique_tokens": int(sum(self.unique.values())),
                "unique_tokens_by_source": {s: int(u) for s, u in self.unique.items()},
                "tokens_consumed": int(tokens), "epochs": by_source[worst],
                "epochs_by_source": by_source, "most_repeated": worst, "exact": self.exact}


# ---- estimates before the corpus exists -----------------------------------------------------
def _tokens_per_byte(docs: list[tuple[str, bytes]], tok) -> float:
    from t2.models.tokenize_shards import encode

    size = sum(len(r) for _, r in docs)
    if not size:
        return 1.0
    ctx = {"dtype": "uint32", "eos_id": tok.eos_id,
           "tokenizer": "byte" if tok.kind == "byte" else tok.json()}
    ids, _ = encode([r for _, r in docs], [t for t, _ in docs], ctx)
    return len(ids) / size


def _take(docs, limit: int) -> list[tuple[str, bytes]]:
    out, size = [], 0
    for doc in docs:
        out.append(doc)
        size += len(doc[1])
        if size >= limit:
            break
    return out


def _file_source(plans: list[dict], tok) -> float:
    """Estimated tokens of one file source (all its shards, train and val): per file format,
    the first shard's sample gives the text share of the input and the tokens per byte."""
    from t2.models.corpus_files import read_documents

    tokens = 0.0
    for fmt in sorted({p["format"] for p in plans}):
        group = [p for p in plans if p["format"] == fmt]
        counter: list = []
        sample = _take(read_documents(group[0], counter), SAMPLE_BYTES)
        text_share = 1.0
        if fmt.startswith("jsonl") and counter and counter[0].pos:
            text_share = sum(len(r) for _, r in sample) / counter[0].pos
        tokens += sum(p["est_bytes"] for p in group) * text_share * _tokens_per_byte(sample, tok)
    return tokens


def _builtin_source(name: str, share: float, tok, seed: int) -> float:
    """Estimated unique tokens of a built-in source asked for ``share`` tokens."""
    from t2.models.data import text_sources, unique_documents

    texts = unique_documents(name)
    if texts is None:
        sample = _take(((t, t.encode()) for t in text_sources()[name](seed, SAMPLE_BYTES)),
                       SAMPLE_BYTES)
        return share if sample else 0.0
    docs = [(t, t.encode()) for t in texts]
    natural = sum(len(r) for _, r in docs) * _tokens_per_byte(_take(docs, SAMPLE_BYTES), tok)
    return min(share, natural)


def _estimate_legacy(spec, cache: Path) -> Repetition:
    from t2.models.data import bpe_tokenizer, check_mix
    from t2.models.tokenizer import load_tokenizer
    from t2.models.user_tokenizer import TokenizerInfo, resolve_tokenizer

    check_mix(spec.mix)
    if spec.tokenizer == "bpe":
        path = bpe_tokenizer(spec, cache)
        tok = TokenizerInfo("bpe", path, 1, len(load_tokenizer(path)), path.name)
    else:
        tok = resolve_tokenizer(spec, cache)
    total = sum(spec.mix.values())
    unique = sum(_builtin_source(n, spec.corpus_tokens * w / total, tok, spec.seed)
                 for n, w in spec.mix.items())
    return Repetition({"corpus": unique}, {"corpus": 1.0}, exact=False)


def _estimate_sharded(spec, cache: Path) -> Repetition:
    from t2.models.corpus_build import bpe_texts, plan_shards, source_inputs
    from t2.models.user_tokenizer import resolve_tokenizer

    plans, builtin = plan_shards(spec, source_inputs(spec, cache))
    tok = resolve_tokenizer(spec, cache, bpe_texts=lambda: bpe_texts(spec, plans, builtin))
    total, unique = sum(spec.mix.values()), {}
    for name in sorted(spec.mix):
        mine = [p for p in plans if p["source"] == name]
        if mine[0]["format"] == "builtin":
            unique[name] = _builtin_source(name, mine[0]["num_tokens"], tok, mine[0]["seed"])
        else:
            unique[name] = _file_source(mine, tok) * (1 - spec.val_fraction)
    return Repetition(unique, {n: w / total for n, w in spec.mix.items()}, exact=False)


# ---- the public functions -------------------------------------------------------------------
def repetition(spec, cache_dir: str | Path | None = None) -> Repetition:
    """Unique tokens of ``spec``'s corpus: exact when it is built in ``cache_dir``, else
    estimated (ConfigError naming the file when the data cannot be read)."""
    from t2.models.corpus import Corpus
    from t2.models.data import cache_path, corpus_dir, is_legacy

    cache = cache_path(cache_dir)
    path = corpus_dir(spec, cache)
    if is_done(path):
        corpus = Corpus(path)
        return Repetition({k: float(v) for k, v in corpus.unique_tokens().items()},
                          {s.name: s.weight for s in corpus.sources}, exact=True)
    return _estimate_legacy(spec, cache) if is_legacy(spec) else _estimate_sharded(spec, cache)


def epochs_for(spec, tokens: float, cache_dir: str | Path | None = None) -> float:
    """Epochs of the most repeated source for a run of ``tokens`` training tokens."""
    return repetition(spec, cache_dir).epochs(tokens)


def token_limit(spec, cache_dir: str | Path | None = None) -> float:
    """The largest D (training tokens) within ``data.max_epochs`` of every source."""
    return repetition(spec, cache_dir).limit(spec.max_epochs)


def check_epochs(spec, runs, cache_dir: str | Path | None = None) -> Repetition:
    """Refuse the first run of ``runs`` ((name, D) pairs) that would exceed
    ``data.max_epochs``: ConfigError of one line naming it. Returns the figures used."""
    rep = repetition(spec, cache_dir)
    for name, tokens in runs:
        by_source = rep.epochs_by_source(float(tokens))
        worst = max(by_source, key=by_source.get)
        if by_source[worst] > spec.max_epochs:
            about = "" if rep.exact else "about "
            of = "the corpus" if worst == "corpus" else f"source {worst!r}"
            raise ConfigError(
                f"run {name}: D={float(tokens):.3g} tokens would repeat {of} {about}"
                f"{by_source[worst]:.1f} times ({about}{rep.unique[worst]:.3g} unique tokens, "
                f"weight {rep.weights[worst]:.2g}); data.max_epochs is {spec.max_epochs:g} "
                f"({CITATION}): add data, lower D, or raise data.max_epochs")
    return rep

"""A finished, memory-mapped token corpus and its deterministic batches (built by t2.models.data).

    corpus = prepare_corpus(spec, cache_dir)            # t2.models.data
    x = corpus.batch(seed, step, rank, world_size, micro_batch, seq_len, micro_step=m,
                     grad_accum=a)                       # LongTensor [micro_batch, seq_len + 1]
    for v in corpus.val_batches(num=4, micro_batch=8, seq_len=256): ...
    corpus.repetition(tokens=2e9)                        # unique tokens, epochs per source

Both formats are read as sources (the original format: one, the whole stream) of shards (the
original format: one, ``train.bin``), each source with its mix weight. Sampling: a shard's train
tokens are cut into windows of ``seq_len + 1`` starting at ``offset + i * seq_len`` (windows
never cross shards). At each optimizer step a counter-based RNG (numpy Philox keyed by
(seed, step)) picks one offset in [0, seq_len); the global batch's ``world_size * grad_accum *
micro_batch`` windows are split between sources by a multinomial draw with the mix weights
(one source: all of them), each source's share are distinct windows of its shards, and a
permutation mixes the sources within the batch; rank r, micro-step m takes its own slice. So a
batch is a pure function of its arguments (resume needs no data-loader state), ranks never
share a sample within a step, and with one source and one shard this is exactly the original
sampler. Validation: fixed consecutive windows of each source's held-out tokens, the sources
in proportion to their weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from t2.infra.storage import atomic_write, is_done, read_json


@dataclass
class Source:
    """One mix source of a corpus: its weight, train and val shards (path, tokens)."""

    name: str
    weight: float
    unique_tokens: int | None
    train: list[tuple[Path, int]] = field(default_factory=list)
    val: list[tuple[Path, int]] = field(default_factory=list)


def _sources(path: Path, meta: dict) -> list[Source]:
    if not (path / "index.json").is_file():  # the original format: one stream, one shard
        return [Source("corpus", 1.0, None, [(path / "train.bin", meta["num_tokens"])],
                       [(path / "val.bin", meta["num_val_tokens"])])]
    sources = {n: Source(n, s["weight"], s["unique_tokens"]) for n, s in meta["sources"].items()}
    for shard in read_json(path / "index.json")["shards"]:
        src = sources[shard["source"]]
        src.train.append((path / shard["train"], shard["num_tokens"]))
        src.val.append((path / shard["val"], shard["num_val_tokens"]))
    return [sources[n] for n in sorted(sources)]


class Corpus:
    """Token shards of one corpus directory, grouped by source, plus its tokenizer."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not is_done(self.path):
            raise ValueError(f"{self.path}: not a finished corpus (no _SUCCESS)")
        self.meta = read_json(self.path / "meta.json")
        self.dtype = np.dtype(self.meta["dtype"])
        self.sources = _sources(self.path, self.meta)
        self.vocab_size: int = self.meta["vocab_size"]
        self.num_tokens: int = sum(n for s in self.sources for _, n in s.train)
        self.num_val_tokens: int = sum(n for s in self.sources for _, n in s.val)
        self.tokenizer_dir = self.path / "tokenizer"
        self.sharded = (self.path / "index.json").is_file()
        if not self.sharded:  # the original format's arrays, as before
            self.train = self._array(*self.sources[0].train[0])
            self.val = self._array(*self.sources[0].val[0])

    @cached_property
    def tokenizer(self):
        """The corpus tokenizer, a ``transformers.PreTrainedTokenizerFast``."""
        from t2.models.tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer_dir)

    def __repr__(self) -> str:
        return (f"Corpus({self.path}, {self.num_tokens} tokens, {len(self.sources)} "
                f"source(s), vocab {self.vocab_size})")

    @lru_cache(maxsize=256)  # noqa: B019  (bounded: at most 256 open shard maps)
    def _array(self, path: Path, num: int) -> np.ndarray:
        if num == 0:
            return np.empty(0, self.dtype)
        return np.memmap(path, dtype=self.dtype, mode="r", shape=(num,))

    # ---- training windows --------------------------------------------------------------------
    @lru_cache(maxsize=8)  # noqa: B019
    def _window_table(self, seq_len: int) -> tuple:
        """Per source: cumulative windows per train shard (first entry 0)."""
        return tuple(np.concatenate([[0], np.cumsum([max(n // seq_len - 1, 0)
                                                     for _, n in s.train])]).astype(np.int64)
                     for s in self.sources)

    def _too_few(self, src: Source, have: int, need: int, seq_len: int) -> ValueError:
        if not self.sharded:
            return ValueError(f"data.corpus_tokens: {self.num_tokens} tokens hold only "
                              f"{max(have, 0)} windows of {seq_len}, a step needs {need}")
        return ValueError(f"data.mix: source {src.name!r} holds only {have} windows of "
                          f"{seq_len} tokens, a step drew {need} from it")

    def windows(self, seed: int, step: int, num_windows: int, seq_len: int):
        """(source, shard, start) arrays of the ``num_windows`` windows of one step (pure)."""
        table = self._window_table(seq_len)
        rng = np.random.Generator(np.random.Philox(key=np.array([seed, step], dtype=np.uint64)))
        offset = int(rng.integers(seq_len))
        if len(self.sources) == 1:
            counts = [num_windows]
        else:
            weights = np.array([s.weight for s in self.sources])
            counts = rng.multinomial(num_windows, weights / weights.sum()).tolist()
        src_ids, picks = [], []
        for i, (src, count) in enumerate(zip(self.sources, counts)):
            have = int(table[i][-1])
            if count > have:
                raise self._too_few(src, have, count, seq_len)
            picks.append(rng.choice(have, size=count, replace=False).astype(np.int64))
            src_ids.append(np.full(count, i, np.int64))
        src_ids, picks = np.concatenate(src_ids), np.concatenate(picks)
        if len(self.sources) > 1:
            order = rng.permutation(num_windows)
            src_ids, picks = src_ids[order], picks[order]
        shards = np.empty_like(picks)
        starts = np.empty_like(picks)
        for i in np.unique(src_ids):
            mask = src_ids == i
            shard = np.searchsorted(table[i], picks[mask], side="right") - 1
            shards[mask] = shard
            starts[mask] = offset + (picks[mask] - table[i][shard]) * seq_len
        return src_ids, shards, starts

    def window_starts(self, seed: int, step: int, num_windows: int, seq_len: int) -> np.ndarray:
        """Start positions of one step's windows in a one-source, one-shard corpus (pure)."""
        assert len(self.sources) == 1 and len(self.sources[0].train) == 1
        return self.windows(seed, step, num_windows, seq_len)[2]

    def _rows(self, src_ids, shards, starts, seq_len: int) -> np.ndarray:
        width = np.arange(seq_len + 1)
        out = np.empty((len(starts), seq_len + 1), self.dtype)
        for key in {(int(a), int(b)) for a, b in zip(src_ids, shards)}:
            mask = (src_ids == key[0]) & (shards == key[1])
            arr = self._array(*self.sources[key[0]].train[key[1]])
            out[mask] = arr[starts[mask][:, None] + width]
        return out

    def batch(self, seed: int, step: int, rank: int, world_size: int, micro_batch: int,
              seq_len: int, *, micro_step: int = 0, grad_accum: int = 1):
        """Rows of ``seq_len + 1`` tokens for (rank, micro_step) of optimizer step ``step``.

        Pure in its arguments. All ranks and micro-steps of one step get distinct windows.
        """
        import torch

        if not (0 <= rank < world_size and 0 <= micro_step < grad_accum):
            raise ValueError(f"need 0 <= rank < world_size and 0 <= micro_step < grad_accum, "
                             f"got rank={rank}, world_size={world_size}, "
                             f"micro_step={micro_step}, grad_accum={grad_accum}")
        if step < 0 or seed < 0 or micro_batch < 1 or seq_len < 1:
            raise ValueError("step and seed must be >= 0, micro_batch and seq_len >= 1")
        src_ids, shards, starts = self.windows(seed, step, world_size * grad_accum * micro_batch,
                                               seq_len)
        first = (rank * grad_accum + micro_step) * micro_batch
        mine = slice(first, first + micro_batch)
        rows = self._rows(src_ids[mine], shards[mine], starts[mine], seq_len)
        return torch.from_numpy(rows.astype(np.int64))

    # ---- validation --------------------------------------------------------------------------
    def _val_rows(self, src: Source, num: int, seq_len: int) -> np.ndarray:
        """``num`` consecutive windows of a source's held-out tokens (reused cyclically)."""
        spots = [(p, n, k) for p, n in src.val for k in range(max((n - 1) // seq_len, 0))]
        if not spots:
            return np.empty((0, seq_len + 1), self.dtype)
        rows = [self._array(p, n)[k * seq_len:k * seq_len + seq_len + 1]
                for p, n, k in (spots[i % len(spots)] for i in range(num))]
        return np.stack(rows)

    def _val_shares(self, total: int, seq_len: int) -> list[int]:
        """Windows per source: largest-remainder shares of the weights, among sources that
        hold at least one validation window."""
        usable = [s.weight if any((n - 1) // seq_len > 0 for _, n in s.val) else 0.0
                  for s in self.sources]
        if not sum(usable):
            raise ValueError(f"validation slice ({self.num_val_tokens} tokens) is shorter "
                             f"than one window of {seq_len + 1}")
        exact = np.array(usable) / sum(usable) * total
        counts = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
            counts[i] += 1
        return counts.tolist()

    def val_batches(self, num: int, micro_batch: int, seq_len: int) -> list:
        """``num`` fixed validation batches of consecutive windows from the held-out tokens.

        If they hold fewer than ``num * micro_batch`` windows they are reused cyclically.
        """
        import torch

        total = num * micro_batch
        counts = self._val_shares(total, seq_len)
        rows = np.concatenate([self._val_rows(s, c, seq_len)
                               for s, c in zip(self.sources, counts) if c])
        return list(torch.from_numpy(rows.astype(np.int64)).split(micro_batch))

    # ---- repetition --------------------------------------------------------------------------
    def unique_tokens(self) -> dict[str, int]:
        """Unique train tokens per source (see t2.models.repetition)."""
        if self.sharded:
            return {s.name: int(s.unique_tokens) for s in self.sources}
        return {"corpus": _stream_unique(self.path, self.train,
                                         int(self.tokenizer.eos_token_id))}

    def repetition(self, tokens: float) -> dict:
        """How often a run that consumes ``tokens`` training tokens repeats each source."""
        from t2.models.repetition import Repetition

        weights = {s.name: s.weight for s in self.sources}
        return Repetition(self.unique_tokens(), weights, exact=True).summary(tokens)


def _stream_unique(path: Path, train: np.ndarray, eos_id: int) -> int:
    """Train tokens of distinct documents (EOS-delimited) in an original-format corpus,
    computed once and kept in ``unique.json`` beside it (not part of what _SUCCESS vouches)."""
    import hashlib
    import json

    cache = path / "unique.json"
    if cache.is_file():
        return int(read_json(cache)["unique_tokens"])
    arr = np.asarray(train)
    ends = np.flatnonzero(arr == eos_id)
    bounds = np.concatenate([[0], ends + 1, [len(arr)]])
    seen, unique = set(), 0
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if b > a:
            digest = hashlib.blake2b(arr[a:b].tobytes(), digest_size=16).digest()
            if digest not in seen:
                seen.add(digest)
                unique += b - a
    atomic_write(cache, json.dumps({"unique_tokens": unique}) + "\n")
    return unique

"""A finished, memory-mapped token corpus and its deterministic batches (built by t2.models.data).

    corpus = prepare_corpus(spec, cache_dir)            # t2.models.data
    x = corpus.batch(seed, step, rank, world_size, micro_batch, seq_len, micro_step=m,
                     grad_accum=a)                       # LongTensor [micro_batch, seq_len + 1]
    for v in corpus.val_batches(num=4, micro_batch=8, seq_len=256): ...

Sampling: the training stream is cut into windows of ``seq_len + 1`` tokens starting at
``offset + i * seq_len``. At each optimizer step, a counter-based RNG (numpy Philox keyed by
(seed, step)) picks one offset in [0, seq_len) and ``world_size * grad_accum * micro_batch``
distinct window indices for the whole global batch; rank r, micro-step m takes its own slice.
So a batch is a pure function of its arguments (resume needs no data-loader state), and
ranks never share a sample within a step (consecutive windows share only the boundary token,
an input of one being the last label of the other).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
from t2.infra.storage import is_done, read_json


class Corpus:
    """Token arrays (``train``, ``val``) of one corpus directory plus its tokenizer."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not is_done(self.path):
            raise ValueError(f"{self.path}: not a finished corpus (no _SUCCESS)")
        self.meta = read_json(self.path / "meta.json")
        dtype = np.dtype(self.meta["dtype"])
        self.train = np.memmap(self.path / "train.bin", dtype=dtype, mode="r")
        self.val = np.memmap(self.path / "val.bin", dtype=dtype, mode="r")
        self.vocab_size: int = self.meta["vocab_size"]
        self.num_tokens: int = len(self.train)
        self.num_val_tokens: int = len(self.val)
        self.tokenizer_dir = self.path / "tokenizer"

    @cached_property
    def tokenizer(self):
        """The corpus tokenizer, a ``transformers.PreTrainedTokenizerFast``."""
        from t2.models.tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer_dir)

    def __repr__(self) -> str:
        return f"Corpus({self.path}, {self.num_tokens} tokens, vocab {self.vocab_size})"

    def window_starts(self, seed: int, step: int, num_windows: int, seq_len: int) -> np.ndarray:
        """Start positions of the ``num_windows`` windows of one global step (pure)."""
        max_windows = self.num_tokens // seq_len - 1
        if num_windows > max_windows:
            raise ValueError(f"data.corpus_tokens: {self.num_tokens} tokens hold only "
                             f"{max(max_windows, 0)} windows of {seq_len}, a step needs "
                             f"{num_windows}")
        key = np.array([seed, step], dtype=np.uint64)
        rng = np.random.Generator(np.random.Philox(key=key))
        offset = int(rng.integers(seq_len))
        picks = rng.choice(max_windows, size=num_windows, replace=False)
        return offset + picks.astype(np.int64) * seq_len

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
        starts = self.window_starts(seed, step, world_size * grad_accum * micro_batch, seq_len)
        first = (rank * grad_accum + micro_step) * micro_batch
        mine = starts[first:first + micro_batch]
        rows = self.train[mine[:, None] + np.arange(seq_len + 1)]
        return torch.from_numpy(rows.astype(np.int64))

    def val_batches(self, num: int, micro_batch: int, seq_len: int) -> list:
        """``num`` fixed validation batches of consecutive windows from the held-out tail.

        If the tail holds fewer than ``num * micro_batch`` windows they are reused cyclically.
        """
        import torch

        num_windows = (self.num_val_tokens - 1) // seq_len
        if num_windows < 1:
            raise ValueError(f"validation slice ({self.num_val_tokens} tokens) is shorter "
                             f"than one window of {seq_len + 1}")
        idx = np.arange(num * micro_batch) % num_windows
        rows = self.val[(idx * seq_len)[:, None] + np.arange(seq_len + 1)]
        rows = torch.from_numpy(rows.astype(np.int64))
        return list(rows.split(micro_batch))

"""Post-training data: examples -> token ids with a loss mask -> deterministic batches.

    from t2.models.posttrain_data import TrainSet, encode_set, Batches
    train_set = TrainSet.from_rows(rows, splits)          # or t2.evaluation.tasks.train_set(...)
    data = encode_set(train_set, tokenizer, mode="sft", max_len=128)
    batches = Batches(data, seed=0, batch_size=16, world_size=1, micro_batch=8)
    input_ids, labels = batches.micro(step=3, rank=0, m=1)   # labels: -100 where no loss

An example is a prompt (exactly as evaluation writes it, few-shot context included) and the
answer continuation trained on. ``ft`` puts the loss on every token of prompt + answer (the
first token, which nothing predicts, aside); ``sft`` on the answer tokens only: prompt targets
are -100 (``IGNORE``), so they contribute neither loss nor gradient. Tokenization boundary and
truncation are those of the evaluation's likelihood scoring (t2.models.answer_tokens): prompt
and prompt + answer are tokenized separately and the answer is what follows their common
prefix; a sequence longer than ``max_len`` loses prompt tokens from the left.

Batches are a pure function of (seed, step, rank, world size): the training stream is epoch
after epoch of the examples, each epoch in its own seeded order
(``numpy.random.default_rng([seed, epoch])``); optimizer step s takes stream positions
[s·B, (s+1)·B), rank r the r-th slice of B/world of them, micro-step m the m-th slice of that.
1 and many ranks therefore see the same examples at every step. Sequences are right-padded to
the longest one of their micro-batch (padding sits after every real token, so under the causal
mask it changes nothing and is never a target).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from t2.models.answer_tokens import split_tokens, truncate_context

IGNORE = -100  # torch.nn.functional.cross_entropy's ignore_index
MODES = ("ft", "sft")


@dataclass(frozen=True)
class Example:
    task: str
    id: str
    prompt: str
    answer: str  # the trained continuation: the gold answer and the task's stop string


@dataclass(frozen=True)
class TrainSet:
    """The examples of one post-training run and, per task, the split-hash record that shows
    them disjoint from what is evaluated (t2.evaluation.tasks.SplitHashes.to_json)."""

    examples: tuple[Example, ...]
    splits: dict

    def rows(self) -> list[dict]:
        return [vars(e) for e in self.examples]

    @classmethod
    def from_rows(cls, rows: list[dict], splits: dict | None = None) -> TrainSet:
        return cls(tuple(Example(**r) for r in rows), splits or {})

    def digest(self) -> str:
        """SHA-256 of the examples in order (what a rerun checks it trains on again)."""
        blob = json.dumps(self.rows(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def num_per_task(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.examples:
            counts[e.task] = counts.get(e.task, 0) + 1
        return counts


def split_ids(tokenizer, prompt: str, answer: str, max_len: int) -> tuple[list[int], int]:
    """(ids of prompt + answer, number of prompt ids), the prompt left-truncated to fit
    ``max_len``: the boundary and truncation of scoring (t2.models.answer_tokens)."""
    context, answer_ids = split_tokens(tokenizer, prompt, answer)
    context = truncate_context(context, answer_ids, max_len)
    return context + answer_ids, len(context)


def targets(ids: list[int], num_prompt: int, mode: str) -> list[int]:
    """Per-position targets: the ids themselves, prompt positions set to IGNORE under sft."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if mode == "ft":
        return list(ids)
    return [IGNORE] * num_prompt + list(ids[num_prompt:])


@dataclass(frozen=True)
class EncodedSet:
    ids: tuple[tuple[int, ...], ...]
    labels: tuple[tuple[int, ...], ...]
    num_prompt: tuple[int, ...]
    pad_id: int
    mode: str

    def __len__(self) -> int:
        return len(self.ids)

    def num_targets(self, i: int) -> int:
        """Positions that carry loss (a target at position t is predicted from t - 1)."""
        return sum(t != IGNORE for t in self.labels[i][1:])


def encode_set(train_set: TrainSet, tokenizer, mode: str, max_len: int) -> EncodedSet:
    ids, labels, prompts = [], [], []
    for e in train_set.examples:
        try:
            row, num_prompt = split_ids(tokenizer, e.prompt, e.answer, max_len)
        except ValueError as err:
            raise ValueError(f"task {e.task} problem {e.id}: {err}") from None
        ids.append(tuple(row))
        labels.append(tuple(targets(row, num_prompt, mode)))
        prompts.append(num_prompt)
    if not ids:
        raise ValueError("the train set is empty")
    pad = tokenizer.pad_token_id
    pad = tokenizer.eos_token_id if pad is None else pad
    return EncodedSet(tuple(ids), tuple(labels), tuple(prompts), int(pad or 0), mode)


class Batches:
    """Deterministic (seed, step, rank, world) -> micro-batches of an EncodedSet."""

    def __init__(self, data: EncodedSet, *, seed: int, batch_size: int, world_size: int,
                 micro_batch: int):
        per_rank, rest = divmod(batch_size, world_size)
        if rest or per_rank % micro_batch:
            raise ValueError(f"batch_size {batch_size} is not world_size {world_size} x a "
                             f"multiple of micro_batch {micro_batch}")
        self.data, self.seed, self.batch_size = data, seed, batch_size
        self.world_size, self.micro_batch = world_size, micro_batch
        self.per_rank, self.grad_accum = per_rank, per_rank // micro_batch
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(
                len(self.data))}  # one epoch at a time is all a run needs
        return self._orders[epoch]

    def indices(self, start: int, num: int) -> list[int]:
        """Examples at stream positions [start, start + num)."""
        n = len(self.data)
        return [int(self._order(p // n)[p % n]) for p in range(start, start + num)]

    def step_indices(self, step: int) -> list[int]:
        return self.indices(step * self.batch_size, self.batch_size)

    def micro_indices(self, step: int, rank: int, m: int) -> list[int]:
        start = step * self.batch_size + rank * self.per_rank + m * self.micro_batch
        return self.indices(start, self.micro_batch)

    def step_targets(self, step: int) -> int:
        """Loss-carrying positions of the whole global batch (every rank computes the same)."""
        return sum(self.data.num_targets(i) for i in self.step_indices(step))

    def micro(self, step: int, rank: int, m: int):
        """(input_ids, labels) as ``[micro_batch, longest]`` int64 tensors."""
        return self.tensors(self.micro_indices(step, rank, m))

    def tensors(self, rows: list[int]):
        import torch

        d = self.data
        width = max(len(d.ids[i]) for i in rows)
        ids = torch.full((len(rows), width), d.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, :len(d.ids[i])] = torch.tensor(d.ids[i])
            labels[r, :len(d.labels[i])] = torch.tensor(d.labels[i])
        return ids, labels

    def epoch_of(self, step: int) -> float:
        """Passes over the examples completed after ``step`` optimizer steps."""
        return step * self.batch_size / len(self.data)


def loss_sum(logits, labels):
    """Summed next-token cross-entropy over the positions whose target is not IGNORE."""
    import torch.nn.functional as F

    return F.cross_entropy(logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(),
                           ignore_index=IGNORE, reduction="sum")


def token_counts(data: EncodedSet, batches: Batches, num_steps: int) -> dict[str, int]:
    """Tokens the run processes: real (prompt + answer), answer, loss-carrying, padded."""
    out = {"tokens": 0, "answer_tokens": 0, "loss_tokens": 0, "padded_tokens": 0}
    for step in range(num_steps):
        for rank in range(batches.world_size):
            for m in range(batches.grad_accum):
                rows = batches.micro_indices(step, rank, m)
                out["padded_tokens"] += len(rows) * max(len(data.ids[i]) for i in rows)
                for i in rows:
                    out["tokens"] += len(data.ids[i])
                    out["answer_tokens"] += len(data.ids[i]) - data.num_prompt[i]
                    out["loss_tokens"] += data.num_targets(i)
    return out

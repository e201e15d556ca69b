"""Multi-step, multi-digit arithmetic: ``23+45-17=51``.

Evaluation: ``get_task("arithmetic", digits=2, steps=2)`` asks held-out expressions with
``steps`` operations on operands below ``10**digits`` (the default, 2 digits and 2 steps, is easy
enough for sub-million-parameter models to score above zero). Pretraining text
(``arithmetic_text``) holds the same lines for training operand tuples, mixing 1-3 digits and 1-3
steps, so every evaluation setting in that range is taught in the exact eval format.
The key of an item is the whole expression, so a held-out expression never appears in the corpus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from t2.evaluation.synth_common import HELDOUT_MODULUS

MAX_DIGITS = 6
MAX_STEPS = 6
# '%+d' writes the operator with the operand: 23+45-17 is the signed tuple (23, 45, -17)
FORMATS = {s: "%d" + "%+d" * s + "=" for s in range(1, MAX_STEPS + 1)}
LINE_FORMATS = {s: f + "%d\n" for s, f in FORMATS.items()}


@dataclass(frozen=True)
class Arithmetic:
    digits: int = 2
    steps: int = 2
    name: str = "arithmetic"

    def __post_init__(self):
        if not 1 <= self.digits <= MAX_DIGITS:
            raise ValueError(f"arithmetic digits must be in 1..{MAX_DIGITS}, got {self.digits}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"arithmetic steps must be in 1..{MAX_STEPS}, got {self.steps}")

    @property
    def max_new_tokens(self) -> int:
        # the answer is at most digits + log10(steps+1) + sign; leave room for the stop "\n"
        return self.digits + 4

    def draw(self, rng: random.Random) -> tuple[tuple, str, str]:
        return expression(rng, self.digits, self.steps)

    def document(self, rng: random.Random) -> str:
        return corpus_document(rng)

    def heldout(self, key: tuple) -> bool:
        return heldout_key(key)


_MASK = (1 << 64) - 1
_GOLDEN, _MIX = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9


def heldout_key(signed: tuple) -> bool:
    """``heldout_rows`` for one expression in plain Python (same hash, ~50x faster per item)."""
    h = (len(signed) - 1) * _GOLDEN & _MASK
    for value in (*signed, *([0] * (MAX_STEPS + 1 - len(signed)))):
        h = ((h ^ (value + (1 << 40))) * _MIX) & _MASK
        h ^= h >> 31
    return h % HELDOUT_MODULUS == 0


def heldout_rows(signed: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Which expressions are held out, from their signed operands (rows padded with zeros).

    A vectorized integer hash stands in for ``synth_common.is_heldout`` here because the corpus
    writer needs it for whole documents at once; eval and corpus both call this function.
    """
    signed = np.pad(signed, ((0, 0), (0, MAX_STEPS + 1 - signed.shape[1])))
    with np.errstate(over="ignore"):
        h = steps.astype(np.uint64) * np.uint64(_GOLDEN)
        for column in (signed + (1 << 40)).astype(np.uint64).T:
            h = (h ^ column) * np.uint64(_MIX)
            h ^= h >> np.uint64(31)
    return h % np.uint64(HELDOUT_MODULUS) == 0


def expression(rng: random.Random, digits: int, steps: int) -> tuple[tuple, str, str]:
    """A random ``a op b op c ...`` with ``steps`` operations, and its value (left to right)."""
    size = 10 ** digits
    signed = [int(rng.random() * size) for _ in range(steps + 1)]
    for i in range(1, steps + 1):
        if rng.random() < 0.5:
            signed[i] = -signed[i]
    question = FORMATS[steps] % tuple(signed)
    return tuple(signed), question, str(sum(signed))


def corpus_document(rng: random.Random, num_lines: int = 512) -> str:
    """Training lines of mixed difficulty (1-3 digits, 1-3 steps), built vectorized for speed."""
    gen = np.random.default_rng(rng.getrandbits(64))
    steps = gen.integers(1, 4, num_lines)
    size = 10 ** gen.integers(1, 4, num_lines)
    signed = (gen.random((num_lines, 4)) * size[:, None]).astype(np.int64)
    signed[:, 1:] *= np.where(gen.random((num_lines, 3)) < 0.5, 1, -1)
    signed[np.arange(4)[None, :] > steps[:, None]] = 0
    keep = ~heldout_rows(signed, steps)
    signed, steps = signed[keep], steps[keep]
    # one %-format over the whole document, its arguments flattened by a mask (operands in use,
    # then the value): per-line Python work is the bottleneck of corpus generation
    table = np.column_stack([signed, signed.sum(1)])
    used = np.arange(5)[None, :] <= np.where(np.arange(5) == 4, 4, steps[:, None])
    fmt = "".join([LINE_FORMATS[k] for k in steps.tolist()])
    return fmt % tuple(table[used].tolist()) + "\n"

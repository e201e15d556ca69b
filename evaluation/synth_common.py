"""Shared machinery of the four synthetic tasks: the held-out split, few-shot prompts, documents.

Each generator (``synth_arithmetic``, ``synth_knowledge``, ``synth_causal``, ``synth_spatial``)
draws *items* ``(key, question, answer)``. ``key`` names the underlying fact or problem (operand
tuple, (entity, attribute) pair, ...). ``is_heldout(key)`` splits the key space once and for all:
evaluation problems use only held-out keys, pretraining text only the others, so no evaluation
question + answer can appear verbatim in the corpus (tests/evaluation/test_synthetic.py checks it by
hashing). A problem prompt is ``num_shots`` training items written exactly as in the corpus, then
the held-out question; its gold answer is the exact continuation (stop at "\\n").

``train_problems`` (post-training, t2.models.posttrain) writes problems in exactly that format
from the other side of the split: ``num_shots`` training items, then a training question, so
a training problem's question + answer is never an evaluation one (any number of them: they
are distinct as texts, the shots vary; t2.evaluation.tasks.split_hashes proves it by hashing).
"""

from __future__ import annotations

import random
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from t2.evaluation.tasks import Problem, grade_completion

HELDOUT_MODULUS = 8  # one key in eight is reserved for evaluation
MAX_DRAWS_PER_PROBLEM = 200
DEFAULT_TRAIN_NUM = 1000  # training problems per task when none is asked for
MAX_REPEATS = 2000  # consecutive already-seen draws before a held-out space counts as exhausted


def is_heldout(key: tuple) -> bool:
    """Deterministic split of the key space (crc32 is stable across processes, unlike hash())."""
    return zlib.crc32(repr(key).encode()) % HELDOUT_MODULUS == 0


class Generator(Protocol):
    name: str
    max_new_tokens: int

    def draw(self, rng: random.Random) -> tuple[tuple, str, str]:
        """One item ``(key, question, answer)`` from the whole key space (either split)."""

    def document(self, rng: random.Random) -> str:
        """One pretraining document; must only use non-held-out keys."""

    # optional: ``heldout(key) -> bool`` replaces ``is_heldout`` for generators that need a
    # vectorized split (arithmetic)


def draw_split(gen: Generator, rng: random.Random, heldout: bool) -> tuple[tuple, str, str]:
    """Rejection-sample an item from the requested side of the split."""
    split = getattr(gen, "heldout", is_heldout)
    for _ in range(MAX_DRAWS_PER_PROBLEM):
        item = gen.draw(rng)
        if split(item[0]) == heldout:
            return item
    raise ValueError(f"{gen.name}: no {'held-out' if heldout else 'training'} item found; "
                     "the problem space is too small for these settings")


def line(question: str, answer: str) -> str:
    """How an item is written, both in prompts and in pretraining text."""
    return f"{question}{answer}\n"


@dataclass
class SyntheticTask:
    """A ``Task`` over a generator: held-out questions after ``num_shots`` training examples."""

    gen: Generator
    num_shots: int = 3
    default_num: int = 500
    stop: tuple[str, ...] = ("\n",)
    name: str = field(init=False)
    max_new_tokens: int = field(init=False)

    def __post_init__(self):
        if self.num_shots < 0:
            raise ValueError(f"num_shots must be >= 0, got {self.num_shots}")
        self.name = self.gen.name
        self.max_new_tokens = self.gen.max_new_tokens

    def problems(self, num: int | None = None, seed: int = 0) -> list[Problem]:
        """``num`` distinct held-out problems (all of them, with a warning, if fewer exist); the
        same (num, seed, settings) give the same list."""
        num = self.default_num if num is None else num
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        rng = random.Random(f"{self.name}|{seed}|{self.gen!r}")
        seen: set[tuple] = set()  # distinct keys: causal questions differ only in who acted
        out: list[Problem] = []
        repeats = 0
        while len(out) < num and repeats < MAX_REPEATS:
            key, question, answer = draw_split(self.gen, rng, heldout=True)
            if key in seen:
                repeats += 1
                continue
            repeats = 0
            seen.add(key)
            out.append(Problem(id=f"{self.name}-{len(out)}", prompt=self._shots(rng) + question,
                               answers=(answer,)))
        if len(out) < num:  # like a real task asked for more problems than it has
            warnings.warn(f"{self.name}: only {len(out)} distinct held-out problems exist for "
                          f"these settings, asked for num={num}; using all {len(out)}",
                          stacklevel=2)
        return out

    def _shots(self, rng: random.Random) -> str:
        return "".join(line(*draw_split(self.gen, rng, heldout=False)[1:])
                       for _ in range(self.num_shots))

    def train_problems(self, num: int | None = None, seed: int = 0, **_) -> list[Problem]:
        """``num`` (default DEFAULT_TRAIN_NUM) distinct training-side problems in the
        evaluation format; the same (num, seed, settings) give the same list. (Keywords such
        as a real task's ``allow_hub`` are accepted and mean nothing here.)"""
        num = DEFAULT_TRAIN_NUM if num is None else num
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        rng = random.Random(f"{self.name}|train|{seed}|{self.gen!r}")
        seen: set[tuple[str, str]] = set()
        out: list[Problem] = []
        repeats = 0
        while len(out) < num and repeats < MAX_REPEATS:
            _, question, answer = draw_split(self.gen, rng, heldout=False)
            prompt = self._shots(rng) + question
            if (prompt, answer) in seen:
                repeats += 1
                continue
            repeats = 0
            seen.add((prompt, answer))
            out.append(Problem(id=f"{self.name}-train-{len(out)}", prompt=prompt,
                               answers=(answer,)))
        if len(out) < num:
            warnings.warn(f"{self.name}: only {len(out)} distinct training problems exist for "
                          f"these settings, asked for num={num}; using all {len(out)}",
                          stacklevel=2)
        return out

    def item_text(self, problem: Problem) -> str:
        """The problem's own question and gold answer, without the few-shot items."""
        lines = self.gen.draw(random.Random(0))[1].count("\n") + 1  # fixed per generator
        return "\n".join(problem.prompt.split("\n")[-lines:]) + problem.answers[0]

    def is_correct(self, problem: Problem, completion: str) -> bool:
        grader = getattr(self.gen, "is_correct", None)
        if grader is not None:
            return grader(problem, completion)
        return grade_completion(problem, completion, self.stop)


def documents(gen: Generator, seed: int, num_chars: int) -> Iterator[str]:
    """Yield pretraining documents from ``gen`` until about ``num_chars`` characters."""
    rng = random.Random(f"{gen.name}|text|{seed}")
    produced = 0
    while produced < num_chars:
        doc = gen.document(rng)
        produced += len(doc)
        yield doc


def train_lines(gen: Generator, rng: random.Random, num: int) -> str:
    """``num`` training items as corpus lines (held-out ones are skipped, not redrawn)."""
    parts = []
    for _ in range(num):
        key, question, answer = gen.draw(rng)
        if not is_heldout(key):
            parts.append(f"{question}{answer}\n")
    return "".join(parts)

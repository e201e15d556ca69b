"""The task protocol: problems (prompt + gold answers [+ choices]) and a grader.

Every task, real or synthetic or user-supplied, is reached through ``get_task(name, **kwargs)``::

    from t2.evaluation.tasks import get_task
    task = get_task("arithmetic", digits=2, steps=2)
    problems = task.problems(num=100, seed=0)
    task.is_correct(problems[0], " 42\\n")

Names: the eight in ``TASKS`` or ``"jsonl:/path/file.jsonl"`` for a user task (see
``t2.evaluation.user``). Graders share the normalizers below: words are compared after
stripping case, surrounding whitespace and punctuation; numbers numerically; multiple-choice
completions match the choice text or its letter ("A", "(b)", "C.").

Training splits (post-training, t2.models.posttrain): a task that has one offers
``train_problems(num, seed, allow_hub=False)`` in the evaluation prompt format (synthetic: the
training side of the held-out split; real: a shipped split disjoint from the evaluated one,
see t2.evaluation.real). ``split_hashes`` hashes both sides; ``train_set`` builds the examples
of a run and refuses any overlap::

    hashes = split_hashes("arithmetic", num_train=1000)
    assert hashes.disjoint
    ts = train_set(["arithmetic", "arc_easy"], num=500)     # a t2.models.posttrain_data.TrainSet
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import string
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

REAL_TASKS = ("lambada", "arc_easy", "sciq", "openbookqa")
SYNTHETIC_TASKS = ("knowledge", "arithmetic", "causal", "spatial")
TASKS: tuple[str, ...] = REAL_TASKS + SYNTHETIC_TASKS
USER_PREFIX = "jsonl:"


@dataclass(frozen=True)
class Problem:
    """One evaluation question.

    ``answers[0]`` is the canonical gold answer scored by likelihood; the others are accepted
    by the grader too. Answers and choices are exact continuations of ``prompt`` (usually with a
    leading space: prompt "...Answer:", answer " darwin"), so ``prompt + answers[0]`` is the
    gold text; graders strip whitespace, so sampled completions need not match it byte for byte.
    For multiple choice, ``choices`` lists every option (each scored by likelihood) and
    ``choices[gold_index] == answers[0]``.
    """

    id: str
    prompt: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] | None = None
    gold_index: int | None = None

    def __post_init__(self):
        assert self.answers, f"problem {self.id}: no gold answer"
        if self.choices is not None:
            assert self.gold_index is not None and 0 <= self.gold_index < len(self.choices)
            assert self.choices[self.gold_index] == self.answers[0]


@runtime_checkable
class Task(Protocol):
    name: str
    stop: tuple[str, ...]
    max_new_tokens: int

    def problems(self, num: int | None = None, seed: int = 0) -> list[Problem]: ...

    def is_correct(self, problem: Problem, completion: str) -> bool: ...


# ----------------------------------------------------------------------------- graders

_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’«»")
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+")


def choose_problems(problems: list[Problem], num: int | None, key: str) -> list[Problem]:
    """All of ``problems``, or a seeded subset of ``num`` in original order (``key`` seeds it)."""
    if num is None or num >= len(problems):
        return list(problems)
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    chosen = sorted(random.Random(key).sample(range(len(problems)), num))
    return [problems[i] for i in chosen]


def first_line(completion: str, stop: tuple[str, ...] = ("\n",)) -> str:
    """The completion up to the first stop string (samplers may or may not cut it)."""
    cut = len(completion)
    for s in stop:
        i = completion.find(s) if s else -1
        if i >= 0:
            cut = min(cut, i)
    return completion[:cut]


def normalize_words(text: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace: ' The Dog.' -> 'the dog'."""
    return " ".join(text.lower().translate(_PUNCT).split())


def parse_number(text: str) -> float | None:
    """The first number in ``text`` ('1,234' -> 1234.0), or None."""
    m = _NUMBER.search(text.strip())
    if m is None:
        return None
    try:
        return float(m.group(0).replace(",", ""))
    except ValueError:
        return None


def is_number(text: str) -> bool:
    return re.fullmatch(r"\s*" + _NUMBER.pattern + r"\s*", text) is not None


def match_answer(completion: str, answers: tuple[str, ...]) -> bool:
    """Numeric answers compare as numbers (the whole answer must be the number); others as words."""
    got = completion.strip()
    for gold in answers:
        if is_number(gold):
            if is_number(got) and math.isclose(parse_number(got), parse_number(gold),
                                                rel_tol=1e-9, abs_tol=1e-9):
                return True
        elif normalize_words(got) == normalize_words(gold) and normalize_words(gold):
            return True
    return False


def choice_letter(index: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index]


def match_choice(completion: str, problem: Problem) -> bool:
    """A multiple-choice completion is right if it is the gold text or the gold letter."""
    assert problem.choices is not None and problem.gold_index is not None
    got = normalize_words(completion)
    if got == normalize_words(problem.choices[problem.gold_index]):
        return True
    letter = re.fullmatch(r"\s*\(?([A-Za-z])[).:]?\s*", completion)
    if letter is None or len(problem.choices) > 26:
        return False
    return letter.group(1).upper() == choice_letter(problem.gold_index)


def grade_completion(problem: Problem, completion: str, stop: tuple[str, ...]) -> bool:
    """The default grader: cut at the stop string, then match choices or answers."""
    text = first_line(completion, stop)
    if problem.choices is not None:
        return match_choice(text, problem)
    return match_answer(text, problem.answers)


# ----------------------------------------------------------------------------- registry


def get_task(name: str, **kwargs) -> Task:
    """Build a task by name; kwargs go to its constructor (e.g. ``digits=2`` for arithmetic)."""
    if name.startswith(USER_PREFIX):
        from t2.evaluation.user import JsonlTask as factory

        args = (name[len(USER_PREFIX):],)
    elif name in REAL_TASKS:
        from t2.evaluation.real import RealTask as factory

        args = (name,)
    elif name in SYNTHETIC_TASKS:
        from t2.evaluation.synthetic import synthetic_task as factory

        args = (name,)
    else:
        raise ValueError(
            f"unknown task {name!r}: choose one of {', '.join(TASKS)} or 'jsonl:/path/file.jsonl'"
        )
    try:
        return factory(*args, **kwargs)
    except TypeError as err:
        raise ValueError(f"task {name}: bad settings {sorted(kwargs)} ({err})") from None


# ----------------------------------------------------------------------------- training splits


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _digest(hashes: frozenset[str]) -> str:
    return content_hash("\n".join(sorted(hashes)))


@dataclass(frozen=True)
class SplitHashes:
    """SHA-256 of prompt + gold answer (``train``, ``eval``) and of the question + answer
    alone, without the few-shot context (``train_items``, ``eval_items``), per side."""

    task: str
    train: frozenset[str]
    eval: frozenset[str]
    train_items: frozenset[str] = field(default_factory=frozenset)
    eval_items: frozenset[str] = field(default_factory=frozenset)

    @property
    def overlap(self) -> int:
        return len(self.train & self.eval) + len(self.train_items & self.eval_items)

    @property
    def disjoint(self) -> bool:
        return self.overlap == 0

    def to_json(self) -> dict:
        """Counts, a digest per side and the overlap, then the full sorted lists."""
        return {"train": {"num": len(self.train), "sha256": _digest(self.train)},
                "eval": {"num": len(self.eval), "sha256": _digest(self.eval)},
                "overlap": self.overlap,
                "hashes": {k: sorted(getattr(self, k))
                           for k in ("train", "eval", "train_items", "eval_items")}}


def train_problems(name: str, num: int | None = None, seed: int = 0, *,
                   task_kwargs: dict | None = None, allow_hub: bool = False) -> list[Problem]:
    """The training problems of task ``name``; ValueError (one line) when it has none."""
    task = get_task(name, **(task_kwargs or {}))
    if not hasattr(task, "train_problems"):
        raise ValueError(f"task {name}: has no training split")
    return task.train_problems(num, seed, allow_hub=allow_hub)


def split_hashes(name: str, *, num_train: int | None = None, train_seed: int = 0,
                 num_eval: int | None = None, eval_seed: int = 0,
                 task_kwargs: dict | None = None, allow_hub: bool = False,
                 train: list[Problem] | None = None) -> SplitHashes:
    """Hashes of ``name``'s training problems (``train``, or drawn here) and of the problems
    evaluation asks (``num_eval``, ``eval_seed``: as the evaluation is configured)."""
    task = get_task(name, **(task_kwargs or {}))
    if train is None:
        train = train_problems(name, num_train, train_seed, task_kwargs=task_kwargs,
                               allow_hub=allow_hub)
    evaluated = task.problems(num=num_eval, seed=eval_seed)
    item = getattr(task, "item_text", None)

    def hashes(problems, fn):
        return frozenset(content_hash(fn(p)) for p in problems)

    return SplitHashes(
        task=name, train=hashes(train, lambda p: p.prompt + p.answers[0]),
        eval=hashes(evaluated, lambda p: p.prompt + p.answers[0]),
        train_items=hashes(train, item) if item else frozenset(),
        eval_items=hashes(evaluated, item) if item else frozenset())


def train_set(tasks: list[str], *, num: int | None = None, seed: int = 0,
              task_kwargs: dict | None = None, allow_hub: bool = False,
              eval_num: int | None = None, eval_seed: int = 0):
    """The examples of a post-training run over ``tasks`` (``num`` training problems each)
    with each task's split hashes; the trained continuation is the gold answer followed by the
    task's stop string, as every few-shot item of the prompt writes it."""
    from t2.models.posttrain_data import Example, TrainSet

    kwargs = task_kwargs or {}
    examples, splits = [], {}
    for name in tasks:
        task = get_task(name, **kwargs.get(name, {}))
        problems = train_problems(name, num, seed, task_kwargs=kwargs.get(name),
                                  allow_hub=allow_hub)
        hashes = split_hashes(name, num_eval=eval_num, eval_seed=eval_seed,
                              task_kwargs=kwargs.get(name), train=problems)
        if not hashes.disjoint:
            raise ValueError(f"task {name}: {hashes.overlap} training problems are evaluation "
                             "problems")
        stop = task.stop[0] if task.stop else ""
        examples += [Example(task=name, id=p.id, prompt=p.prompt, answer=p.answers[0] + stop)
                     for p in problems]
        splits[name] = hashes.to_json()
    return TrainSet(tuple(examples), splits)

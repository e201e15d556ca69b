"""User tasks from a JSONL file, no code needed: ``get_task("jsonl:/path/questions.jsonl")``.

One JSON object per line::

    {"prompt": "Q: Capital of France?\\nA:", "answer": "Paris"}
    {"prompt": "Q: 2+2?\\nA:", "answer": ["4", "four"]}
    {"prompt": "Q: Largest planet?\\nA:", "answer": "Jupiter", "choices": ["Mars", "Jupiter"]}
    {"id": "q7", "prompt": "...", "answer": "..."}          # optional stable id

``answer`` is a string or a list of accepted strings (the first is scored by likelihood); with
``choices`` the answer must be one of them. Answers are continuations of the prompt: when the
prompt does not end in whitespace and an answer does not start with it, ``sep`` (default one
space) is put in front, so "A:" + "Paris" is scored as "A: Paris". Graders are the shared ones
(numbers compare numerically, words ignore case and punctuation, choices accept their letter).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from t2.evaluation.tasks import Problem, choose_problems, grade_completion


def _field_error(path: Path, lineno: int, message: str) -> ValueError:
    return ValueError(f"{path}:{lineno}: {message}")


def _continuation(prompt: str, text: str, sep: str) -> str:
    if prompt[-1:].isspace() or text[:1].isspace():
        return text
    return sep + text


def _strings(value, path: Path, lineno: int, name: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise _field_error(path, lineno, f"'{name}' must be a non-empty string or list of strings")
    return items


def parse_row(row: dict, path: Path, lineno: int, sep: str) -> Problem:
    unknown = set(row) - {"id", "prompt", "answer", "choices"}
    if unknown:
        raise _field_error(path, lineno, f"unknown field(s) {sorted(unknown)}")
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _field_error(path, lineno, "'prompt' must be a non-empty string")
    if "answer" not in row:
        raise _field_error(path, lineno, "'answer' is missing")
    answers = [_continuation(prompt, a, sep)
               for a in _strings(row["answer"], path, lineno, "answer")]
    choices, gold_index = None, None
    if row.get("choices") is not None:
        choices = [_continuation(prompt, c, sep)
                   for c in _strings(row["choices"], path, lineno, "choices")]
        if answers[0] not in choices:
            raise _field_error(path, lineno, "'answer' must be one of 'choices'")
        gold_index = choices.index(answers[0])
    return Problem(id=str(row.get("id", f"{path.stem}-{lineno}")), prompt=prompt,
                   answers=tuple(answers), choices=tuple(choices) if choices else None,
                   gold_index=gold_index)


def read_problems(path: str | os.PathLike, sep: str = " ") -> list[Problem]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"user task file not found: {path}")
    problems = []
    for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            raise _field_error(path, lineno, f"not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise _field_error(path, lineno, "each line must be a JSON object")
        problems.append(parse_row(row, path, lineno, sep))
    if not problems:
        raise ValueError(f"{path}: no problems")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate problem ids")
    return problems


class JsonlTask:
    """A ``Task`` over a user JSONL file; the task name is ``jsonl:<file stem>``."""

    def __init__(self, path: str | os.PathLike, stop: tuple[str, ...] | str = ("\n",),
                 max_new_tokens: int = 32, sep: str = " "):
        self.path = Path(path)
        self.name = f"jsonl:{self.path.stem}"
        self.stop = (stop,) if isinstance(stop, str) else tuple(stop)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.max_new_tokens = max_new_tokens
        self._all = read_problems(self.path, sep)

    def problems(self, num: int | None = None, seed: int = 0) -> list[Problem]:
        return choose_problems(self._all, num, f"{self.name}|{seed}")

    def is_correct(self, problem: Problem, completion: str) -> bool:
        return grade_completion(problem, completion, self.stop)

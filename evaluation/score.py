"""Grading: a task's completions for one problem -> (n, c, per-sample correctness).

    from t2.evaluation.score import grade
    n, c, correct = grade(task, problem, ["42", " 41", "42\\n"])   # (3, 2, [True, False, True])

Graders live with the tasks (``Task.is_correct``); all of them normalize the same way (see
``t2.evaluation.tasks``: numbers compare numerically, words ignore case, surrounding whitespace
and punctuation, multiple choice accepts the choice text or its letter). Per-problem (n, c) is
what pass@k needs; it is always stored per problem, never only as an aggregate.
"""

from __future__ import annotations

from t2.evaluation.tasks import Problem, Task


def grade(task: Task, problem: Problem, completions: list[str]) -> tuple[int, int, list[bool]]:
    if isinstance(completions, str):
        raise TypeError("grade expects a list of completions, got one string")
    correct = [bool(task.is_correct(problem, text)) for text in completions]
    return len(correct), sum(correct), correct

"""The task protocol: registry, Problem invariants and the shared graders (via score.grade)."""

import pytest
from t2.evaluation import TASKS as EXPORTED
from t2.evaluation import get_task as exported_get_task
from t2.evaluation.score import grade
from t2.evaluation.tasks import (
    TASKS,
    Problem,
    Task,
    first_line,
    get_task,
    match_answer,
    match_choice,
    normalize_words,
    parse_number,
)


def test_the_eight_tasks_are_registered_and_satisfy_the_protocol():
    assert TASKS == EXPORTED == ("lambada", "arc_easy", "sciq", "openbookqa",
                                 "knowledge", "arithmetic", "causal", "spatial")
    assert exported_get_task is get_task
    for name in TASKS:
        task = get_task(name)
        assert isinstance(task, Task) and task.name == name
        assert task.stop == ("\n",) and 1 <= task.max_new_tokens <= 256


def test_unknown_task_names_are_rejected_with_the_choices():
    with pytest.raises(ValueError, match="unknown task 'gsm8k': choose one of lambada"):
        get_task("gsm8k")


def test_every_task_problem_has_its_gold_answer_graded_correct():
    for name in TASKS:
        task = get_task(name)
        for problem in task.problems(num=5, seed=0):
            assert grade(task, problem, [problem.answers[0]]) == (1, 1, [True])


def test_problem_invariants_are_checked():
    with pytest.raises(AssertionError):
        Problem(id="x", prompt="p", answers=())
    with pytest.raises(AssertionError):
        Problem(id="x", prompt="p", answers=(" a",), choices=(" a", " b"), gold_index=1)


def test_grade_counts_correct_samples_per_problem():
    task = get_task("arithmetic")
    problem = Problem(id="a", prompt="1+2=", answers=("3",))
    assert grade(task, problem, ["3", " 3\n4", "4", "3.0", "", "33"]) == (
        6, 3, [True, True, False, True, False, False])
    with pytest.raises(TypeError, match="list of completions"):
        grade(task, problem, "3")


def test_word_and_number_normalization():
    assert normalize_words("  The Dog!  ") == "the dog"
    assert parse_number(" -1,234.5 apples") == -1234.5 and parse_number("none") is None
    assert match_answer(" 1,000", ("1000",)) and match_answer("7.0 ", ("7",))
    assert not match_answer("7 apples", ("7",))  # a number answer must be the whole completion
    assert match_answer("Paris.", (" paris",)) and not match_answer("", ("",))
    assert first_line("ab\ncd", ("\n",)) == "ab" and first_line("a###b", ("\n", "###")) == "a"


def test_multiple_choice_accepts_text_or_letter():
    p = Problem(id="m", prompt="Q", answers=(" Jupiter",), choices=(" Mars", " Jupiter"),
                gold_index=1)
    for good in [" Jupiter", "jupiter.", "B", " (b)", "B.", "b)"]:
        assert match_choice(good, p), good
    for bad in [" Mars", "A", "BB", "Jupiter B", ""]:
        assert not match_choice(bad, p), bad


def test_unknown_task_settings_are_rejected_naming_the_task():
    with pytest.raises(ValueError, match=r"task sciq: bad settings \['digits'\]"):
        get_task("sciq", digits=2)

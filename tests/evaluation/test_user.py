"""User tasks from JSONL: parsed without code, graded with the shared graders, clear errors."""

import json

import pytest
from t2.evaluation.tasks import get_task

ROWS = [
    {"prompt": "Q: Capital of France?\nA:", "answer": "Paris"},
    {"prompt": "Q: 2+2?\nA: ", "answer": ["4", "four"]},
    {"id": "planet", "prompt": "Q: Largest planet?\nA:", "answer": "Jupiter",
     "choices": ["Mars", "Jupiter", "Venus"]},
]


def write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def task(tmp_path):
    return get_task(f"jsonl:{write(tmp_path / 'mine.jsonl', ROWS)}")


def test_a_jsonl_file_becomes_a_task(task):
    assert task.name == "jsonl:mine" and task.stop == ("\n",)
    problems = task.problems()
    assert [p.id for p in problems] == ["mine-1", "mine-2", "planet"]
    assert problems[0].answers == (" Paris",)  # the separator goes before the answer
    assert problems[1].answers == ("4", "four")  # the prompt already ends in a space
    assert problems[2].choices == (" Mars", " Jupiter", " Venus") and problems[2].gold_index == 1
    assert task.problems(num=2, seed=0) == task.problems(num=2, seed=0)
    assert len(task.problems(num=2, seed=0)) == 2


def test_user_graders_normalize_answers(task):
    capital, arithmetic, planet = task.problems()
    assert task.is_correct(capital, " paris.\nQ: next")
    assert not task.is_correct(capital, " Lyon")
    assert task.is_correct(arithmetic, "four") and task.is_correct(arithmetic, " 4.0")
    assert not task.is_correct(arithmetic, "5")
    assert task.is_correct(planet, " B") and task.is_correct(planet, "jupiter")
    assert not task.is_correct(planet, " A")


def test_task_settings_are_keyword_arguments(tmp_path):
    task = get_task(f"jsonl:{write(tmp_path / 't.jsonl', ROWS)}", stop="###", max_new_tokens=5)
    assert task.stop == ("###",) and task.max_new_tokens == 5


@pytest.mark.parametrize("row, words", [
    ("{not json", "t.jsonl:2: not valid JSON"),
    ({"prompt": "x"}, "t.jsonl:2: 'answer' is missing"),
    ({"prompt": "", "answer": "a"}, "t.jsonl:2: 'prompt' must be"),
    ({"prompt": "x", "answer": 3}, "t.jsonl:2: 'answer' must be"),
    ({"prompt": "x", "answer": "a", "choices": ["b"]}, "t.jsonl:2: 'answer' must be one of"),
    ({"prompt": "x", "answer": "a", "extra": 1}, r"t.jsonl:2: unknown field\(s\) \['extra'\]"),
    ([1, 2], "t.jsonl:2: each line must be a JSON object"),
])
def test_bad_rows_name_the_file_line_and_field(tmp_path, row, words):
    path = write(tmp_path / "t.jsonl", [ROWS[0], row])
    with pytest.raises(ValueError, match=words):
        get_task(f"jsonl:{path}")


def test_missing_or_empty_files_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="user task file not found"):
        get_task(f"jsonl:{tmp_path / 'nope.jsonl'}")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no problems"):
        get_task(f"jsonl:{tmp_path / 'empty.jsonl'}")
